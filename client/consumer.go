package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sampan-io/sampan/protocol"
)

// Durable consumers: a named cursor the broker keeps on a channel. The broker hands each message to one
// member of the consumer (shared mode) or to its one active member (exclusive mode) and hands it out
// again until a member acks or terminates it, or it had max-deliver attempts (then it goes to the
// dead-letter channel). Delivery is at-least-once: after a failover, a reconnect or an ack wait a
// message can come again; an ack Ack returned from without error is never undone.

// Mode is how a consumer's members share its messages.
type Mode string

// Consumer modes.
const (
	// Shared hands each message to one of the connected members (a work queue).
	Shared Mode = "shared"
	// Exclusive hands messages, in seq order, to one member at a time; another takes over when it leaves.
	Exclusive Mode = "exclusive"
)

// ConsumerOption sets a consumer's settings. The settings take effect when the consumer is created (by
// the first member that joins, or by `sampan consumer add`); a consumer that exists keeps its own.
type ConsumerOption func(*consumerOptions)

type consumerOptions struct {
	mode          Mode
	ackWait       time.Duration
	maxDeliver    int
	deadLetter    string
	maxAckPending int
	start         Start
	window        int
}

// WithMode sets shared (the default) or exclusive mode.
func WithMode(m Mode) ConsumerOption { return func(o *consumerOptions) { o.mode = m } }

// WithAckWait sets how long a delivery may stay unsettled before it is handed out again (default 30 s).
func WithAckWait(d time.Duration) ConsumerOption { return func(o *consumerOptions) { o.ackWait = d } }

// WithMaxDeliver bounds the deliveries of one message; past it, it is dead-lettered (0: no bound).
func WithMaxDeliver(n int) ConsumerOption { return func(o *consumerOptions) { o.maxDeliver = n } }

// WithDeadLetter names the channel messages go to after max-deliver attempts (default: none, they are
// dropped and counted).
func WithDeadLetter(channel string) ConsumerOption {
	return func(o *consumerOptions) { o.deadLetter = channel }
}

// WithMaxAckPending bounds how far past the oldest unsettled message deliveries go (default 1000).
func WithMaxAckPending(n int) ConsumerOption { return func(o *consumerOptions) { o.maxAckPending = n } }

// WithConsumerStart sets where a new consumer starts (default StartNew: after the channel's last message).
func WithConsumerStart(s Start) ConsumerOption { return func(o *consumerOptions) { o.start = s } }

// WithConsumerWindow bounds the deliveries this member holds unsettled (default: the server's window).
func WithConsumerWindow(n int) ConsumerOption { return func(o *consumerOptions) { o.window = n } }

// Consumer is a handle on a durable consumer of a channel. It joins the consumer as a member when
// Consume or Fetch is first called, and leaves on Close.
type Consumer struct {
	c       *Client
	channel string
	name    string
	opts    consumerOptions

	mu  sync.Mutex
	sub *consumerSub // the membership, once joined
}

// Consumer returns a handle on consumer name of channel.
func (c *Client) Consumer(ctx context.Context, channel, name string, opts ...ConsumerOption) (*Consumer, error) {
	o := consumerOptions{mode: Shared}
	for _, f := range opts {
		f(&o)
	}
	f := &protocol.Consume{Sid: 1, Channel: channel, Consumer: name, Mode: string(o.mode), DeadLetter: o.deadLetter}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if _, err := c.current(ctx); err != nil {
		return nil, err
	}
	return &Consumer{c: c, channel: channel, name: name, opts: o}, nil
}

// Delivery is a message handed to this member. Settle it once with Ack, Nak, Term (InProgress may come
// before).
type Delivery struct {
	Message
	// Attempt is the delivery's count: 1 the first time, more when it is handed out again.
	Attempt int
	cs      *consumerSub
}

// Ack settles the delivery as processed and returns once that is durable: it is not delivered again.
func (d *Delivery) Ack(ctx context.Context) error {
	return d.cs.settle(ctx, d.Seq, protocol.AckDone, 0, true)
}

// AckAsync settles the delivery as processed without waiting for the broker: it may still come again
// if the broker fails before it recorded the ack.
func (d *Delivery) AckAsync() error {
	return d.cs.settle(context.Background(), d.Seq, protocol.AckDone, 0, false)
}

// Nak hands the delivery back, to be delivered again after delay (0: at once).
func (d *Delivery) Nak(ctx context.Context, delay time.Duration) error {
	return d.cs.settle(ctx, d.Seq, protocol.AckNak, delay, true)
}

// InProgress tells the broker the delivery is still being worked on: its ack wait starts again.
func (d *Delivery) InProgress(ctx context.Context) error {
	return d.cs.settle(ctx, d.Seq, protocol.AckInProgress, 0, true)
}

// Term settles the delivery as never to be delivered again, though it was not processed; returns once
// that is durable.
func (d *Delivery) Term(ctx context.Context) error {
	return d.cs.settle(ctx, d.Seq, protocol.AckTerm, 0, true)
}

