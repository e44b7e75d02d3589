package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/testutil"
	"github.com/sampan-io/sampan/internal/wsframe"
	"github.com/sampan-io/sampan/protocol"
)

// transport is one of the client listeners; the session tests run over each (the same sessions,
// limits and errors, whatever carries the frames).
type transport struct {
	name string
	addr func(b *broker.Broker) string // what client.Connect and dialRaw take
}

var transports = []transport{
	{"tcp", func(b *broker.Broker) string { return b.Addr() }},
	{"ws", func(b *broker.Broker) string { return "ws://" + b.WSAddr() }},
}

// overTransports runs test once per transport.
func overTransports(t *testing.T, test func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { test(t, tr) })
	}
}

// rawConn speaks the protocol by hand, to send what a correct client never would.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	ws   *websocket.Conn // over WebSocket; conn is then its frame stream
	r    *protocol.Reader
}

// dialRaw connects to host:port over TCP, or to a ws:// URL.
func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	rc := &rawConn{t: t}
	if url, ok := strings.CutPrefix(addr, "ws://"); ok {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+url, nil)
		if err != nil {
			t.Fatal(err)
		}
		rc.ws, rc.conn = ws, wsframe.New(ws, protocol.DefaultMaxFrame)
	} else {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rc.conn = c
	}
	t.Cleanup(func() { rc.conn.Close() })
	_ = rc.conn.SetDeadline(time.Now().Add(20 * time.Second))
	rc.r = protocol.NewReader(rc.conn, protocol.DefaultMaxFrame)
	return rc
}

func (r *rawConn) send(f protocol.Frame) {
	r.t.Helper()
	if err := protocol.WriteFrame(r.conn, f); err != nil {
		r.t.Fatal(err)
	}
}

