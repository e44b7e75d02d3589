package testkit

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrViolation matches every *Violation with errors.Is.
var ErrViolation = errors.New("testkit: consistency violation")

// Violation is a broken promise found by a checker. It names the check, the channel, the seq and, where
// one is concerned, the replica node or the subscriber, with the history around it.
type Violation struct {
	// CheckHistory's: lost-ack, ack-mismatch, seq-reused, duplicate-store, replica-divergence,
	// replica-lag, log-gap, publisher-order, subscriber-duplicate, subscriber-gap, subscriber-mismatch,
	// subscriber-incomplete; CheckConsumers': consumer-lost, consumer-phantom, consumer-mismatch,
	// consumer-redelivered, dead-letter-mismatch, dead-letter-duplicate.
	Check      string
	Channel    string
	Seq        uint64
	Node       NodeID // the replica concerned, 0 if none
	Subscriber string // the subscriber concerned, "" if none
	Consumer   string // the durable consumer concerned, "" if none
	Member     string // the consumer's member concerned, "" if none
	Detail     string
	History    []string // the publishes near Seq and the events near the time it happened
}

func (v *Violation) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: channel %s seq %d", v.Check, v.Channel, v.Seq)
	if v.Node != 0 {
		fmt.Fprintf(&b, " on node %d", v.Node)
	}
	if v.Subscriber != "" {
		fmt.Fprintf(&b, " subscriber %s", v.Subscriber)
	}
	if v.Consumer != "" {
		fmt.Fprintf(&b, " consumer %s", v.Consumer)
	}
	if v.Member != "" {
		fmt.Fprintf(&b, " member %s", v.Member)
	}
	fmt.Fprintf(&b, ": %s", v.Detail)
	for _, l := range v.History {
		b.WriteString("\n    | " + l)
	}
	return b.String()
}

// Is makes errors.Is(v, ErrViolation) true.
func (v *Violation) Is(target error) bool { return target == ErrViolation }

// Logs is what every live replica holds: node -> channel -> messages in stored order. A node without a
// replica of a channel has no entry for it (an empty replica has an empty, non-nil entry).
type Logs map[NodeID]map[string][]Delivered

