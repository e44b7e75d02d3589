package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sampan-io/sampan/protocol"
)

// Message is a message delivered to a subscription.
type Message struct {
	Channel string
	Seq     uint64
	Time    time.Time // when the broker accepted it (proposal time)
	Headers map[string]string
	Payload []byte
}

// Start is where a subscription begins.
type Start struct {
	kind protocol.StartKind
	seq  uint64
	time time.Time
}

// StartNew delivers only messages published after the subscription is set up (the default; "latest").
func StartNew() Start { return Start{kind: protocol.StartNew} }

// StartEarliest delivers from the oldest message still retained.
func StartEarliest() Start { return Start{kind: protocol.StartEarliest} }

// StartAtSeq delivers from seq (or the oldest retained message if seq was deleted).
func StartAtSeq(seq uint64) Start { return Start{kind: protocol.StartSeq, seq: seq} }

// StartAtTime delivers from the first message accepted at or after t.
func StartAtTime(t time.Time) Start { return Start{kind: protocol.StartTime, time: t} }

// Kind is the start's protocol kind.
func (s Start) Kind() protocol.StartKind { return s.kind }

// Seq is the seq of a StartAtSeq (0 for the others).
func (s Start) Seq() uint64 { return s.seq }

// UnixNano is the time of a StartAtTime in unix nanoseconds (0 for the others).
func (s Start) UnixNano() int64 {
	if s.kind != protocol.StartTime {
		return 0
	}
	return s.time.UnixNano()
}

// ParseStart parses the CLI form: "earliest", "latest" or "new" (new messages only), a seq number, or an
// RFC 3339 time.
func ParseStart(s string) (Start, error) {
	switch strings.ToLower(s) {
	case "", "latest", "new":
		return StartNew(), nil
	case "earliest", "first":
		return StartEarliest(), nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return Start{}, fmt.Errorf("sampan: start seq must be >= 1")
		}
		return StartAtSeq(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return StartAtTime(t), nil
	}
	return Start{}, fmt.Errorf("sampan: start %q: want earliest, latest, a seq number or an RFC 3339 time", s)
}

// Handler receives a subscription's messages, one at a time, in seq order, on the subscription's own
// goroutine. A slow handler slows only its own subscription: the server stops sending to it once a window
// of messages is waiting (flow control) and resumes from the store as the handler catches up. A handler
// may call the client (Publish, Subscribe, Unsubscribe).
type Handler func(*Message)

// Subscription is an active subscription.
type Subscription struct {
	c       *Client
	sid     uint64 // current id, on connection l; a move gives it a new one (c.mu)
	l       *link  // the connection serving it; nil between connections (c.mu)
	channel string

	start    Start
	win      uint32 // window asked for
	ackc     chan struct{}
	ackOnce  sync.Once
	startSeq uint64
	window   int
	ackErr   error

	qmu    sync.Mutex
	queue  []*protocol.Msg // received, not yet handled; bounded by the window
	queued uint64          // highest seq queued: messages at or below it (a resumption's overlap) are dropped
	// dropped: duplicates dropped that came under sid dropSid, the current sid when they came; their
	// window slots are returned with the next credit (the server counted them against that sid).
	dropped  int
	dropSid  uint64
	notify   chan struct{}
	stopping chan struct{} // Unsubscribe called: stop delivering
	stopOnce sync.Once
	ended    chan struct{} // no more messages will arrive
	endOnce  sync.Once
	err      error
	done     chan struct{} // handler goroutine returned
	last     atomic.Uint64
}

