package client

import (
	"context"
	"errors"

	"github.com/sampan-io/sampan/protocol"
)

// PubAck is the server's acknowledgement of a durable publish.
type PubAck struct {
	Seq       uint64 // the message's seq in its channel
	Duplicate bool   // the idempotency key was seen before: Seq is the first publish's, nothing was stored
}

// PubFuture is the pending result of PublishAsync.
type PubFuture struct {
	done chan struct{}
	ack  PubAck
	err  error
}

// Done is closed once the result is known.
func (f *PubFuture) Done() <-chan struct{} { return f.done }

// Result returns the ack or the error; it must be called after Done is closed (it blocks until then).
func (f *PubFuture) Result() (PubAck, error) {
	<-f.done
	return f.ack, f.err
}

// Wait waits for the result or for ctx to end (which does not cancel the publish).
func (f *PubFuture) Wait(ctx context.Context) (PubAck, error) {
	select {
	case <-f.done:
		return f.ack, f.err
	case <-ctx.Done():
		return PubAck{}, ctx.Err()
	}
}

func (f *PubFuture) finish(a PubAck, err error) {
	f.ack, f.err = a, err
	close(f.done)
}

// Publish stores payload in channel and returns its seq once it is durable (fsynced on a quorum of the
// channel's replicas). Errors: *Error from the server (ErrInvalidChannel, ErrPayloadTooLarge, ErrTimeout
// meaning the outcome is unknown, ErrUnavailable, ...), ErrConnectionLost, ErrClosed, or ctx's error. A
// publish whose ctx ends after it was sent may still be stored: use WithIdempotencyKey to retry safely.
func (c *Client) Publish(ctx context.Context, channel string, payload []byte, opts ...PubOption) (uint64, error) {
	f, err := c.PublishAsync(ctx, channel, payload, opts...)
	if err != nil {
		return 0, err
	}
	a, err := f.Wait(ctx)
	return a.Seq, err
}

// PublishAsync sends a publish without waiting for its ack and returns its future. It blocks while the
// in-flight window (WithMaxInflight, capped by the server) is full, and while the client is
// reconnecting, until there is room and a connection or ctx ends. Acks of one channel arrive in publish
// order. A publish in flight when its connection breaks fails with ErrConnectionLost: its outcome is
// unknown (use an idempotency key to retry safely).
func (c *Client) PublishAsync(ctx context.Context, channel string, payload []byte, opts ...PubOption) (*PubFuture, error) {
	var po pubOptions
	for _, o := range opts {
		o(&po)
	}
	if err := protocol.ValidateChannel(channel); err != nil {
		return nil, err
	}
	if max := c.Limits().MaxPayload; max > 0 && uint32(len(payload)) > max {
		return nil, protocol.NewError(protocol.CodePayloadTooLarge, "payload %d bytes over the server maximum %d", len(payload), max)
	}
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.closeErr()
	}
	f := &PubFuture{done: make(chan struct{})}
	for {
		l, req, err := c.startPub(ctx, channel, f)
		if err != nil {
			<-c.window
			return nil, err
		}
		err = l.send(&protocol.Pub{Req: req, Channel: channel, Payload: payload, Headers: po.headers, IdemKey: po.idemKey})
		if err == nil {
			return f, nil
		}
		// Never written: take it back (unless the link's failure already answered it) and try again
		// on another connection.
		c.mu.Lock()
		mine := c.takePubLocked(req) != nil
		c.mu.Unlock()
		if !mine {
			return f, nil
		}
		if !errors.Is(err, errDisconnected) {
			<-c.window
			return nil, err
		}
	}
}

func (c *Client) finishPub(req uint64, a PubAck, err error) {
	c.mu.Lock()
	p := c.takePubLocked(req)
	c.mu.Unlock()
	if p != nil {
		p.f.finish(a, err)
		<-c.window
	}
}
