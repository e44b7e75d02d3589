package testkit

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// History records what a workload did and saw: every publish attempt with its outcome, and every
// message each subscriber received. Checkers judge it against the replicas' logs. Safe for concurrent
// use by publishers and subscribers.
type History struct {
	mu        sync.Mutex
	start     time.Time
	pubs      []PubOp
	subs      map[string]*SubRecord
	consumers map[consumerKey]*ConsumerDecl // by channel and name
	cops      []ConsumerOp
	events    []string
}

// PubOp is one publish attempt. Payloads are unique per idempotency key (Key == Payload in the
// testkit's publishers), so a payload found in a log names the publish it came from.
type PubOp struct {
	Publisher string
	Index     int // the publisher's message number (attempts of one message share it)
	Attempt   int
	Channel   string
	Key       string // idempotency key ("" for none)
	Payload   string
	Start     time.Duration // since the history started
	End       time.Duration
	Seq       uint64 // acked seq (0 unless Acked)
	Dup       bool   // acked as a duplicate of an earlier publish with Key
	Acked     bool
	Err       string // why it was not acked (outcome unknown for timeouts and lost connections)
}

// SubRecord is what one subscriber saw of one channel, in the order it saw it.
type SubRecord struct {
	Name    string
	Channel string
	Seqs    []uint64
	Payload []string
	Ended   string // set when the subscription ended for good, with its error
}

// Delivered is a message as the checkers see it in a replica's log.
type Delivered struct {
	Seq     uint64
	Payload string
	Headers map[string]string // nil when it has none
}

// NewHistory returns an empty history; times in it are relative to now.
func NewHistory() *History {
	return &History{start: time.Now(), subs: map[string]*SubRecord{}, consumers: map[consumerKey]*ConsumerDecl{}}
}

func (h *History) since() time.Duration { return time.Since(h.start) }

// AddPub records a finished publish attempt.
func (h *History) AddPub(op PubOp) {
	h.mu.Lock()
	h.pubs = append(h.pubs, op)
	h.mu.Unlock()
}

// AddDelivery records that subscriber name received (seq, payload) on channel.
func (h *History) AddDelivery(name, channel string, seq uint64, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.sub(name, channel)
	r.Seqs = append(r.Seqs, seq)
	r.Payload = append(r.Payload, payload)
}

// EndSub records that subscriber name's subscription ended for good.
func (h *History) EndSub(name, channel, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sub(name, channel).Ended = why
}

// sub returns subscriber name's record, creating it; h.mu must be held.
func (h *History) sub(name, channel string) *SubRecord {
	r := h.subs[name]
	if r == nil {
		r = &SubRecord{Name: name, Channel: channel}
		h.subs[name] = r
	}
	return r
}

// Event records a line of context (nemesis actions, phases) shown around violations.
func (h *History) Event(format string, args ...any) {
	h.mu.Lock()
	h.events = append(h.events, fmt.Sprintf("%8.3fs ", h.since().Seconds())+fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// Pubs returns a copy of the publish attempts, in the order they finished.
func (h *History) Pubs() []PubOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]PubOp(nil), h.pubs...)
}

