package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/protocol"
)

// scriptServer is a protocol server whose answers the test writes: it accepts connections, answers
// CONNECT with CONNACK, and hands every later frame to the test, which decides what to send back. It
// lets a test put the client in an exact interleaving (a ROUTE arriving while publishes are in flight)
// instead of hoping a real cluster produces it.
type scriptServer struct {
	t      *testing.T
	ln     net.Listener
	frames chan got
	closed chan int // connections the client closed (or that broke), by id
	mu     sync.Mutex
	conns  []net.Conn
	hellos []*protocol.Connect
}

type got struct {
	conn  int
	frame protocol.Frame
}

func newScriptServer(t *testing.T) *scriptServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{t: t, ln: ln, frames: make(chan got, 1024), closed: make(chan int, 16)}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	go s.accept()
	return s
}

func (s *scriptServer) addr() string { return s.ln.Addr().String() }

func (s *scriptServer) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		r := protocol.NewReader(conn, protocol.DefaultMaxFrame)
		f, err := r.Next()
		hello, ok := f.(*protocol.Connect)
		if err != nil || !ok {
			conn.Close()
			continue
		}
		s.mu.Lock()
		id := len(s.conns)
		s.conns = append(s.conns, conn)
		s.hellos = append(s.hellos, hello)
		s.mu.Unlock()
		_ = protocol.WriteFrame(conn, &protocol.ConnAck{Version: 1, ServerID: s.addr(), MaxFrame: protocol.DefaultMaxFrame,
			MaxPayload: protocol.DefaultMaxPayload, MaxInflight: 1024, MaxWindow: 1024})
		go func() {
			for {
				f, err := r.Next()
				if err != nil {
					s.closed <- id
					return
				}
				s.frames <- got{conn: id, frame: f}
			}
		}()
	}
}

// send writes f to connection conn.
func (s *scriptServer) send(conn int, f protocol.Frame) {
	s.mu.Lock()
	c := s.conns[conn]
	s.mu.Unlock()
	if err := protocol.WriteFrame(c, f); err != nil {
		s.t.Fatalf("%s: send %s: %v", s.addr(), f.Type(), err)
	}
}

func (s *scriptServer) hello(conn int) *protocol.Connect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hellos[conn]
}

func (s *scriptServer) drop(conn int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[conn].Close()
}

// pub waits for the next frame, which must be a PUB.
func (s *scriptServer) pub(ctx context.Context) (int, *protocol.Pub) {
	s.t.Helper()
	select {
	case g := <-s.frames:
		p, ok := g.frame.(*protocol.Pub)
		if !ok {
			s.t.Fatalf("%s: got %s, want PUB", s.addr(), g.frame.Type())
		}
		return g.conn, p
	case <-ctx.Done():
		s.t.Fatalf("%s: waiting for a PUB: %v", s.addr(), ctx.Err())
		return 0, nil
	}
}

