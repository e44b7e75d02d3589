// Package client is the Go client of Sampan. A Client talks to one server at a time over TCP, speaking
// the protocol in protocol/PROTOCOL.md, and moves to another server of its list when the connection
// breaks, resuming every subscription after the last message it received (no gap, no duplicate). It is
// safe for concurrent use: publishes pipeline (many in flight, each answered by its own ack), and each
// subscription's handler runs on its own goroutine, in seq order.
//
// Every network call takes a context first and honours its cancellation; server errors are returned as
// *Error values matching the sentinels in errors.go with errors.Is.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/protocol"
)

// Client is a connection to a Sampan cluster: one primary connection (to a server of its list) and,
// with routing on, a connection opened on demand to each node that serves a channel it publishes to.
type Client struct {
	opts    options
	servers []string
	window  chan struct{} // publish slots

	mu      sync.Mutex
	link    *link         // the primary connection; nil while reconnecting
	linkUp  chan struct{} // closed while link != nil; replaced when it goes down
	server  int           // index in servers of the current or last connection
	limits  protocol.ConnAck
	nextReq uint64
	nextSid uint64
	pubs    map[uint64]*pendingPub
	subs    map[uint64]*Subscription // by sid, including the sids a moved subscription left (retired)
	retired map[uint64]*link         // sid -> connection it was unsubscribed on when its subscription moved
	nodes   map[string]*nodeConn     // by client address: connections to the nodes routes point at
	routes  map[string]*chanRoute    // by channel: where its publishes go and how many are in flight
	// consumers: durable consumer memberships by sid (consumer.go); acks: ACKs waiting for an answer.
	consumers map[uint64]*consumerSub
	acks      map[uint64]*pendingAck
	err       error         // why the client ended for good
	done      chan struct{} // closed when the client ended for good
}

// pendingPub is a publish sent and not yet answered.
type pendingPub struct {
	f *PubFuture
	l *link      // the connection it was sent on
	r *chanRoute // its channel's route
}

// chanRoute is where a channel's publishes go. A channel's publishes are in flight on one connection
// at a time (r.link): the server answers a connection's publishes of one channel in order, and two
// connections could commit them out of order. So when the route moves to another connection, new
// publishes wait until those in flight on the old one are answered.
type chanRoute struct {
	channel  string
	addr     string        // the node serving the channel, from its last ROUTE; "" = the primary
	link     *link         // the connection its in-flight publishes are on
	inflight int           // publishes sent on link, unanswered
	drained  chan struct{} // closed when inflight reaches 0, for publishes waiting to move
}

// nodeConn is the connection to one node that a route points at.
type nodeConn struct {
	l       *link     // nil while dialing or after a failure
	dialing bool      // a dial runs (dialNode)
	retryAt time.Time // after a failed dial or a lost connection: not before then
}

// maxRoutes bounds the routes a client remembers; beyond it ROUTE hints for new channels are ignored
// and those channels keep going through the primary connection (the server forwards them).
const maxRoutes = 65536

// maxNodes bounds the node connections a client opens (routes naming further nodes are ignored).
const maxNodes = 256

// nodeRetry is how long a node whose connection failed is left alone before a route may dial it again.
const nodeRetry = 5 * time.Second

// link is one TCP connection: its writer buffer and goroutines.
type link struct {
	c    *Client
	conn net.Conn
	addr string
	wmu  sync.Mutex
	wbuf []byte
	wake chan struct{}
	dead chan struct{}
	once sync.Once
}

func (l *link) alive() bool {
	select {
	case <-l.dead:
		return false
	default:
		return true
	}
}