// Subs returns a copy of the subscribers' records, by name.
func (h *History) Subs() []SubRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]SubRecord, 0, len(h.subs))
	for _, r := range h.subs {
		c := *r
		c.Seqs = append([]uint64(nil), r.Seqs...)
		c.Payload = append([]string(nil), r.Payload...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Channels returns the channels published to, subscribed to, consumed and dead-lettered to, sorted.
func (h *History) Channels() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := map[string]bool{}
	for _, p := range h.pubs {
		set[p.Channel] = true
	}
	for _, s := range h.subs {
		set[s.Channel] = true
	}
	for _, c := range h.consumers {
		set[c.Channel] = true
		if c.DeadLetter != "" {
			set[c.DeadLetter] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Stats summarises the history: publish attempts, acked messages, errors, deliveries.
func (h *History) Stats() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	acked, errs, dups, deliveries := 0, 0, 0, 0
	for _, p := range h.pubs {
		switch {
		case p.Acked && p.Dup:
			dups++
			acked++
		case p.Acked:
			acked++
		default:
			errs++
		}
	}
	for _, s := range h.subs {
		deliveries += len(s.Seqs)
	}
	out := fmt.Sprintf("%d publish attempts, %d acked (%d as duplicates), %d failed; %d deliveries to %d subscribers",
		len(h.pubs), acked, dups, errs, deliveries, len(h.subs))
	if len(h.consumers) == 0 {
		return out
	}
	n := map[ConsumerOpKind]int{}
	outcomes := map[Outcome]int{}
	redelivered := 0
	members := map[string]bool{}
	for _, op := range h.cops {
		n[op.Kind]++
		if op.Kind == OpAck {
			outcomes[op.Outcome]++
		}
		if op.Kind == OpDeliver && op.Attempt > 1 {
			redelivered++
		}
		members[op.Consumer+"/"+op.Member] = true
	}
	return out + fmt.Sprintf("; %d consumers, %d members, %d joins: %d deliveries (%d redeliveries), %d acks (%d confirmed, %d unknown, %d failed), %d naks",
		len(h.consumers), len(members), n[OpJoin], n[OpDeliver], redelivered, n[OpAck], outcomes[Confirmed], outcomes[Unknown], outcomes[Failed], n[OpNak])
}

// around returns the history lines near seq on channel and near time t: the publishes acked at seqs
// within 3 of it, the attempts of the publish whose payload is payload, and the events within 1.5 s of t.
func (h *History) around(channel string, seq uint64, payload string, t time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.pubs {
		near := p.Acked && p.Channel == channel && p.Seq+3 >= seq && p.Seq <= seq+3
		if near || (payload != "" && p.Payload == payload) {
			out = append(out, p.String())
		}
	}
	for _, e := range h.events {
		var at float64
		if _, err := fmt.Sscanf(e, "%fs", &at); err == nil && t >= 0 {
			if d := time.Duration(at*float64(time.Second)) - t; d > -1500*time.Millisecond && d < 1500*time.Millisecond {
				out = append(out, "event "+e)
			}
		}
	}
	return out
}

func (p PubOp) String() string {
	res := p.Err
	if p.Acked {
		res = fmt.Sprintf("acked seq %d", p.Seq)
		if p.Dup {
			res += " (duplicate)"
		}
	}
	return fmt.Sprintf("%8.3fs-%.3fs publish %s#%d attempt %d to %s key %q: %s",
		p.Start.Seconds(), p.End.Seconds(), p.Publisher, p.Index, p.Attempt, p.Channel, p.Key, res)
}

// ConsumerDecl is a durable consumer the history's members belong to, as the first member that ran
// declared it: the checkers account for its channel's messages from From on.
type ConsumerDecl struct {
	Channel    string
	Name       string
	Mode       string // shared or exclusive
	DeadLetter string // "" for none
	From       uint64 // the first seq it hands out; 0: the channel's first
}

type consumerKey struct{ channel, name string }

// ConsumerOpKind says what a ConsumerOp records.
type ConsumerOpKind string

// The kinds of consumer ops.
const (
	OpJoin    ConsumerOpKind = "join"    // the member joined (Outcome Confirmed) or failed to; or its membership ended (Err)
	OpDeliver ConsumerOpKind = "deliver" // the member's handler got a delivery
	OpAck     ConsumerOpKind = "ack"     // an Ack and its outcome
	OpNak     ConsumerOpKind = "nak"     // a Nak and its outcome
)

// Outcome is what a member knows of a request it made.
type Outcome string

// Outcomes of acks, naks and joins.
const (
	Confirmed Outcome = "confirmed" // answered without error: for an ack, it is durable
	Failed    Outcome = "failed"    // known not to have taken effect (never sent, or refused)
	Unknown   Outcome = "unknown"   // may or may not have taken effect (timeout, connection lost)
)

// ConsumerOp is one thing a member of a durable consumer did or saw.
type ConsumerOp struct {
	Kind     ConsumerOpKind
	Consumer string
	Member   string
	Channel  string
	Seq      uint64 // deliver, ack, nak
	Payload  string // deliver
	Attempt  int    // deliver, ack, nak: the delivery's attempt
	// Start is when the handler got the delivery (deliver) or when the request was sent; End is when
	// its answer came (End == Start for deliveries). Both since the history started.
	Start, End time.Duration
	Outcome    Outcome // ack, nak, join
	Err        string  // why not Confirmed; for a join with Outcome "", why the membership ended
}

// DeclareConsumer records the consumer a member belongs to; the first declaration of a channel's
// consumer name wins (as the broker keeps the settings of the member that created it).
func (h *History) DeclareConsumer(d ConsumerDecl) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := consumerKey{d.Channel, d.Name}
	if h.consumers[k] == nil {
		h.consumers[k] = &d
	}
}

// AddConsumerOp records a member's op.
func (h *History) AddConsumerOp(op ConsumerOp) {
	h.mu.Lock()
	h.cops = append(h.cops, op)
	h.mu.Unlock()
}

// Consumers returns the declared consumers, sorted by channel and name.
func (h *History) Consumers() []ConsumerDecl {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ConsumerDecl, 0, len(h.consumers))
	for _, c := range h.consumers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ConsumerOps returns a copy of the members' ops, in the order they were recorded.
func (h *History) ConsumerOps() []ConsumerOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ConsumerOp(nil), h.cops...)
}

// aroundConsumer returns the history lines of consumer name's seq on channel (its deliveries, acks and
// naks, and the publishes of that seq) and the events within 1.5 s of t.
func (h *History) aroundConsumer(channel, name string, seq uint64, t time.Duration) []string {
	h.mu.Lock()
	var out []string
	for _, op := range h.cops {
		if op.Channel == channel && op.Consumer == name && op.Seq == seq && op.Kind != OpJoin {
			out = append(out, op.String())
		}
	}
	h.mu.Unlock()
	return append(out, h.around(channel, seq, "", t)...)
}

func (op ConsumerOp) String() string {
	who := fmt.Sprintf("consumer %s member %s", op.Consumer, op.Member)
	switch op.Kind {
	case OpDeliver:
		return fmt.Sprintf("%8.3fs deliver %s seq %d attempt %d %q", op.Start.Seconds(), who, op.Seq, op.Attempt, op.Payload)
	case OpJoin:
		res := string(op.Outcome)
		if op.Outcome == "" {
			res = "membership ended"
		}
		if op.Err != "" {
			res += ": " + op.Err
		}
		return fmt.Sprintf("%8.3fs-%.3fs join %s on %s: %s", op.Start.Seconds(), op.End.Seconds(), who, op.Channel, res)
	default:
		res := string(op.Outcome)
		if op.Err != "" {
			res += ": " + op.Err
		}
		return fmt.Sprintf("%8.3fs-%.3fs %s %s seq %d attempt %d: %s", op.Start.Seconds(), op.End.Seconds(), op.Kind, who, op.Seq, op.Attempt, res)
	}
}