// sendRaw writes bytes as they are; over WebSocket each complete frame is a message, and bytes left
// after the last complete one are one more.
func (r *rawConn) sendRaw(b []byte) {
	r.t.Helper()
	if r.ws == nil {
		if _, err := r.conn.Write(b); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	for len(b) > 0 {
		end := len(b)
		if len(b) >= 4 {
			end = min(len(b), 4+int(binary.BigEndian.Uint32(b)))
		}
		r.sendMessage(websocket.BinaryMessage, b[:end])
		b = b[end:]
	}
}

// sendMessage sends one WebSocket message as it is.
func (r *rawConn) sendMessage(typ int, b []byte) {
	r.t.Helper()
	if err := r.ws.WriteMessage(typ, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) next() protocol.Frame {
	r.t.Helper()
	f, err := r.r.Next()
	if err != nil {
		r.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (r *rawConn) expectErr(code protocol.ErrCode) *protocol.Err {
	r.t.Helper()
	f := r.next()
	e, ok := f.(*protocol.Err)
	if !ok || e.Code != code {
		r.t.Fatalf("want ERR %s, got %#v", code, f)
	}
	return e
}

func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, err := r.r.Next()
	if err == nil {
		r.t.Fatal("connection still open")
	}
}

func (r *rawConn) connect() {
	r.t.Helper()
	r.send(&protocol.Connect{Version: protocol.Version})
	if _, ok := r.next().(*protocol.ConnAck); !ok {
		r.t.Fatal("no CONNACK")
	}
}

func frame(typ byte, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(b, uint32(1+len(body)))
	b[4] = typ
	return append(b, body...)
}

func start(t *testing.T, mod ...func(*broker.Config)) *broker.Broker {
	cfg := testutil.Config(t, t.TempDir())
	cfg.WS = "127.0.0.1:0"
	for _, m := range mod {
		m(&cfg)
	}
	return testutil.StartBroker(t, cfg)
}

// TestBadInput sends every kind of bad input while another client keeps publishing, and checks each gets
// the documented ERR, fatal ones close only their own connection, and the good client loses nothing.
func TestBadInput(t *testing.T) { overTransports(t, testBadInput) }

func testBadInput(t *testing.T, tr transport) {
	b := start(t, func(c *broker.Config) { c.Limits.MaxPayload = 1024 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	good, err := client.Connect(ctx, tr.addr(b))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var acked []uint64
	var pubErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			seq, err := good.Publish(ctx, "good.channel", []byte(fmt.Sprint(i)))
			if err != nil {
				pubErr = err
				return
			}
			acked = append(acked, seq)
		}
	}()

	t.Run("publish before connect", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.send(&protocol.Pub{Req: 1, Channel: "a", Payload: []byte("x")})
		e := r.expectErr(protocol.CodeNotConnected)
		if !e.Fatal {
			t.Fatal("not_connected must be fatal")
		}
		r.expectClosed()
	})
	t.Run("unknown or malformed frame before connect", func(t *testing.T) {
		for _, raw := range [][]byte{frame(99, []byte{0x80}), frame(byte(protocol.TypePub), []byte{0xc1})} {
			r := dialRaw(t, tr.addr(b))
			r.sendRaw(raw)
			r.send(&protocol.Connect{Version: protocol.Version})
			if e := r.expectErr(protocol.CodeNotConnected); !e.Fatal {
				t.Fatal("not_connected must be fatal")
			}
			r.expectClosed() // CONNECT after it is not answered
		}
	})
	t.Run("malformed publish answered with its request id", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		// {r: 7, c: "a", p: <a str where bin belongs is fine>, h: 5 (not a map)}, then trailing bytes.
		r.sendRaw(frame(byte(protocol.TypePub), []byte{0x83, 0xa1, 'c', 0xa1, 'a', 0xa1, 'h', 0x05, 0xa1, 'r', 0x07}))
		if e := r.expectErr(protocol.CodeMalformedFrame); e.Req != 7 {
			t.Fatalf("ERR for the malformed PUB has req %d, want 7 (read after the bad field)", e.Req)
		}
		r.sendRaw(frame(byte(protocol.TypePub), []byte{0x81, 0xa1, 'r', 0x09, 0xc0}))
		if e := r.expectErr(protocol.CodeMalformedFrame); e.Req != 9 {
			t.Fatalf("ERR for a PUB with trailing bytes has req %d, want 9", e.Req)
		}
	})
	t.Run("request id reused while unanswered", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		pub := &protocol.Pub{Req: 5, Channel: "reuse.req", Payload: []byte("x")}
		one, _ := protocol.AppendFrame(nil, pub)
		r.sendRaw(append(one, one...)) // the second arrives before the first can be answered
		for {
			switch f := r.next().(type) {
			case *protocol.PubAck: // the first may be answered before the connection closes
				continue
			case *protocol.Err:
				if f.Code != protocol.CodeInvalidArgument || !f.Fatal || f.Req != 0 {
					t.Fatalf("got %#v, want a fatal invalid_argument without a request id", f)
				}
			default:
				t.Fatalf("got %#v", f)
			}
			break
		}
		r.expectClosed()
		// An answered id may be used again.
		r2 := dialRaw(t, tr.addr(b))
		r2.connect()
		for i := 0; i < 2; i++ {
			r2.send(pub)
			if _, ok := r2.next().(*protocol.PubAck); !ok {
				t.Fatal("want PUBACK for a reused, answered request id")
			}
		}
	})
	t.Run("unsupported version", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.send(&protocol.Connect{Version: 99})
		r.expectErr(protocol.CodeUnsupportedVersion)
		r.expectClosed()
	})
	t.Run("frame too large", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.sendRaw([]byte{0xff, 0xff, 0xff, 0xf0, byte(protocol.TypePub)})
		r.expectErr(protocol.CodeFrameTooLarge)
		r.expectClosed()
	})
	t.Run("malformed body then good frame", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.sendRaw(frame(byte(protocol.TypePub), []byte{0xc1, 0x00, 0x01}))
		r.expectErr(protocol.CodeMalformedFrame)
		r.send(&protocol.Ping{})
		if _, ok := r.next().(*protocol.Pong); !ok {
			t.Fatal("connection not usable after a malformed frame")
		}
	})
	t.Run("unknown frame type", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.sendRaw(frame(200, []byte{0x80}))
		r.expectErr(protocol.CodeUnknownFrame)
		r.send(&protocol.Ping{})
		if _, ok := r.next().(*protocol.Pong); !ok {
			t.Fatal("connection not usable after an unknown frame")
		}
	})
	t.Run("server frame from client", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.send(&protocol.PubAck{Req: 1, Seq: 1})
		r.expectErr(protocol.CodeUnknownFrame)
	})
	t.Run("payload too large", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.send(&protocol.Pub{Req: 7, Channel: "big", Payload: bytes.Repeat([]byte("x"), 2000)})
		e := r.expectErr(protocol.CodePayloadTooLarge)
		if e.Req != 7 {
			t.Fatalf("ERR names req %d, want 7", e.Req)
		}
		r.send(&protocol.Pub{Req: 8, Channel: "big", Payload: []byte("ok")})
		if a, ok := r.next().(*protocol.PubAck); !ok || a.Req != 8 || a.Seq != 1 {
			t.Fatalf("want PUBACK req 8 seq 1, got %#v", a)
		}
	})
	t.Run("invalid channel names", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		for i, name := range []string{"", "a..b", ".a", "a b", "a/b", strings.Repeat("x", 256), "a.*", "a.>"} {
			r.send(&protocol.Pub{Req: uint64(100 + i), Channel: name, Payload: []byte("x")})
			if e := r.expectErr(protocol.CodeInvalidChannel); e.Req != uint64(100+i) {
				t.Fatalf("%q: ERR req %d", name, e.Req)
			}
		}
		r.send(&protocol.Sub{Sid: 1, Channel: "bad name"})
		if e := r.expectErr(protocol.CodeInvalidChannel); e.Sid != 1 {
			t.Fatalf("ERR sid %d", e.Sid)
		}
	})
	t.Run("unknown subscription", func(t *testing.T) {
		r := dialRaw(t, tr.addr(b))
		r.connect()
		r.send(&protocol.Unsub{Sid: 42})
		r.expectErr(protocol.CodeUnknownSubscription)
	})
	t.Run("client rejects invalid input before sending", func(t *testing.T) {
		_, err := good.Publish(ctx, "no spaces", []byte("x"))
		if !errors.Is(err, client.ErrInvalidChannel) {
			t.Fatalf("got %v", err)
		}
		_, err = good.Publish(ctx, "ok", make([]byte, 2000))
		if !errors.Is(err, client.ErrPayloadTooLarge) {
			t.Fatalf("got %v", err)
		}
	})

	close(stop)
	wg.Wait()
	if pubErr != nil {
		t.Fatalf("good client failed during bad input: %v", pubErr)
	}
	for i, s := range acked {
		if s != uint64(i+1) {
			t.Fatalf("good client's ack %d has seq %d", i, s)
		}
	}
	// Everything acked is there, in order.
	got := testutil.ReadEarliest(t, ctx, good, "good.channel", len(acked))
	for i, m := range got {
		if m.Seq != uint64(i+1) || string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: seq %d payload %q", i, m.Seq, m.Payload)
		}
	}
	if len(acked) == 0 {
		t.Fatal("good client published nothing")
	}
}

