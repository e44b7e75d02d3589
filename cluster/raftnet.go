package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/sampan-io/sampan/client"
)

// Sampan's Raft transport between NodeHosts: plain TCP, one frame per message batch or snapshot chunk.
//
// A frame: magic byte, kind (batch or chunk), payload length and CRC-32C (big endian uint32s), payload.
//
// Why not Dragonboat's own TCP transport: it sends over a connection until a write fails, and a failed
// connection trips a circuit breaker that drops every message to that address for 250-750 ms (growing
// to 1 s). A node that restarted left its peers holding dead connections to its old process; a peer
// that had nothing to send it meanwhile (a follower) finds out only when it next sends, typically its
// vote in the election after another node dies, and then cannot reach the restarted node for up to a
// second: the election, and so the failover, took 1.1-1.9 s instead of ~0.3 s (`sampan bench
// failover`, 2026-11-22, Dragonboat's "breaker ... failed" logs). Here a connection watches its own
// socket (the receiver never writes, so a readable socket means the peer closed it) and a send on a
// connection found dead dials again once before failing, so a restarted peer is reached at once.
// Nothing else is different: messages are Dragonboat's own protobufs, order per connection is kept,
// and Dragonboat still handles unreachable peers and snapshot failures itself.

const (
	frameBatch byte = 1
	frameChunk byte = 2
	// maxFrame bounds what a receiver accepts: Dragonboat's batches stay under 64 MiB and its snapshot
	// chunks are 2 MiB.
	maxFrame      = 128 << 20
	raftDialLimit = 2 * time.Second
	raftMagic     = 0x5a
	frameHeader   = 10 // magic, kind, payload length (uint32), payload CRC-32C (uint32)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TCPTransport returns Sampan's Raft transport factory.
func TCPTransport() config.TransportFactory { return tcpFactory{} }

// TCPTransportTLS returns Sampan's Raft transport over mutual TLS: it accepts only peers whose
// certificate passes t.Server (which should require and verify client certificates) and dials with
// t.Client.
func TCPTransportTLS(t *NodeTLS) config.TransportFactory { return tcpFactory{tls: t} }

// NodeTLS is the TLS between nodes: Server for what a node accepts, Client for what it dials.
type NodeTLS struct {
	Server, Client *tls.Config
}

type tcpFactory struct{ tls *NodeTLS }

func (f tcpFactory) Create(nhc config.NodeHostConfig, msgs raftio.MessageHandler, chunks raftio.ChunkHandler) raftio.ITransport {
	d := &net.Dialer{Timeout: raftDialLimit, KeepAlive: 10 * time.Second}
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	if f.tls != nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return client.TLSHandshake(ctx, conn, f.tls.Client, addr)
		}
	}
	return &tcpTransport{addr: nhc.GetListenAddress(), msgs: msgs, chunks: chunks, dial: dial, conns: map[net.Conn]struct{}{}, tls: f.tls}
}

func (tcpFactory) Validate(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	return err == nil && host != "" && port != ""
}

type tcpTransport struct {
	addr   string
	msgs   raftio.MessageHandler
	chunks raftio.ChunkHandler
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	tls    *NodeTLS // nil: plain TCP

	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // accepted, open
}

func (t *tcpTransport) Name() string { return "sampan-tcp" }

func (t *tcpTransport) Start() error {
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return fmt.Errorf("sampan: raft listener: %w", err)
	}
	if t.tls != nil {
		ln = tls.NewListener(ln, t.tls.Server) // a peer without a certificate of the cluster CA fails its handshake
	}
	t.ln = ln
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return // closed
			}
			t.mu.Lock()
			if t.closed {
				t.mu.Unlock()
				c.Close()
				return
			}
			t.conns[c] = struct{}{}
			t.wg.Add(1)
			t.mu.Unlock()
			go func() {
				defer t.wg.Done()
				t.serve(c)
				t.mu.Lock()
				delete(t.conns, c)
				t.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return nil
}