// consumerSub is a membership: one CONSUME on the connection to the channel's node when the client
// routes (the server answers ERR moved to a CONSUME sent elsewhere, after a ROUTE), else on the primary
// connection (which forwards it), resent on the next connection after a reconnect.
type consumerSub struct {
	c   *Client
	k   *Consumer
	sid uint64 // (c.mu)
	l   *link  // the connection it was sent on; nil between connections (c.mu)
	// moveTo: the node address it waits to join on (its connection is being opened); moves counts
	// the ERR moved it followed; direct: join through the primary, not to be moved (c.mu).
	moveTo string
	moves  int
	direct bool
	ackc   chan struct{}
	once   sync.Once
	err    error // why joining failed (written once, before ackc closes)
	endE   error // why it ended (written once, before ended closes)

	qmu    sync.Mutex
	queue  []*Delivery
	notify chan struct{}
	ended  chan struct{}
	endMu  sync.Once
}

func (k *Consumer) frame(sid uint64) *protocol.Consume {
	o := &k.opts
	f := &protocol.Consume{Sid: sid, Channel: k.channel, Consumer: k.name, Mode: string(o.mode),
		AckWait: uint32(o.ackWait / time.Millisecond), MaxDeliver: uint32(o.maxDeliver), DeadLetter: o.deadLetter,
		MaxAckPending: uint32(o.maxAckPending), Start: o.start.kind, Seq: o.start.seq, Window: uint32(o.window)}
	if o.start.kind == protocol.StartTime {
		f.Time = o.start.time.UnixNano()
	}
	return f
}