// Connect connects to the first reachable server of servers (a comma-separated list of host:port,
// tls://host:port, or ws://host:port and wss://host:port for a server's WebSocket listener, which turn
// routing off), performs the handshake and returns a ready client. Later, if the connection breaks, the client
// reconnects to any server of the list (WithReconnect).
func Connect(ctx context.Context, servers string, opts ...Option) (*Client, error) {
	o := options{maxInflight: 1024, dialTimeout: 5 * time.Second, log: zerolog.Nop(), reconnect: true, reconnectFor: 2 * time.Minute, routing: true}
	for _, f := range opts {
		f(&o)
	}
	var list []string
	for _, s := range strings.Split(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if isWebSocket(s) {
				// ROUTE frames name nodes' TCP listeners: a client that came by WebSocket stays on it.
				o.routing = false
				list = append(list, s)
				continue
			}
			s, useTLS := splitScheme(s)
			if useTLS && o.tls == nil {
				o.tls = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil, errors.New("sampan: no server address given")
	}
	c := &Client{opts: o, servers: list, linkUp: make(chan struct{}), pubs: map[uint64]*pendingPub{},
		subs: map[uint64]*Subscription{}, retired: map[uint64]*link{}, nodes: map[string]*nodeConn{}, routes: map[string]*chanRoute{}, done: make(chan struct{}),
		consumers: map[uint64]*consumerSub{}, acks: map[uint64]*pendingAck{}}
	var errs []error
	for i, addr := range list {
		l, ack, err := c.dial(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		n := o.maxInflight
		if n <= 0 {
			n = 1024
		}
		if ack.MaxInflight > 0 && n > int(ack.MaxInflight) {
			n = int(ack.MaxInflight)
		}
		c.window = make(chan struct{}, n)
		c.server = i
		c.up(l, ack)
		return c, nil
	}
	return nil, errors.Join(errs...)
}

// dial opens a connection and performs the handshake, bounded by ctx and the dial timeout.
func (c *Client) dial(ctx context.Context, addr string) (*link, *protocol.ConnAck, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.dialTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if isWebSocket(addr) {
		if conn, err = dialWebSocket(dctx, addr, c.opts.tls); err != nil {
			return nil, nil, err
		}
	} else {
		var d net.Dialer
		if conn, err = d.DialContext(dctx, "tcp", addr); err != nil {
			return nil, nil, fmt.Errorf("sampan: connect %s: %w", addr, err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if c.opts.tls != nil {
			if conn, err = TLSHandshake(dctx, conn, c.opts.tls, addr); err != nil {
				return nil, nil, err
			}
		}
	}
	// The handshake is synchronous; unblock it if ctx ends first.
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	r := protocol.NewReader(conn, protocol.DefaultMaxFrame)
	ack, err := handshake(conn, r, &protocol.Connect{Version: protocol.Version, Name: c.opts.name, Routes: c.opts.routing,
		User: c.opts.user, Password: c.opts.pass, Token: c.opts.token})
	if !stop() {
		err = errors.Join(dctx.Err(), err)
	}
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("sampan: %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	r.SetMaxFrame(ack.MaxFrame)
	setReadLimit(conn, ack.MaxFrame)
	l := &link{c: c, conn: conn, addr: addr, wake: make(chan struct{}, 1), dead: make(chan struct{})}
	go l.writeLoop()
	go l.readLoop(r)
	return l, ack, nil
}

func handshake(conn net.Conn, r *protocol.Reader, hello *protocol.Connect) (*protocol.ConnAck, error) {
	if err := protocol.WriteFrame(conn, hello); err != nil {
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	f, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	switch f := f.(type) {
	case *protocol.ConnAck:
		return f, nil
	case *protocol.Err:
		return nil, f.AsError()
	default:
		return nil, fmt.Errorf("expected CONNACK, got %s", f.Type())
	}
}

// up makes l the current connection and resumes every subscription on it.
func (c *Client) up(l *link, ack *protocol.ConnAck) {
	c.mu.Lock()
	c.link, c.limits = l, *ack
	close(c.linkUp)
	for sid, s := range c.subs {
		if s.sid == sid && s.l == nil {
			s.l = l
			_ = l.send(s.resumeFrameLocked())
		}
	}
	for _, cs := range c.consumers {
		if cs.l == nil && cs.moveTo == "" {
			cs.l = l
			_ = l.send(cs.frameLocked())
		}
	}
	c.mu.Unlock()
}

// Limits returns what the current server announced on connect (max payload, windows, ...).
func (c *Client) Limits() protocol.ConnAck {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// Server returns the address of the server the client is connected to ("" while reconnecting).
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		return ""
	}
	return c.link.addr
}

// errDisconnected is returned by send while the client is between connections.
var errDisconnected = errors.New("sampan: not connected")

// current waits for a connection (while reconnecting) and returns it.
func (c *Client) current(ctx context.Context) (*link, error) {
	for {
		c.mu.Lock()
		l, up, err := c.link, c.linkUp, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		select {
		case <-up:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *link) send(f protocol.Frame) error {
	l.wmu.Lock()
	select {
	case <-l.dead:
		l.wmu.Unlock()
		return errDisconnected
	default:
	}
	var err error
	l.wbuf, err = protocol.AppendFrame(l.wbuf, f)
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

func (l *link) writeLoop() {
	var out []byte
	for {
		select {
		case <-l.wake:
		case <-l.dead:
			return
		}
		for {
			l.wmu.Lock()
			out, l.wbuf = l.wbuf, out[:0]
			l.wmu.Unlock()
			if len(out) == 0 {
				break
			}
			if _, err := l.conn.Write(out); err != nil {
				l.fail(fmt.Errorf("%w: %v", ErrConnectionLost, err))
				return
			}
		}
	}
}

func (l *link) readLoop(r *protocol.Reader) {
	c := l.c
	for {
		f, err := r.Next()
		if err != nil {
			var pe *protocol.Error
			if errors.As(err, &pe) && !pe.Fatal {
				continue
			}
			l.fail(fmt.Errorf("%w: %v", ErrConnectionLost, err))
			return
		}
		switch f := f.(type) {
		case *protocol.PubAck:
			c.finishPub(f.Req, PubAck{Seq: f.Seq, Duplicate: f.Dup}, nil)
		case *protocol.Msg:
			c.mu.Lock()
			s := c.subs[f.Sid]
			current := s != nil && s.sid == f.Sid
			cs := c.consumers[f.Sid]
			c.mu.Unlock()
			if cs != nil {
				cs.deliver(f) // bounded by the member's window of unsettled deliveries
				continue
			}
			if s != nil {
				// Never blocks: the server sends at most a window of MSGs this subscription has not
				// returned with CREDIT, so the queue is bounded, and a slow handler cannot hold up
				// this connection's acks or other subscriptions.
				s.deliver(f, current)
			}
		case *protocol.Acked:
			c.finishAck(f.Req, nil)
		case *protocol.SubAck:
			c.mu.Lock()
			cs := c.consumers[f.Sid]
			if cs != nil {
				cs.moves = 0 // joined: a later rejoin may follow moves again
			}
			c.mu.Unlock()
			if cs != nil {
				cs.joined(nil)
				continue
			}
			if s := c.sub(f.Sid); s != nil {
				s.acked(f, nil)
				c.mu.Lock()
				c.placeLocked(s) // a route may have come before it was confirmed
				c.mu.Unlock()
			}
		case *protocol.UnsubAck:
			c.mu.Lock()
			if cs := c.consumers[f.Sid]; cs != nil {
				delete(c.consumers, f.Sid)
				c.mu.Unlock()
				cs.end(nil)
				continue
			}
			s := c.subs[f.Sid]
			delete(c.subs, f.Sid)
			_, moved := c.retired[f.Sid]
			delete(c.retired, f.Sid)
			c.mu.Unlock()
			if s != nil && !moved {
				s.end(nil)
			}
		case *protocol.Err:
			l.onErr(f)
		case *protocol.Route:
			c.onRoute(f)
		case *protocol.Ping:
			_ = l.send(&protocol.Pong{})
		}
	}
}

func (c *Client) sub(sid uint64) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[sid]
}

func (l *link) onErr(f *protocol.Err) {
	c := l.c
	e := f.AsError()
	switch {
	case f.Req != 0:
		if !c.finishAck(f.Req, e) {
			c.finishPub(f.Req, PubAck{}, e)
		}
	case f.Sid != 0:
		c.mu.Lock()
		if cs := c.consumers[f.Sid]; cs != nil && e.Code == protocol.CodeMoved {
			// Answers a CONSUME the server did not take (the first join or a rejoin): never an end.
			c.moveLocked(cs)
			c.mu.Unlock()
			return
		}
		if cs := c.consumers[f.Sid]; cs != nil {
			delete(c.consumers, f.Sid)
			c.mu.Unlock()
			cs.end(e)
			return
		}
		s := c.subs[f.Sid]
		if _, moved := c.retired[f.Sid]; moved {
			// About the sid a subscription left when it moved: it is served elsewhere now.
			delete(c.subs, f.Sid)
			delete(c.retired, f.Sid)
			c.mu.Unlock()
			return
		}
		// A subscription already running that the server cannot serve for a moment (its channel is
		// between activations after a failure) asks again instead of ending: the promise is to resume
		// with no gap ("unavailable: read channel state: shard not found" during a failover must not end
		// a subscription for good).
		retry := s != nil && c.err == nil && s.acknowledged() && s.ackErr == nil && errors.Is(e, ErrUnavailable)
		if !retry {
			delete(c.subs, f.Sid)
		}
		c.mu.Unlock()
		if retry {
			time.AfterFunc(100*time.Millisecond, func() {
				c.mu.Lock()
				if c.subs[f.Sid] == s && s.sid == f.Sid && s.l != nil {
					_ = s.l.send(s.resumeFrameLocked()) // fails only while reconnecting, which resends it anyway
				}
				c.mu.Unlock()
			})
			return
		}
		if s != nil {
			s.acked(nil, e)
			s.end(e)
		}
	case f.Fatal:
		l.fail(fmt.Errorf("%w: %w", ErrConnectionLost, e))
	default:
		c.opts.log.Warn().Err(e).Msg("server error")
	}
}

// fail ends this connection. Publishes in flight on it fail with err (their outcome is unknown);
// subscriptions survive and resume on the next connection, unless the client is closed or does not
// reconnect.
func (l *link) fail(err error) {
	l.once.Do(func() {
		l.wmu.Lock()
		close(l.dead)
		l.wmu.Unlock()
		_ = l.conn.Close()
		l.c.linkDown(l, err)
	})
}

func (c *Client) linkDown(l *link, err error) {
	c.mu.Lock()
	primary := c.link == l
	if !primary {
		nc := c.nodes[l.addr]
		if nc == nil || nc.l != l {
			c.mu.Unlock()
			return
		}
		nc.l, nc.retryAt = nil, time.Now().Add(nodeRetry)
		// Its channels go back through the primary until a server routes them again.
		for ch, r := range c.routes {
			if r.addr == l.addr {
				r.addr = ""
				if r.inflight == 0 {
					delete(c.routes, ch)
				}
			}
		}
	} else {
		c.link = nil
		c.linkUp = make(chan struct{})
	}
	for sid, s := range c.subs {
		switch {
		case c.retired[sid] == l:
			delete(c.subs, sid)
			delete(c.retired, sid)
		case s.sid == sid && s.l == l:
			// Resumed on the primary (now, or when it is back) after the last message received.
			s.l = c.link
			if s.l != nil {
				_ = s.l.send(s.resumeFrameLocked())
			}
		}
	}
	for _, cs := range c.consumers {
		if cs.l == l {
			// Joined again on the primary (now, or when it is back); what it held comes again.
			cs.l = c.link
			if cs.l != nil {
				_ = cs.l.send(cs.frameLocked())
			}
		}
	}
	var lostAcks []*pendingAck
	for req, a := range c.acks {
		if a.l == l {
			lostAcks = append(lostAcks, a)
			delete(c.acks, req)
		}
	}
	var lost []*PubFuture
	for req, p := range c.pubs {
		if p.l == l {
			lost = append(lost, c.takePubLocked(req).f)
		}
	}
	closed := c.err != nil
	c.mu.Unlock()
	for _, a := range lostAcks {
		a.done <- err
	}
	for _, f := range lost {
		f.finish(PubAck{}, err)
		<-c.window
	}
	if !primary {
		if !closed {
			c.opts.log.Warn().Err(err).Str("server", l.addr).Msg("connection to a channel's node lost; its channels go through the primary server")
		}
		return
	}
	if closed || !c.opts.reconnect {
		c.shutdown(err)
		return
	}
	c.opts.log.Warn().Err(err).Str("server", l.addr).Msg("connection lost; reconnecting")
	go c.reconnect(err)
}

// reconnect tries the servers in turn, from the one after the lost one, with growing pauses, until one
// answers, the client is closed, or the reconnect time runs out.
func (c *Client) reconnect(cause error) {
	deadline := time.Now().Add(c.opts.reconnectFor)
	wait := 10 * time.Millisecond
	c.mu.Lock()
	next := c.server + 1
	c.mu.Unlock()
	for {
		for i := 0; i < len(c.servers); i++ {
			idx := (next + i) % len(c.servers)
			l, ack, err := c.dialUnlessDone(c.servers[idx])
			select {
			case <-c.done:
				if l != nil {
					l.fail(ErrClosed)
				}
				return
			default:
			}
			if err == nil {
				c.mu.Lock()
				c.server = idx
				c.mu.Unlock()
				c.opts.log.Info().Str("server", c.servers[idx]).Msg("reconnected")
				c.up(l, ack)
				return
			}
		}
		if time.Now().After(deadline) {
			c.shutdown(fmt.Errorf("%w: no server answered for %v (last cause: %v)", ErrConnectionLost, c.opts.reconnectFor, cause))
			return
		}
		select {
		case <-c.done:
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

// dialUnlessDone dials addr, giving up if the client ends meanwhile.
func (c *Client) dialUnlessDone(addr string) (*link, *protocol.ConnAck, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return c.dial(ctx, addr)
}

// shutdown ends the client for good: every subscription ends with err, and publishes in flight on
// connections to channels' nodes fail with it.
func (c *Client) shutdown(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
	subs := c.subs
	c.subs = map[uint64]*Subscription{}
	cons := c.consumers
	c.consumers = map[uint64]*consumerSub{}
	c.retired = map[uint64]*link{}
	var nodes []*link // the connections to channels' nodes end with the client
	for _, nc := range c.nodes {
		if nc.l != nil {
			nodes = append(nodes, nc.l)
		}
	}
	c.mu.Unlock()
	for _, l := range nodes {
		l.fail(err)
	}
	for _, s := range subs {
		s.acked(nil, err)
		s.end(err)
	}
	for _, cs := range cons {
		cs.end(err)
	}
}

func (c *Client) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// Close closes the client. Pending publishes fail with ErrClosed (they may or may not have been stored)
// and subscriptions end with ErrClosed. Safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
		close(c.done)
	}
	links := []*link{c.link}
	for _, nc := range c.nodes {
		links = append(links, nc.l)
	}
	c.mu.Unlock()
	for _, l := range links {
		if l != nil {
			l.fail(ErrClosed)
		}
	}
	c.shutdown(ErrClosed)
	return nil
}

// Done is closed when the client has ended for good (Close, or no server answered for the reconnect
// time); Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended, or nil while it is running (connected or reconnecting).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.closeErr()
	default:
		return nil
	}
}