// Subscribe subscribes handler to channel from start and returns once the server confirmed it. Messages
// arrive in seq order with no gap and no duplicate (gaps only where retention deleted messages).
func (c *Client) Subscribe(ctx context.Context, channel string, start Start, handler Handler, opts ...SubOption) (*Subscription, error) {
	var so subOptions
	for _, o := range opts {
		o(&so)
	}
	if err := protocol.ValidateChannel(channel); err != nil {
		return nil, err
	}
	s := &Subscription{c: c, channel: channel, start: start, win: so.window, ackc: make(chan struct{}), notify: make(chan struct{}, 1),
		stopping: make(chan struct{}), ended: make(chan struct{}), done: make(chan struct{})}
	if _, err := c.current(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextSid++
	s.sid = c.nextSid
	c.subs[s.sid] = s
	// On the channel's node when there is a route there, else the primary (nil if it went down since:
	// then it is sent when it is back). If its connection breaks before SUBACK, it is sent again on the
	// next one.
	s.l = c.linkFor(channel)
	if s.l != nil {
		_ = s.l.send(s.resumeFrameLocked())
	}
	c.mu.Unlock()
	select {
	case <-s.ackc:
		if s.ackErr != nil {
			close(s.done)
			return nil, s.ackErr
		}
		go s.run(handler)
		return s, nil
	case <-ctx.Done():
		close(s.done)
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Unsubscribe(uctx)
		return nil, ctx.Err()
	}
}

func (s *Subscription) run(h Handler) {
	defer close(s.done)
	// Credit goes back to the sid each message came under (the server counted it against that one's
	// window), and only while that sid is current: a moved subscription's old sid is being
	// unsubscribed, and crediting the new sid for messages it never sent would be capped by the
	// server and leave the new sid's own messages unpaid, shrinking its window for good.
	credit, creditSid := 0, uint64(0)
	batch := max(1, s.window/4)
	giveCredit := func() {
		if credit > 0 {
			s.c.creditSub(s, creditSid, credit)
			credit = 0
		}
	}
	for {
		s.qmu.Lock()
		var m *protocol.Msg
		if len(s.queue) > 0 {
			m = s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
		}
		dropped, dropSid := s.dropped, s.dropSid
		s.dropped = 0
		s.qmu.Unlock()
		if dropped > 0 {
			if dropSid != creditSid {
				giveCredit()
				creditSid = dropSid
			}
			credit += dropped
		}
		select {
		case <-s.stopping:
			return
		default:
		}
		if m == nil {
			giveCredit() // caught up: let the server send more right away
			select {
			case <-s.notify:
				continue
			case <-s.stopping:
				return
			case <-s.ended:
				s.qmu.Lock()
				empty := len(s.queue) == 0
				s.qmu.Unlock()
				if empty {
					return
				}
				continue // hand over what arrived before the end
			}
		}
		if m.Sid != creditSid {
			giveCredit()
			creditSid = m.Sid
		}
		h(&Message{Channel: m.Channel, Seq: m.Seq, Time: time.Unix(0, m.Time), Headers: m.Headers, Payload: m.Payload})
		s.last.Store(m.Seq)
		if credit++; credit >= batch {
			giveCredit()
		}
	}
}

// deliver queues m, or drops it as a duplicate; current says m came under the subscription's current
// sid, whose window it then still takes a slot of.
func (s *Subscription) deliver(m *protocol.Msg, current bool) {
	s.qmu.Lock()
	if m.Seq <= s.queued {
		if current {
			if s.dropSid != m.Sid {
				s.dropped, s.dropSid = 0, m.Sid // what was dropped under an older sid is not owed
			}
			s.dropped++
		}
		s.qmu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
		return
	}
	s.queued = m.Seq
	s.queue = append(s.queue, m)
	s.qmu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// resumeFrameLocked is the SUB for this subscription on a (new) connection: after the last message
// received, else where the server first said it would start, else the original start position. c.mu
// is held (for s.sid).
func (s *Subscription) resumeFrameLocked() *protocol.Sub {
	f := &protocol.Sub{Sid: s.sid, Channel: s.channel, Window: s.win}
	s.qmu.Lock()
	queued := s.queued
	s.qmu.Unlock()
	switch {
	case queued > 0:
		f.Start, f.Seq = protocol.StartSeq, queued+1
	case s.acknowledged() && s.startSeq > 0:
		f.Start, f.Seq = protocol.StartSeq, s.startSeq
	default:
		f.Start, f.Seq = s.start.kind, s.start.seq
		if s.start.kind == protocol.StartTime {
			f.Time = s.start.time.UnixNano()
		}
	}
	return f
}

func (s *Subscription) acknowledged() bool {
	select {
	case <-s.ackc:
		return true
	default:
		return false
	}
}

func (s *Subscription) acked(a *protocol.SubAck, err error) {
	s.ackOnce.Do(func() {
		if a != nil {
			s.startSeq = a.StartSeq
			s.window = int(a.Window)
		}
		s.ackErr = err
		close(s.ackc)
	})
}

func (s *Subscription) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.ended)
	})
}

// Channel is the subscribed channel.
func (s *Subscription) Channel() string { return s.channel }

// StartSeq is the first seq the server will deliver (from SUBACK).
func (s *Subscription) StartSeq() uint64 { return s.startSeq }

// LastSeq is the seq of the last message the handler finished with (0 before the first).
func (s *Subscription) LastSeq() uint64 { return s.last.Load() }

// Done is closed when the subscription has ended and its handler has returned.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: nil after Unsubscribe, else the server's or connection's error.
func (s *Subscription) Err() error {
	select {
	case <-s.ended:
		return s.err
	default:
		return nil
	}
}

// Unsubscribe stops delivery at once (the handler gets no further message) and waits for the server's
// confirmation or ctx. It may be called from the handler.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	select {
	case <-s.ended:
		return nil
	default:
	}
	if err := s.c.sendSub(s, func(sid uint64) protocol.Frame { return &protocol.Unsub{Sid: sid} }); err != nil {
		// Between connections: nothing to tell a server, just forget it.
		s.c.mu.Lock()
		delete(s.c.subs, s.sid)
		s.c.mu.Unlock()
		s.end(nil)
		return nil
	}
	select {
	case <-s.ended:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