// quiet asserts that none of servers receives a frame within d.
func quiet(t *testing.T, d time.Duration, what string, servers ...*scriptServer) {
	t.Helper()
	deadline := time.After(d)
	for {
		for _, s := range servers {
			select {
			case g := <-s.frames:
				t.Fatalf("%s: got %s %+v while %s", s.addr(), g.frame.Type(), g.frame, what)
			default:
			}
		}
		select {
		case <-deadline:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// connectScript connects a client that does not reconnect to s; it is closed when the test ends.
func connectScript(t *testing.T, ctx context.Context, s *scriptServer, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Connect(ctx, s.addr(), append([]client.Option{client.WithReconnect(false, 0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// TestRouteMovesPublishesInOrder: a ROUTE arrives while three publishes of the channel are in flight
// on the primary connection. The client opens a connection to the named node, and the next publish
// waits until the three are answered before it goes there: answers of one channel stay in publish
// order although they come over two connections.
func TestRouteMovesPublishesInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := newScriptServer(t), newScriptServer(t)
	c := connectScript(t, ctx, a)
	if !a.hello(0).Routes {
		t.Fatal("CONNECT did not ask for routes")
	}
	var futs []*client.PubFuture
	var reqs []uint64
	for i := 0; i < 3; i++ {
		f, err := c.PublishAsync(ctx, "orders", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
		_, p := a.pub(ctx)
		reqs = append(reqs, p.Req)
	}
	a.send(0, &protocol.Route{Channel: "orders", Node: 2, Addr: b.addr()})
	waitFor(t, ctx, "the route to the channel's node", func() bool { return c.Route("orders") == b.addr() })
	if !b.hello(0).Routes {
		t.Fatal("the connection to the channel's node did not ask for routes")
	}
	if got := c.Route("other"); got != a.addr() {
		t.Fatalf("a channel without a route goes to %s, want the primary %s", got, a.addr())
	}

	fourth := make(chan *client.PubFuture, 1)
	go func() {
		f, err := c.PublishAsync(ctx, "orders", []byte("x"))
		if err != nil {
			t.Error(err)
		}
		fourth <- f
	}()
	quiet(t, 50*time.Millisecond, "three publishes of the channel are unanswered on the primary", a, b)
	for i, r := range reqs {
		a.send(0, &protocol.PubAck{Req: r, Seq: uint64(i + 1)})
	}
	conn, p := b.pub(ctx)
	b.send(conn, &protocol.PubAck{Req: p.Req, Seq: 4})
	futs = append(futs, <-fourth)
	for i, f := range futs {
		ack, err := f.Wait(ctx)
		if err != nil || ack.Seq != uint64(i+1) {
			t.Fatalf("publish %d: seq %d, %v; want seq %d", i+1, ack.Seq, err, i+1)
		}
	}
	// Other channels keep using the primary.
	f, err := c.PublishAsync(ctx, "other", []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	_, p = a.pub(ctx)
	a.send(0, &protocol.PubAck{Req: p.Req, Seq: 1})
	if _, err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// The channel's node connection breaks with a publish in flight: that publish fails (outcome
	// unknown), the channel falls back to the primary, and the primary's client keeps working.
	f, err = c.PublishAsync(ctx, "orders", []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	b.pub(ctx)
	b.drop(conn)
	if _, err := f.Wait(ctx); !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("publish in flight on the lost node connection: %v, want ErrConnectionLost", err)
	}
	waitFor(t, ctx, "the fallback to the primary", func() bool { return c.Route("orders") == a.addr() })
	f, err = c.PublishAsync(ctx, "orders", []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	_, p = a.pub(ctx)
	a.send(0, &protocol.PubAck{Req: p.Req, Seq: 6})
	if ack, err := f.Wait(ctx); err != nil || ack.Seq != 6 {
		t.Fatalf("publish through the primary after the fallback: %+v, %v", ack, err)
	}
	if c.Err() != nil {
		t.Fatalf("client ended: %v", c.Err())
	}
}

// TestRouteToPrimaryAndUnreachable: a ROUTE naming the primary itself changes nothing; one naming a
// node that cannot be reached, or with an address or channel that makes no sense, leaves the channel
// on the primary.
func TestRouteToPrimaryAndUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := newScriptServer(t)
	c := connectScript(t, ctx, a)
	a.send(0, &protocol.Route{Channel: "x", Node: 1, Addr: a.addr()})
	dead := freeAddr()
	a.send(0, &protocol.Route{Channel: "y", Node: 3, Addr: dead})
	// Nonsense from a server is ignored.
	a.send(0, &protocol.Route{Channel: "z", Node: 4, Addr: "no port"})
	a.send(0, &protocol.Route{Channel: "a..b", Node: 4, Addr: dead})
	for _, ch := range []string{"x", "y", "z"} {
		f, err := c.PublishAsync(ctx, ch, []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		_, p := a.pub(ctx)
		if p.Channel != ch {
			t.Fatalf("got a publish to %s, want %s", p.Channel, ch)
		}
		a.send(0, &protocol.PubAck{Req: p.Req, Seq: 1})
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.Route(ch); got != a.addr() {
			t.Fatalf("%s goes to %s, want the primary", ch, got)
		}
	}
}

// TestRoutingOff: WithRouting(false) does not ask for routes, and ignores one sent anyway.
func TestRoutingOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := newScriptServer(t), newScriptServer(t)
	c := connectScript(t, ctx, a, client.WithRouting(false))
	if a.hello(0).Routes {
		t.Fatal("CONNECT asked for routes with routing off")
	}
	a.send(0, &protocol.Route{Channel: "x", Node: 2, Addr: b.addr()})
	f, err := c.PublishAsync(ctx, "x", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	_, p := a.pub(ctx)
	a.send(0, &protocol.PubAck{Req: p.Req, Seq: 1})
	if _, err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	quiet(t, 0, "routing is off", b)
}

// next waits for the next frame other than CREDIT (which the client sends as its handler consumes).
func (s *scriptServer) next(ctx context.Context) (int, protocol.Frame) {
	s.t.Helper()
	for {
		select {
		case g := <-s.frames:
			if _, ok := g.frame.(*protocol.Credit); ok {
				continue
			}
			return g.conn, g.frame
		case <-ctx.Done():
			s.t.Fatalf("%s: waiting for a frame: %v", s.addr(), ctx.Err())
			return 0, nil
		}
	}
}

func (s *scriptServer) sub(ctx context.Context) (int, *protocol.Sub) {
	s.t.Helper()
	conn, f := s.next(ctx)
	sub, ok := f.(*protocol.Sub)
	if !ok {
		s.t.Fatalf("%s: got %s %+v, want SUB", s.addr(), f.Type(), f)
	}
	return conn, sub
}

// TestRouteMovesSubscription: a confirmed subscription whose channel gets a route moves to the named
// node under a new sid, from the seq after the last one received, and its old sid is unsubscribed;
// messages that came over both connections meanwhile reach the handler once, in order. When the
// node's connection breaks it resumes on the primary.
func TestRouteMovesSubscription(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := newScriptServer(t), newScriptServer(t)
	c := connectScript(t, ctx, a)
	var mu sync.Mutex
	var seqs []uint64
	handler := func(m *client.Message) {
		mu.Lock()
		seqs = append(seqs, m.Seq)
		mu.Unlock()
	}
	received := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(seqs) >= n }
	}
	msg := func(sid, seq uint64) *protocol.Msg {
		return &protocol.Msg{Sid: sid, Channel: "orders", Seq: seq, Payload: []byte("m")}
	}
	subbed := make(chan *client.Subscription, 1)
	go func() {
		s, err := c.Subscribe(ctx, "orders", client.StartEarliest(), handler, client.WithWindow(16))
		if err != nil {
			t.Error(err)
		}
		subbed <- s
	}()
	_, first := a.sub(ctx)
	a.send(0, &protocol.SubAck{Sid: first.Sid, StartSeq: 1, Window: 16})
	sub := <-subbed
	a.send(0, msg(first.Sid, 1))
	a.send(0, msg(first.Sid, 2))
	waitFor(t, ctx, "two messages", received(2))

	a.send(0, &protocol.Route{Channel: "orders", Node: 2, Addr: b.addr()})
	bconn, moved := b.sub(ctx)
	if moved.Sid == first.Sid || moved.Start != protocol.StartSeq || moved.Seq != 3 || moved.Window != 16 {
		t.Fatalf("SUB on the channel's node %+v, want a new sid from seq 3, window 16", moved)
	}
	if _, f := a.next(ctx); f.Type() != protocol.TypeUnsub || f.(*protocol.Unsub).Sid != first.Sid {
		t.Fatalf("primary got %s %+v, want UNSUB of sid %d", f.Type(), f, first.Sid)
	}
	// Both connections deliver seq 3 before the old one confirms the UNSUB.
	a.send(0, msg(first.Sid, 3))
	a.send(0, &protocol.UnsubAck{Sid: first.Sid})
	b.send(bconn, &protocol.SubAck{Sid: moved.Sid, StartSeq: 3, LastSeq: 3, Window: 16})
	b.send(bconn, msg(moved.Sid, 3))
	b.send(bconn, msg(moved.Sid, 4))
	waitFor(t, ctx, "four messages", received(4))

	// The node's connection breaks: the subscription resumes on the primary after seq 4.
	b.drop(bconn)
	_, back := a.sub(ctx)
	if back.Sid != moved.Sid || back.Start != protocol.StartSeq || back.Seq != 5 {
		t.Fatalf("SUB on the primary after the loss %+v, want sid %d from seq 5", back, moved.Sid)
	}
	a.send(0, &protocol.SubAck{Sid: back.Sid, StartSeq: 5, LastSeq: 4, Window: 16})
	a.send(0, msg(back.Sid, 5))
	waitFor(t, ctx, "five messages", received(5))
	mu.Lock()
	if fmt.Sprint(seqs) != "[1 2 3 4 5]" {
		t.Fatalf("handler got seqs %v, want [1 2 3 4 5]", seqs)
	}
	mu.Unlock()
	if err := sub.Err(); err != nil {
		t.Fatalf("subscription ended: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- sub.Unsubscribe(ctx) }()
	if _, f := a.next(ctx); f.Type() != protocol.TypeUnsub || f.(*protocol.Unsub).Sid != back.Sid {
		t.Fatalf("got %s %+v, want UNSUB of sid %d", f.Type(), f, back.Sid)
	}
	a.send(0, &protocol.UnsubAck{Sid: back.Sid})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestClientEndsWithItsNodeConnections: a client that does not reconnect ends when its primary
// connection breaks, and takes its connections to channels' nodes with it: a publish in flight there
// fails, and the node sees the connection closed.
func TestClientEndsWithItsNodeConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := newScriptServer(t), newScriptServer(t)
	c := connectScript(t, ctx, a)
	a.send(0, &protocol.Route{Channel: "orders", Node: 2, Addr: b.addr()})
	waitFor(t, ctx, "the route to the channel's node", func() bool { return c.Route("orders") == b.addr() })
	f, err := c.PublishAsync(ctx, "orders", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	b.pub(ctx)
	a.drop(0)
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client did not end when its primary connection broke")
	}
	if _, err := f.Wait(ctx); err == nil {
		t.Fatal("a publish in flight on the node's connection succeeded after the client ended")
	}
	select {
	case <-b.closed:
	case <-ctx.Done():
		t.Fatal("the node's connection stayed open after the client ended")
	}
}

// TestMovedSubscriptionCreditsEachSid: credit goes back to the sid a message came under, and only
// while that sid is current. Messages the old sid delivers after a move are not paid for by the new
// sid, and duplicates the new sid delivers (already received under the old one) are: otherwise the
// server would cap the early credit and the new sid's window would shrink by the duplicates for good.
func TestMovedSubscriptionCreditsEachSid(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := newScriptServer(t), newScriptServer(t)
	c := connectScript(t, ctx, a)
	var mu sync.Mutex
	var seqs []uint64
	received := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(seqs) >= n }
	}
	msg := func(sid, seq uint64) *protocol.Msg {
		return &protocol.Msg{Sid: sid, Channel: "orders", Seq: seq, Payload: []byte("m")}
	}
	subbed := make(chan *client.Subscription, 1)
	go func() {
		s, err := c.Subscribe(ctx, "orders", client.StartEarliest(), func(m *client.Message) {
			mu.Lock()
			seqs = append(seqs, m.Seq)
			mu.Unlock()
		}, client.WithWindow(4))
		if err != nil {
			t.Error(err)
		}
		subbed <- s
	}()
	_, first := a.sub(ctx)
	a.send(0, &protocol.SubAck{Sid: first.Sid, StartSeq: 1, Window: 4})
	sub := <-subbed
	a.send(0, msg(first.Sid, 1))
	a.send(0, msg(first.Sid, 2))
	waitFor(t, ctx, "two messages", received(2))

	a.send(0, &protocol.Route{Channel: "orders", Node: 2, Addr: b.addr()})
	bconn, moved := b.sub(ctx)
	// The old sid delivers 3, 4, 5 before its UNSUBACK; the handler takes them.
	for seq := uint64(3); seq <= 5; seq++ {
		a.send(0, msg(first.Sid, seq))
	}
	a.send(0, &protocol.UnsubAck{Sid: first.Sid})
	waitFor(t, ctx, "five messages", received(5))
	// The new sid delivers 3 and 4 (duplicates) and then 6: three messages under it.
	b.send(bconn, &protocol.SubAck{Sid: moved.Sid, StartSeq: 3, LastSeq: 5, Window: 4})
	for _, seq := range []uint64{3, 4, 6} {
		b.send(bconn, msg(moved.Sid, seq))
	}
	waitFor(t, ctx, "six messages", received(6))
	done := make(chan error, 1)
	go func() { done <- sub.Unsubscribe(ctx) }()
	credited := 0
	for unsub := false; !unsub; {
		select {
		case g := <-b.frames:
			switch f := g.frame.(type) {
			case *protocol.Credit:
				if f.Sid != moved.Sid {
					t.Fatalf("CREDIT for sid %d on the node's connection, want only %d", f.Sid, moved.Sid)
				}
				credited += int(f.N)
			case *protocol.Unsub:
				unsub = true
				b.send(bconn, &protocol.UnsubAck{Sid: moved.Sid})
			default:
				t.Fatalf("node got %s %+v", f.Type(), f)
			}
		case <-ctx.Done():
			t.Fatal("no UNSUB on the node's connection")
		}
	}
	if credited != 3 {
		t.Fatalf("the new sid was credited %d, want 3 (the messages it sent, duplicates included)", credited)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seqs) != "[1 2 3 4 5 6]" {
		t.Fatalf("handler got %v", seqs)
	}
}