// CheckHistory judges a history against the replicas' logs, taken once the cluster converged (every
// fault healed, every node running, replicas caught up, subscribers caught up). It checks Sampan's
// promises:
//
//   - every acked publish is in every replica's log at its acked seq (a PUBACK means fsynced on a
//     quorum, so no crash may lose it), and the replicas hold the same messages at the same seqs;
//   - seqs in a log are contiguous from the first, and no seq is acked for two different messages;
//   - a publish retried with the same idempotency key is stored once, and each acked retry gets the
//     first one's seq;
//   - one publisher's acked publishes to a channel have increasing seqs (it waits for each ack);
//   - every subscriber saw its channel in seq order with no gap and no duplicate, matching the log,
//     up to the channel's last seq.
//
// It returns every violation found (nil when none), each naming the channel, the seq and the history
// around it. It is pure: the same history and logs give the same answer.
func CheckHistory(h *History, logs Logs) []*Violation {
	pubs := h.Pubs()
	var out []*Violation
	add := func(v *Violation, payload string, at float64) {
		v.History = h.around(v.Channel, v.Seq, payload, durSec(at))
		out = append(out, v)
	}
	for _, ch := range h.Channels() {
		// The replicas of ch: the nodes whose logs have an entry for it.
		var nodes []NodeID
		for id, l := range logs {
			if _, ok := l[ch]; ok {
				nodes = append(nodes, id)
			}
		}
		sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })
		// The reference log is the longest replica's; every replica must agree with it where both have
		// a seq, and (converged) have as much.
		var ref []Delivered
		var refNode NodeID
		bySeq := map[NodeID]map[uint64]string{}
		for _, id := range nodes {
			l := logs[id][ch]
			m := make(map[uint64]string, len(l))
			for i, d := range l {
				m[d.Seq] = d.Payload
				if i > 0 && d.Seq != l[i-1].Seq+1 {
					add(&Violation{Check: "log-gap", Channel: ch, Seq: d.Seq, Node: id,
						Detail: fmt.Sprintf("seq %d follows seq %d in the replica's log", d.Seq, l[i-1].Seq)}, "", -1)
				}
			}
			bySeq[id] = m
			if len(l) > len(ref) {
				ref, refNode = l, id
			}
		}
		refMap := bySeq[refNode]
		var last uint64
		if len(ref) > 0 {
			last = ref[len(ref)-1].Seq
		}
		for _, id := range nodes {
			l := logs[id][ch]
			for _, d := range l {
				if p, ok := refMap[d.Seq]; ok && p != d.Payload {
					add(&Violation{Check: "replica-divergence", Channel: ch, Seq: d.Seq, Node: id,
						Detail: fmt.Sprintf("holds %q where node %d holds %q", d.Payload, refNode, p)}, d.Payload, -1)
				}
			}
			var mine uint64
			if len(l) > 0 {
				mine = l[len(l)-1].Seq
			}
			if mine != last {
				add(&Violation{Check: "replica-lag", Channel: ch, Seq: mine, Node: id,
					Detail: fmt.Sprintf("replica ends at seq %d, node %d's at %d", mine, refNode, last)}, "", -1)
			}
		}

		// Acked publishes: on every replica, at their seq; one message per seq; one seq per key.
		ackedAt := map[uint64]string{}
		keySeq := map[string]uint64{}
		for _, p := range pubs {
			if p.Channel != ch || !p.Acked {
				continue
			}
			end := p.End.Seconds()
			if prev, ok := ackedAt[p.Seq]; ok && prev != p.Payload {
				add(&Violation{Check: "seq-reused", Channel: ch, Seq: p.Seq,
					Detail: fmt.Sprintf("acked for %q and for %q", prev, p.Payload)}, p.Payload, end)
			}
			ackedAt[p.Seq] = p.Payload
			if p.Key != "" {
				if s, ok := keySeq[p.Key]; ok && s != p.Seq {
					add(&Violation{Check: "seq-reused", Channel: ch, Seq: p.Seq,
						Detail: fmt.Sprintf("idempotency key %q acked with seq %d and seq %d", p.Key, s, p.Seq)}, p.Payload, end)
				}
				keySeq[p.Key] = p.Seq
			}
			for _, id := range nodes {
				got, ok := bySeq[id][p.Seq]
				switch {
				case !ok:
					add(&Violation{Check: "lost-ack", Channel: ch, Seq: p.Seq, Node: id,
						Detail: fmt.Sprintf("%q was acked at seq %d but the replica does not hold that seq", p.Payload, p.Seq)}, p.Payload, end)
				case got != p.Payload:
					add(&Violation{Check: "ack-mismatch", Channel: ch, Seq: p.Seq, Node: id,
						Detail: fmt.Sprintf("%q was acked at seq %d but the replica holds %q there", p.Payload, p.Seq, got)}, p.Payload, end)
				}
			}
		}
		// Stored once: a payload is unique per idempotency key.
		keyed := map[string]bool{}
		for _, p := range pubs {
			if p.Channel == ch && p.Key != "" {
				keyed[p.Payload] = true
			}
		}
		firstAt := map[string]uint64{}
		for _, d := range ref {
			if !keyed[d.Payload] {
				continue
			}
			if s, ok := firstAt[d.Payload]; ok {
				add(&Violation{Check: "duplicate-store", Channel: ch, Seq: d.Seq, Node: refNode,
					Detail: fmt.Sprintf("%q, published with an idempotency key, is stored at seq %d and again at seq %d", d.Payload, s, d.Seq)}, d.Payload, -1)
				continue
			}
			firstAt[d.Payload] = d.Seq
		}
		// One publisher's acks come in the order it published.
		type pk struct{ pub string }
		lastSeq := map[pk]PubOp{}
		byIndex := append([]PubOp(nil), pubs...)
		sort.SliceStable(byIndex, func(i, j int) bool { return byIndex[i].Index < byIndex[j].Index })
		for _, p := range byIndex {
			if p.Channel != ch || !p.Acked {
				continue
			}
			k := pk{p.Publisher}
			if prev, ok := lastSeq[k]; ok && prev.Index < p.Index && p.Seq <= prev.Seq {
				add(&Violation{Check: "publisher-order", Channel: ch, Seq: p.Seq,
					Detail: fmt.Sprintf("%s's message #%d acked at seq %d, after its message #%d at seq %d", p.Publisher, p.Index, p.Seq, prev.Index, prev.Seq)}, p.Payload, p.End.Seconds())
			}
			lastSeq[k] = p
		}

		// Subscribers.
		for _, s := range h.Subs() {
			if s.Channel != ch {
				continue
			}
			var prev uint64
			for i, seq := range s.Seqs {
				switch {
				case i > 0 && seq <= prev:
					add(&Violation{Check: "subscriber-duplicate", Channel: ch, Seq: seq, Subscriber: s.Name,
						Detail: fmt.Sprintf("seq %d received after seq %d", seq, prev)}, s.Payload[i], -1)
				case (i > 0 && seq != prev+1) || (i == 0 && len(ref) > 0 && seq > ref[0].Seq):
					from := prev
					if i == 0 {
						from = ref[0].Seq - 1
					}
					add(&Violation{Check: "subscriber-gap", Channel: ch, Seq: seq, Subscriber: s.Name,
						Detail: fmt.Sprintf("seq %d received after seq %d: seqs %d-%d missing", seq, from, from+1, seq-1)}, s.Payload[i], -1)
				}
				if p, ok := refMap[seq]; ok && p != s.Payload[i] {
					add(&Violation{Check: "subscriber-mismatch", Channel: ch, Seq: seq, Subscriber: s.Name,
						Detail: fmt.Sprintf("received %q, the log holds %q", s.Payload[i], p)}, s.Payload[i], -1)
				}
				if seq > prev {
					prev = seq
				}
			}
			if prev < last {
				why := ""
				if s.Ended != "" {
					why = " (subscription ended: " + s.Ended + ")"
				}
				add(&Violation{Check: "subscriber-incomplete", Channel: ch, Seq: prev + 1, Subscriber: s.Name,
					Detail: fmt.Sprintf("saw up to seq %d of %d%s", prev, last, why)}, "", -1)
			}
		}
	}
	return out
}

func durSec(s float64) time.Duration {
	if s < 0 {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}
