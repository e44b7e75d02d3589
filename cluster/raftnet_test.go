package cluster

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRaftTransportReachesRestartedPeer: a connection whose peer restarted (a new process on the same
// address) carries the next batch over a fresh connection instead of failing: with Dragonboat's own
// transport that send failed and its circuit breaker then dropped every message to the peer for up to
// a second, which stalled elections after a node restart.
func TestRaftTransportReachesRestartedPeer(t *testing.T) {
	addr := freeAddr(t)
	got := make(chan pb.MessageBatch, 10)
	start := func() interface{ Close() error } {
		tr := TCPTransport().Create(config.NodeHostConfig{RaftAddress: addr},
			func(mb pb.MessageBatch) { got <- mb }, func(pb.Chunk) bool { return true })
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	peer := start()
	sender := TCPTransport().Create(config.NodeHostConfig{RaftAddress: freeAddr(t)}, func(pb.MessageBatch) {}, func(pb.Chunk) bool { return true })
	conn, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recv := func(term uint64) {
		t.Helper()
		select {
		case mb := <-got:
			if len(mb.Requests) != 1 || mb.Requests[0].Term != term || string(mb.Requests[0].Entries[0].Cmd) != "cmd" {
				t.Fatalf("received %+v, want one message of term %d", mb, term)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch of term %d not received", term)
		}
	}
	batch := func(term uint64) pb.MessageBatch {
		return pb.MessageBatch{Requests: []pb.Message{{Type: pb.Replicate, ShardID: 7, To: 2, From: 1, Term: term,
			Entries: []pb.Entry{{Index: term, Term: term, Cmd: []byte("cmd")}}}}}
	}
	if err := conn.SendMessageBatch(batch(1)); err != nil {
		t.Fatal(err)
	}
	recv(1)
	peer.Close()   // the peer's process dies...
	peer = start() // ...and a new one listens on the same address
	defer peer.Close()
	pc := conn.(*peerConn)
	select {
	case <-pc.dead: // the sender sees the old connection closed
	case <-time.After(10 * time.Second):
		t.Fatal("closed connection not noticed")
	}
	if err := conn.SendMessageBatch(batch(2)); err != nil {
		t.Fatalf("send to the restarted peer: %v", err)
	}
	recv(2)
	if err := conn.SendMessageBatch(batch(3)); err != nil {
		t.Fatal(err)
	}
	recv(3)
}

// TestRaftTransportRejectsGarbage: a connection sending bytes that are not frames is dropped and the
// transport keeps serving others.
func TestRaftTransportRejectsGarbage(t *testing.T) {
	addr := freeAddr(t)
	got := make(chan pb.MessageBatch, 1)
	tr := TCPTransport().Create(config.NodeHostConfig{RaftAddress: addr}, func(mb pb.MessageBatch) { got <- mb }, func(pb.Chunk) bool { return true })
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("garbage connection not closed")
	}
	sender := TCPTransport().Create(config.NodeHostConfig{RaftAddress: freeAddr(t)}, func(pb.MessageBatch) {}, func(pb.Chunk) bool { return true })
	conn, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SendMessageBatch(pb.MessageBatch{Requests: []pb.Message{{Type: pb.Heartbeat, ShardID: 1, To: 2, From: 1}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("valid batch after garbage not received")
	}
}

// FuzzRaftFrames feeds arbitrary bytes to the transport's receiving side: it must never panic, and a
// frame it accepts must reach the handler as the batch that was encoded.
func FuzzRaftFrames(f *testing.F) {
	mb := pb.MessageBatch{Requests: []pb.Message{{Type: pb.Replicate, ShardID: 7, To: 2, From: 1, Term: 3,
		Entries: []pb.Entry{{Index: 4, Term: 3, Cmd: []byte("cmd")}}}}}
	b, err := mb.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	frame := func(kind byte, payload []byte) []byte {
		h := []byte{raftMagic, kind}
		h = binary.BigEndian.AppendUint32(h, uint32(len(payload)))
		h = binary.BigEndian.AppendUint32(h, crc32.Checksum(payload, castagnoli))
		return append(h, payload...)
	}
	f.Add(frame(frameBatch, b))
	f.Add(frame(frameChunk, []byte{1, 2, 3}))
	f.Add(frame(9, nil))
	f.Add([]byte{raftMagic, frameBatch, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	// Found by fuzzing: a batch that makes Dragonboat's decoder panic (index out of range).
	f.Add(frame(frameBatch, []byte("\n<00000000000000000000Z\n\x000\x010\a\x03000\x7fb\x182\x002\x002\x002\x002\x020\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1\xf1")))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &tcpTransport{msgs: func(pb.MessageBatch) {}, chunks: func(pb.Chunk) bool { return true }}
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() { tr.serve(server); server.Close(); close(done) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write(data)
		client.Close()
		<-done
	})
}