// join joins the consumer (once) and waits for the server's answer.
func (k *Consumer) join(ctx context.Context) (*consumerSub, error) {
	k.mu.Lock()
	cs := k.sub
	if cs == nil || cs.ended2() {
		cs = &consumerSub{c: k.c, k: k, ackc: make(chan struct{}), notify: make(chan struct{}, 1), ended: make(chan struct{})}
		c := k.c
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			k.mu.Unlock()
			return nil, c.err
		}
		c.nextSid++
		cs.sid = c.nextSid
		c.consumers[cs.sid] = cs
		cs.l = c.linkFor(k.channel)
		if cs.l != nil {
			_ = cs.l.send(cs.frameLocked())
		}
		c.mu.Unlock()
		k.sub = cs
	}
	k.mu.Unlock()
	select {
	case <-cs.ackc:
		if cs.err != nil {
			return nil, cs.err
		}
		return cs, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// frameLocked is the CONSUME that joins cs. c.mu is held.
func (cs *consumerSub) frameLocked() *protocol.Consume {
	f := cs.k.frame(cs.sid)
	f.Direct = cs.direct
	return f
}

// maxMoves bounds the ERR moved a membership follows before it joins through the primary (direct):
// an actor moving between nodes while the member follows must not keep it from joining.
const maxMoves = 2

// moveLocked joins cs again, under a new sid, where its channel is served (the server answered ERR
// moved after a ROUTE): on the node's connection once it is open; through the primary, direct, when
// there is no route or the node cannot be reached. c.mu is held.
func (c *Client) moveLocked(cs *consumerSub) {
	delete(c.consumers, cs.sid)
	c.nextSid++
	cs.sid = c.nextSid
	c.consumers[cs.sid] = cs
	cs.moves++
	var nc *nodeConn
	r := c.routes[cs.k.channel]
	if r != nil && r.addr != "" && cs.moves <= maxMoves {
		nc = c.nodes[r.addr]
	}
	switch {
	case nc != nil && nc.l != nil && nc.l.alive():
		cs.l = nc.l
		_ = cs.l.send(cs.frameLocked())
	case nc != nil && (nc.dialing || !time.Now().Before(nc.retryAt)):
		cs.l, cs.moveTo = nil, r.addr
		c.dialLocked(r.addr)
	default:
		c.joinDirectLocked(cs)
	}
}

// joinDirectLocked joins cs through the primary, not to be moved (nil primary: when it is back).
// c.mu is held.
func (c *Client) joinDirectLocked(cs *consumerSub) {
	cs.direct, cs.moveTo = true, ""
	cs.l = c.link
	if cs.l != nil {
		_ = cs.l.send(cs.frameLocked())
	}
}

// movedLocked sends the joins that waited for the connection to addr: on l, or direct through the
// primary when it could not be opened (l nil). c.mu is held.
func (c *Client) movedLocked(addr string, l *link) {
	for sid, cs := range c.consumers {
		if cs.sid != sid || cs.moveTo != addr {
			continue
		}
		if l == nil {
			c.joinDirectLocked(cs)
			continue
		}
		cs.moveTo, cs.l = "", l
		_ = l.send(cs.frameLocked())
	}
}

func (cs *consumerSub) ended2() bool {
	select {
	case <-cs.ended:
		return true
	default:
		return false
	}
}

func (cs *consumerSub) joined(err error) {
	cs.once.Do(func() {
		cs.err = err
		close(cs.ackc)
	})
}

func (cs *consumerSub) end(err error) {
	cs.joined(err)
	cs.endMu.Do(func() {
		cs.endE = err
		close(cs.ended)
	})
}

func (cs *consumerSub) deliver(m *protocol.Msg) {
	d := &Delivery{Message: Message{Channel: m.Channel, Seq: m.Seq, Time: time.Unix(0, m.Time), Headers: m.Headers, Payload: m.Payload},
		Attempt: int(m.Attempt), cs: cs}
	cs.qmu.Lock()
	cs.queue = append(cs.queue, d)
	cs.qmu.Unlock()
	select {
	case cs.notify <- struct{}{}:
	default:
	}
}

// take returns up to n queued deliveries.
func (cs *consumerSub) take(n int) []*Delivery {
	cs.qmu.Lock()
	defer cs.qmu.Unlock()
	n = min(n, len(cs.queue))
	out := append([]*Delivery(nil), cs.queue[:n]...)
	cs.queue = cs.queue[n:]
	return out
}

// settle sends an ACK; with wait it waits for the server's ACKED (or ERR).
func (cs *consumerSub) settle(ctx context.Context, seq uint64, kind protocol.AckKind, delay time.Duration, wait bool) error {
	c := cs.c
	c.mu.Lock()
	l, sid := cs.l, cs.sid
	if l == nil || c.consumers[sid] != cs {
		c.mu.Unlock()
		return fmt.Errorf("%w: the consumer is between connections; the delivery will come again", ErrConnectionLost)
	}
	f := &protocol.Ack{Sid: sid, Seq: seq, Kind: kind, Delay: uint32(delay / time.Millisecond)}
	var done chan error
	if wait {
		c.nextReq++
		f.Req = c.nextReq
		done = make(chan error, 1)
		c.acks[f.Req] = &pendingAck{l: l, done: done}
	}
	err := l.send(f)
	if err != nil && wait {
		delete(c.acks, f.Req)
	}
	c.mu.Unlock()
	if err != nil || !wait {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.acks, f.Req)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// pendingAck is an ACK waiting for its answer.
type pendingAck struct {
	l    *link
	done chan error
}

// finishAck answers a pending ACK; false when req is not one.
func (c *Client) finishAck(req uint64, err error) bool {
	c.mu.Lock()
	p := c.acks[req]
	delete(c.acks, req)
	c.mu.Unlock()
	if p == nil {
		return false
	}
	p.done <- err
	return true
}

// Fetch returns up to n deliveries: it waits until at least one is there or ctx ends, then returns what
// has arrived. The member holds at most its window of deliveries unsettled: settle them to get more.
func (k *Consumer) Fetch(ctx context.Context, n int) ([]*Delivery, error) {
	if n <= 0 {
		return nil, errors.New("sampan: fetch needs n >= 1")
	}
	cs, err := k.join(ctx)
	if err != nil {
		return nil, err
	}
	for {
		if out := cs.take(n); len(out) > 0 {
			return out, nil
		}
		select {
		case <-cs.notify:
		case <-cs.ended:
			if out := cs.take(n); len(out) > 0 {
				return out, nil
			}
			return nil, cs.endErr()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (cs *consumerSub) endErr() error {
	if cs.err != nil {
		return cs.err
	}
	if cs.endE != nil {
		return cs.endE
	}
	return ErrClosed
}

// Consume joins the consumer and calls handler with each delivery, one at a time, on its own goroutine,
// until ctx ends or Close. The handler settles each delivery (Ack, Nak, Term); one it does not settle
// comes again after the ack wait. Consume returns once the server confirmed the membership; Done is
// closed when the handler goroutine has returned.
func (k *Consumer) Consume(ctx context.Context, handler func(*Delivery)) error {
	cs, err := k.join(ctx)
	if err != nil {
		return err
	}
	go func() {
		for {
			// Drain the queue before waiting: one wake-up may stand for many deliveries.
			for ds := cs.take(64); len(ds) > 0; ds = cs.take(64) {
				for _, d := range ds {
					handler(d)
				}
			}
			select {
			case <-cs.notify:
			case <-cs.ended:
				for _, d := range cs.take(1 << 30) {
					handler(d)
				}
				return
			case <-ctx.Done():
				_ = k.Close()
				return
			}
		}
	}()
	return nil
}

// Close leaves the consumer: what this member holds unsettled goes to the other members at once. The
// consumer itself stays (its position is kept by the broker).
func (k *Consumer) Close() error {
	k.mu.Lock()
	cs := k.sub
	k.sub = nil
	k.mu.Unlock()
	if cs == nil {
		return nil
	}
	c := k.c
	c.mu.Lock()
	l, sid := cs.l, cs.sid
	delete(c.consumers, sid)
	c.mu.Unlock()
	if l != nil {
		_ = l.send(&protocol.Unsub{Sid: sid})
	}
	cs.end(nil)
	return nil
}

// Done is closed when the membership has ended (Close, the consumer removed, or the client closed).
func (k *Consumer) Done() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sub == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return k.sub.ended
}