// TestSubscriptionIDReuse: a sid reused right after UNSUB gets exactly its own SUBACK and messages.
func TestSubscriptionIDReuse(t *testing.T) { overTransports(t, testSubscriptionIDReuse) }

func testSubscriptionIDReuse(t *testing.T, tr transport) {
	b := start(t)
	r := dialRaw(t, tr.addr(b))
	r.connect()
	for i := 1; i <= 20; i++ {
		r.send(&protocol.Pub{Req: uint64(i), Channel: "reuse.xx", Payload: []byte("x")})
	}
	for i := 1; i <= 3; i++ {
		r.send(&protocol.Pub{Req: uint64(100 + i), Channel: "reuse.yy", Payload: []byte("y")})
	}
	for acks := 0; acks < 23; {
		if _, ok := r.next().(*protocol.PubAck); !ok {
			t.Fatal("want PUBACK")
		}
		acks++
	}
	r.send(&protocol.Sub{Sid: 1, Channel: "reuse.xx", Start: protocol.StartEarliest})
	r.send(&protocol.Unsub{Sid: 1})
	r.send(&protocol.Sub{Sid: 1, Channel: "reuse.yy", Start: protocol.StartNew})
	r.send(&protocol.Pub{Req: 200, Channel: "reuse.yy", Payload: []byte("new")})
	var subacks []*protocol.SubAck
	unsubAcked := false
	firstAnswered := 0 // SUBACKs or ERRs for the first SUB, which must come before its UNSUBACK
	for {
		switch f := r.next().(type) {
		case *protocol.SubAck:
			subacks = append(subacks, f)
			if !unsubAcked {
				firstAnswered++
			}
		case *protocol.Err:
			if unsubAcked || f.Sid != 1 || f.Code != protocol.CodeInvalidArgument {
				t.Fatalf("unexpected %#v", f)
			}
			firstAnswered++
		case *protocol.UnsubAck:
			if firstAnswered != 1 {
				t.Fatalf("UNSUBACK after %d answers to its SUB, want exactly 1 before it", firstAnswered)
			}
			unsubAcked = true
		case *protocol.Msg:
			if unsubAcked {
				if f.Channel != "reuse.yy" || f.Seq != 4 {
					t.Fatalf("after reuse got %s seq %d, want reuse.yy seq 4 only", f.Channel, f.Seq)
				}
				// The first SUB may or may not have been acked before its UNSUB; the reused sid gets exactly
				// one SUBACK, its own.
				if n := len(subacks); n == 0 || n > 2 || subacks[n-1].StartSeq != 4 || subacks[n-1].LastSeq != 3 {
					for _, a := range subacks {
						t.Logf("SUBACK %+v", *a)
					}
					t.Fatal("wrong SUBACKs for the reused sid")
				}
				return
			}
		case *protocol.PubAck:
		default:
			t.Fatalf("unexpected %#v", f)
		}
	}
}

