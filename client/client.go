// Package client is the Go client of Sampan. A Client is one TCP connection speaking the protocol in
// protocol/PROTOCOL.md. It is safe for concurrent use: publishes pipeline (many in flight, each answered
// by its own ack), and each subscription's handler runs on its own goroutine, in seq order.
//
// Every network call takes a context first and honours its cancellation; server errors are returned as
// *Error values matching the sentinels in errors.go with errors.Is.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/protocol"
)

// Client is a connection to a Sampan server.
type Client struct {
	conn   net.Conn
	opts   options
	limits protocol.ConnAck
	window chan struct{} // publish slots

	wmu     sync.Mutex
	wbuf    []byte
	wake    chan struct{}
	writeOK chan struct{} // closed when the writer stops

	mu      sync.Mutex
	nextReq uint64
	nextSid uint64
	pubs    map[uint64]*PubFuture
	subs    map[uint64]*Subscription
	err     error // why the connection ended
	done    chan struct{}
	once    sync.Once
}

// Connect dials addr, performs the CONNECT/CONNACK handshake and returns a ready client.
func Connect(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{maxInflight: 1024, dialTimeout: 5 * time.Second, log: zerolog.Nop()}
	for _, f := range opts {
		f(&o)
	}
	dctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, o.dialTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sampan: connect %s: %w", addr, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// The handshake is synchronous; unblock it if ctx ends first.
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	r := protocol.NewReader(conn, protocol.DefaultMaxFrame)
	ack, err := handshake(conn, r, o.name)
	if !stop() {
		err = errors.Join(dctx.Err(), err)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	r.SetMaxFrame(ack.MaxFrame)
	n := o.maxInflight
	if n <= 0 {
		n = 1024
	}
	if ack.MaxInflight > 0 && n > int(ack.MaxInflight) {
		n = int(ack.MaxInflight)
	}
	c := &Client{conn: conn, opts: o, limits: *ack, window: make(chan struct{}, n),
		wake: make(chan struct{}, 1), writeOK: make(chan struct{}),
		pubs: map[uint64]*PubFuture{}, subs: map[uint64]*Subscription{}, done: make(chan struct{})}
	go c.writeLoop()
	go c.readLoop(r)
	return c, nil
}

func handshake(conn net.Conn, r *protocol.Reader, name string) (*protocol.ConnAck, error) {
	if err := protocol.WriteFrame(conn, &protocol.Connect{Version: protocol.Version, Name: name}); err != nil {
		return nil, fmt.Errorf("sampan: send CONNECT: %w", err)
	}
	f, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("sampan: read CONNACK: %w", err)
	}
	switch f := f.(type) {
	case *protocol.ConnAck:
		return f, nil
	case *protocol.Err:
		return nil, f.AsError()
	default:
		return nil, fmt.Errorf("sampan: expected CONNACK, got %s", f.Type())
	}
}

// Limits returns what the server announced on connect (max payload, windows, ...).
func (c *Client) Limits() protocol.ConnAck { return c.limits }

// send queues a frame for the writer goroutine.
func (c *Client) send(f protocol.Frame) error {
	c.wmu.Lock()
	select {
	case <-c.done:
		c.wmu.Unlock()
		return c.closeErr()
	default:
	}
	var err error
	c.wbuf, err = protocol.AppendFrame(c.wbuf, f)
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *Client) writeLoop() {
	defer close(c.writeOK)
	var out []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			c.wmu.Lock()
			out, c.wbuf = c.wbuf, out[:0]
			c.wmu.Unlock()
			if len(out) == 0 {
				break
			}
			if _, err := c.conn.Write(out); err != nil {
				c.fail(fmt.Errorf("%w: %v", ErrConnectionLost, err))
				return
			}
		}
	}
}

func (c *Client) readLoop(r *protocol.Reader) {
	for {
		f, err := r.Next()
		if err != nil {
			var pe *protocol.Error
			if errors.As(err, &pe) && !pe.Fatal {
				continue
			}
			c.fail(fmt.Errorf("%w: %v", ErrConnectionLost, err))
			return
		}
		switch f := f.(type) {
		case *protocol.PubAck:
			c.finishPub(f.Req, PubAck{Seq: f.Seq, Duplicate: f.Dup}, nil)
		case *protocol.Msg:
			c.mu.Lock()
			s := c.subs[f.Sid]
			c.mu.Unlock()
			if s != nil {
				// Never blocks: the server sends at most a window of MSGs this subscription has not
				// returned with CREDIT, so the queue is bounded, and a slow handler cannot hold up
				// this connection's acks or other subscriptions.
				s.deliver(f)
			}
		case *protocol.SubAck:
			c.mu.Lock()
			s := c.subs[f.Sid]
			c.mu.Unlock()
			if s != nil {
				s.acked(f, nil)
			}
		case *protocol.UnsubAck:
			c.mu.Lock()
			s := c.subs[f.Sid]
			delete(c.subs, f.Sid)
			c.mu.Unlock()
			if s != nil {
				s.end(nil)
			}
		case *protocol.Err:
			c.onErr(f)
		case *protocol.Ping:
			_ = c.send(&protocol.Pong{})
		}
	}
}

func (c *Client) onErr(f *protocol.Err) {
	e := f.AsError()
	switch {
	case f.Req != 0:
		c.finishPub(f.Req, PubAck{}, e)
	case f.Sid != 0:
		c.mu.Lock()
		s := c.subs[f.Sid]
		delete(c.subs, f.Sid)
		c.mu.Unlock()
		if s != nil {
			s.acked(nil, e)
			s.end(e)
		}
	case f.Fatal:
		c.fail(fmt.Errorf("%w: %w", ErrConnectionLost, e))
	default:
		c.opts.log.Warn().Err(e).Msg("server error")
	}
}

// fail ends the connection: every pending publish and subscription gets err.
func (c *Client) fail(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		close(c.done)
		pubs, subs := c.pubs, c.subs
		c.pubs, c.subs = map[uint64]*PubFuture{}, map[uint64]*Subscription{}
		c.mu.Unlock()
		_ = c.conn.Close()
		for _, p := range pubs {
			p.finish(PubAck{}, err)
			<-c.window
		}
		for _, s := range subs {
			s.acked(nil, err)
			s.end(err)
		}
	})
}

func (c *Client) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// Close closes the connection. Pending publishes fail with ErrClosed (they may or may not have been
// stored) and subscriptions end with ErrClosed. Safe to call more than once.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	return nil
}

// Done is closed when the connection has ended (Close or a broken connection); Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.closeErr()
	default:
		return nil
	}
}
