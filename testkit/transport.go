package testkit

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/lni/dragonboat/v4/config"
	chantransport "github.com/lni/dragonboat/v4/plugin/chan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// The Raft traffic of a simulated cluster goes through Dragonboat's in-process channel transport
// (plugin/chan: every batch is marshalled and unmarshalled as on the wire, delivered by the real
// receive path), wrapped so that the Network decides per batch whether it arrives, when, or not at all.
// Dragonboat's TCP transport lives in an internal package and cannot be wrapped from outside; see
// docs/decisions/0009-testkit.md.

// raftFactory is one node's config.TransportFactory.
type raftFactory struct {
	net  *Network
	self NodeID
}

var _ config.TransportFactory = (*raftFactory)(nil)

func (f *raftFactory) Create(nhc config.NodeHostConfig, h raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	// Receive side: a batch that was in a channel's buffer when its link was blocked is lost too.
	recv := func(b pb.MessageBatch) {
		if from := f.net.nodeByRaft(b.SourceAddress); from != 0 && f.net.blocked(from, f.self) {
			return
		}
		h(b)
	}
	return &raftTransport{inner: chantransport.NewChanTransport(nhc, recv, ch), net: f.net, self: f.self}
}

// Validate accepts any host:port; the channel transport's own Validate panics by design.
func (f *raftFactory) Validate(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

type raftTransport struct {
	inner raftio.ITransport
	net   *Network
	self  NodeID
}

func (t *raftTransport) Name() string { return "testkit-" + t.inner.Name() }
func (t *raftTransport) Start() error { return t.inner.Start() }
func (t *raftTransport) Close() error { return t.inner.Close() }

func (t *raftTransport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	to := t.net.nodeByRaft(target)
	if to != 0 && t.net.blocked(t.self, to) {
		return nil, fmt.Errorf("raft connect to node %d: %w", to, ErrLinkBlocked)
	}
	c, err := t.inner.GetConnection(ctx, target)
	if err != nil {
		return nil, err
	}
	return &raftConn{inner: c, net: t.net, from: t.self, to: to}, nil
}

func (t *raftTransport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	to := t.net.nodeByRaft(target)
	if to != 0 && t.net.blocked(t.self, to) {
		return nil, fmt.Errorf("raft snapshot connect to node %d: %w", to, ErrLinkBlocked)
	}
	c, err := t.inner.GetSnapshotConnection(ctx, target)
	if err != nil {
		return nil, err
	}
	return &snapConn{inner: c, net: t.net, from: t.self, to: to}, nil
}

// raftConn loses a blocked or dropped batch silently, as a black-holed network does: Raft's own
// retries (heartbeats, re-sent appends) have to cope.
type raftConn struct {
	inner    raftio.IConnection
	net      *Network
	from, to NodeID
}

func (c *raftConn) Close() { c.inner.Close() }

func (c *raftConn) SendMessageBatch(b pb.MessageBatch) error {
	if c.to == 0 {
		return c.inner.SendMessageBatch(b)
	}
	lost, delay := c.net.decide(c.from, c.to)
	if delay > 0 {
		time.Sleep(delay) // the per-target send queue waits: a slow link, in order
	}
	if lost {
		return nil
	}
	return c.inner.SendMessageBatch(b)
}

// snapConn fails a snapshot stream over a blocked link (Dragonboat reports the snapshot failed and
// retries later); drops and delays apply only to message batches.
type snapConn struct {
	inner    raftio.ISnapshotConnection
	net      *Network
	from, to NodeID
}

func (c *snapConn) Close() { c.inner.Close() }

func (c *snapConn) SendChunk(ch pb.Chunk) error {
	if c.to != 0 && c.net.blocked(c.from, c.to) {
		return fmt.Errorf("raft snapshot to node %d: %w", c.to, ErrLinkBlocked)
	}
	return c.inner.SendChunk(ch)
}