// TestWindowWithoutCredit: a client that never returns credit gets exactly a window of messages, and
// more once it does.
func TestWindowWithoutCredit(t *testing.T) { overTransports(t, testWindowWithoutCredit) }

func testWindowWithoutCredit(t *testing.T, tr transport) {
	b := start(t)
	r := dialRaw(t, tr.addr(b))
	r.connect()
	r.send(&protocol.Sub{Sid: 7, Channel: "credit.ch", Start: protocol.StartEarliest, Window: 5})
	ack, ok := r.next().(*protocol.SubAck)
	if !ok || ack.Window != 5 {
		t.Fatalf("want SUBACK with window 5, got %#v", ack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, tr.addr(b))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var last *client.PubFuture
	for i := 0; i < 20; i++ {
		if last, err = c.PublishAsync(ctx, "credit.ch", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		m, ok := r.next().(*protocol.Msg)
		if !ok || m.Seq != uint64(i) {
			t.Fatalf("want MSG seq %d, got %#v", i, m)
		}
	}
	// Nothing more arrives without credit: a PING is answered before any further MSG.
	r.send(&protocol.Ping{})
	if f, ok := r.next().(*protocol.Pong); !ok {
		t.Fatalf("got %#v before PONG: the server sent beyond the window", f)
	}
	r.send(&protocol.Credit{Sid: 7, N: 3})
	for i := 6; i <= 8; i++ {
		m, ok := r.next().(*protocol.Msg)
		if !ok || m.Seq != uint64(i) {
			t.Fatalf("want MSG seq %d after credit, got %#v", i, m)
		}
	}
	r.send(&protocol.Ping{})
	if f, ok := r.next().(*protocol.Pong); !ok {
		t.Fatalf("got %#v before PONG: credit 3 gave more than 3", f)
	}
}

// TestOversizeAnswersInOrder: with retention max_bytes, a message too large for the channel is refused
// with payload_too_large, and answers keep publish order within the batch.
func TestOversizeAnswersInOrder(t *testing.T) { overTransports(t, testOversizeAnswersInOrder) }

func testOversizeAnswersInOrder(t *testing.T, tr transport) {
	b := start(t, func(c *broker.Config) { c.Channels.MaxBytes = 100 })
	r := dialRaw(t, tr.addr(b))
	r.connect()
	var buf []byte
	for i, size := range []int{10, 500, 10, 500} {
		var err error
		buf, err = protocol.AppendFrame(buf, &protocol.Pub{Req: uint64(i + 1), Channel: "big.ret", Payload: bytes.Repeat([]byte("x"), size)})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.sendRaw(buf) // one write: the server batches them into one proposal
	seq := uint64(0)
	for i := 1; i <= 4; i++ {
		switch f := r.next().(type) {
		case *protocol.PubAck:
			if f.Req != uint64(i) || i%2 == 0 {
				t.Fatalf("answer %d: PUBACK for req %d", i, f.Req)
			}
			if f.Seq <= seq {
				t.Fatalf("seq %d after %d", f.Seq, seq)
			}
			seq = f.Seq
		case *protocol.Err:
			if f.Req != uint64(i) || i%2 == 1 || f.Code != protocol.CodePayloadTooLarge {
				t.Fatalf("answer %d: %#v", i, f)
			}
		default:
			t.Fatalf("answer %d: %#v", i, f)
		}
	}
}