func (t *tcpTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	if t.ln != nil {
		t.ln.Close()
	}
	t.wg.Wait()
	return nil
}

// serve reads frames from one peer until the connection ends or carries something invalid (then it is
// dropped: the sender dials again).
func (t *tcpTransport) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [frameHeader]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[2:])
		if hdr[0] != raftMagic || n > maxFrame {
			return
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(hdr[6:]) {
			return
		}
		if !t.deliver(hdr[1], b) {
			return
		}
		if cap(buf) > 4<<20 {
			buf = nil // a snapshot chunk or huge batch: do not keep its buffer for the connection's life
		}
	}
}

// deliver decodes one frame's payload and hands it to Dragonboat; false ends the connection. Dragonboat's
// hand-written decoders panic on some malformed input (found by FuzzRaftFrames): a bad frame must cost
// the connection, not the node.
func (t *tcpTransport) deliver(kind byte, b []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	switch kind {
	case frameBatch:
		var mb pb.MessageBatch
		if err := mb.Unmarshal(b); err != nil {
			return false
		}
		t.msgs(mb)
		return true
	case frameChunk:
		var ch pb.Chunk
		if err := ch.Unmarshal(b); err != nil {
			return false
		}
		return t.chunks(ch)
	}
	return false
}

func (t *tcpTransport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c := &peerConn{t: t, target: target}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (t *tcpTransport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	c := &peerConn{t: t, target: target, snapshot: true}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// peerConn is one sending connection to a peer. Dragonboat uses it from one goroutine at a time.
type peerConn struct {
	t        *tcpTransport
	target   string
	snapshot bool // snapshot chunks: a broken stream is not redialled (Dragonboat restarts the snapshot)

	conn net.Conn
	w    *bufio.Writer
	dead chan struct{} // closed once the peer closed the connection (or it broke)
	buf  []byte
}

func (c *peerConn) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, raftDialLimit)
	defer cancel()
	conn, err := c.t.dial(ctx, c.target)
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	dead := make(chan struct{})
	go func() {
		// The receiver never writes: a read returns only when the peer closed the connection (its
		// process died or restarted) or the connection broke.
		var b [1]byte
		_, _ = conn.Read(b[:])
		close(dead)
	}()
	c.conn, c.w, c.dead = conn, bufio.NewWriterSize(conn, 64<<10), dead
	return nil
}

func (c *peerConn) alive() bool {
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

func (c *peerConn) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *peerConn) SendMessageBatch(mb pb.MessageBatch) error {
	size := mb.Size()
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	b := c.buf[:size]
	if _, err := mb.MarshalTo(b); err != nil {
		return err
	}
	return c.send(frameBatch, b)
}

func (c *peerConn) SendChunk(ch pb.Chunk) error {
	b, err := ch.Marshal()
	if err != nil {
		return err
	}
	return c.send(frameChunk, b)
}

// send writes one frame. On a connection the peer has closed, a message batch goes over a fresh
// connection instead (once): the peer restarted, and failing would trip Dragonboat's circuit breaker.
func (c *peerConn) send(kind byte, b []byte) error {
	if !c.alive() && !c.snapshot {
		if err := c.redial(); err != nil {
			return err
		}
	}
	err := c.write(kind, b)
	if err != nil && !c.snapshot {
		// The peer went away between our last look and this write (a half-written frame dies with
		// the old connection): one more try over a fresh one.
		if err := c.redial(); err != nil {
			return err
		}
		err = c.write(kind, b)
	}
	return err
}

func (c *peerConn) redial() error {
	c.conn.Close()
	return c.connect(context.Background())
}

func (c *peerConn) write(kind byte, b []byte) error {
	var hdr [frameHeader]byte
	hdr[0], hdr[1] = raftMagic, kind
	binary.BigEndian.PutUint32(hdr[2:], uint32(len(b)))
	binary.BigEndian.PutUint32(hdr[6:], crc32.Checksum(b, castagnoli))
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}
