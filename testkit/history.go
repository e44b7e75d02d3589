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
	mu     sync.Mutex
	start  time.Time
	pubs   []PubOp
	subs   map[string]*SubRecord
	events []string
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
}

// NewHistory returns an empty history; times in it are relative to now.
func NewHistory() *History { return &History{start: time.Now(), subs: map[string]*SubRecord{}} }

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

// Channels returns the channels published to, sorted.
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
	return fmt.Sprintf("%d publish attempts, %d acked (%d as duplicates), %d failed; %d deliveries to %d subscribers",
		len(h.pubs), acked, dups, errs, deliveries, len(h.subs))
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
