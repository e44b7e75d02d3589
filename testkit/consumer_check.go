package testkit

// CheckConsumers: durable consumers' promises judged against a history of ConsumerMember ops and the
// converged replicas' logs.

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/sampan-io/sampan/actors"
)

// CheckOption tunes CheckConsumers.
type CheckOption func(*checkOptions)

type checkOptions struct {
	grace time.Duration
}

// DefaultRedeliveryGrace is how long after a confirmed ack CheckConsumers lets a delivery of the same
// message still arrive (see CheckConsumers).
const DefaultRedeliveryGrace = 5 * time.Second

// RedeliveryGrace sets how long after a confirmed ack of a message a delivery of it may still reach a
// member without a consumer-redelivered violation (default DefaultRedeliveryGrace).
func RedeliveryGrace(d time.Duration) CheckOption { return func(o *checkOptions) { o.grace = d } }

// CheckConsumers judges the durable consumers declared in h (by ConsumerMember.Run) against the
// replicas' logs. Take the logs with Converge after DrainConsumers returned nil and the members
// stopped: the promises are about a consumer that has settled everything. For each consumer it checks:
//
//   - consumer-lost: every message its channel's log holds from the consumer's first seq on was acked
//     by some member with an ack that was confirmed or whose outcome is unknown, or is in the
//     dead-letter channel with the origin headers naming the consumer, the channel and the seq. An
//     unknown outcome counts: such an ack may have been recorded, and then the message is rightly
//     never delivered again, so nobody can get it confirmed (after the drain, the broker holds
//     every message done, so one of those acks was recorded);
//   - consumer-phantom, consumer-mismatch: every delivery is of a seq the log holds, with the log's
//     payload;
//   - consumer-redelivered: no delivery of a seq reaches a member more than the grace after a
//     confirmed ack of that seq ended (the rule and why it has a grace are below);
//   - dead-letter-mismatch, dead-letter-duplicate: a dead letter naming the consumer carries a seq of
//     its channel with that seq's payload, and each seq is dead-lettered once (dead letters are
//     published with an idempotency key).
//
// The redelivery rule. The broker never hands a message out after it recorded an ack of it: the
// activation that takes the ack marks the seq done before proposing it, and a later activation starts
// from the committed state, which holds every confirmed ack (confirmation waits for the commit). But a
// delivery handed out before the ack reached the broker can still be on its way when the ack is
// confirmed (docs/consumers.md says so): to another member through another session (a slow link
// delays every write, a broken inter-node stream is dialled again every 2 s with its messages
// queued), or to the same member from an activation that stopped while its successor confirms the
// ack by another path. A member sees when it got a delivery, not when the broker sent it, so the
// checkable rule is a bound on that delay: the grace. The default covers TestJepsen's faults (a link
// is blocked for at most 1.5 s, and protoactor-go redials every 2 s); a shorter grace catches an
// undone ack sooner but may flag a delivery that was only slow. A broker that lost or ignores an ack
// hands the message out again at every ack wait, so it is caught once that passes the grace.
//
// It returns every violation found (nil when none), each naming the consumer, the member where one
// is concerned, the seq and the history around it. It is pure.
func CheckConsumers(h *History, logs Logs, opts ...CheckOption) []*Violation {
	o := checkOptions{grace: DefaultRedeliveryGrace}
	for _, f := range opts {
		f(&o)
	}
	ops := h.ConsumerOps()
	var out []*Violation
	for _, c := range h.Consumers() {
		add := func(v *Violation, at time.Duration) {
			v.Channel, v.Consumer = c.Channel, c.Name
			v.History = h.aroundConsumer(c.Channel, c.Name, v.Seq, at)
			out = append(out, v)
		}
		ref := refLog(logs, c.Channel)
		bySeq := make(map[uint64]Delivered, len(ref))
		for _, d := range ref {
			bySeq[d.Seq] = d
		}

		// Dead letters naming this consumer.
		dead := map[uint64]bool{}
		if c.DeadLetter != "" {
			for _, d := range refLog(logs, c.DeadLetter) {
				if d.Headers[actors.HeaderDLQConsumer] != c.Name || d.Headers[actors.HeaderDLQChannel] != c.Channel {
					continue
				}
				seq, err := strconv.ParseUint(d.Headers[actors.HeaderDLQSeq], 10, 64)
				orig, ok := bySeq[seq]
				switch {
				case err != nil || !ok:
					add(&Violation{Check: "dead-letter-mismatch", Seq: seq,
						Detail: fmt.Sprintf("dead letter at seq %d of %s names seq %q, which %s does not hold", d.Seq, c.DeadLetter, d.Headers[actors.HeaderDLQSeq], c.Channel)}, -1)
					continue
				case orig.Payload != d.Payload:
					add(&Violation{Check: "dead-letter-mismatch", Seq: seq,
						Detail: fmt.Sprintf("dead letter at seq %d of %s holds %q, the channel holds %q", d.Seq, c.DeadLetter, d.Payload, orig.Payload)}, -1)
				}
				if dead[seq] {
					add(&Violation{Check: "dead-letter-duplicate", Seq: seq,
						Detail: fmt.Sprintf("dead-lettered again at seq %d of %s", d.Seq, c.DeadLetter)}, -1)
				}
				dead[seq] = true
			}
		}

		// Acks: which seqs may be recorded done, and when each was first confirmed.
		possiblyAcked := map[uint64]bool{}
		confirmed := map[uint64]ConsumerOp{} // the confirmed ack that ended first
		for _, op := range ops {
			if op.Channel != c.Channel || op.Consumer != c.Name || op.Kind != OpAck {
				continue
			}
			if op.Outcome == Confirmed || op.Outcome == Unknown {
				possiblyAcked[op.Seq] = true
			}
			if prev, ok := confirmed[op.Seq]; op.Outcome == Confirmed && (!ok || op.End < prev.End) {
				confirmed[op.Seq] = op
			}
		}

		// Deliveries: of stored messages, as stored, and none long after a confirmed ack.
		redelivered := map[uint64]bool{}
		for _, op := range ops {
			if op.Channel != c.Channel || op.Consumer != c.Name || op.Kind != OpDeliver {
				continue
			}
			d, ok := bySeq[op.Seq]
			switch {
			case !ok:
				add(&Violation{Check: "consumer-phantom", Seq: op.Seq, Member: op.Member,
					Detail: fmt.Sprintf("delivered %q (attempt %d) at %.3fs; the channel's log holds no seq %d", op.Payload, op.Attempt, op.Start.Seconds(), op.Seq)}, op.Start)
			case d.Payload != op.Payload:
				add(&Violation{Check: "consumer-mismatch", Seq: op.Seq, Member: op.Member,
					Detail: fmt.Sprintf("delivered %q (attempt %d), the log holds %q", op.Payload, op.Attempt, d.Payload)}, op.Start)
			}
			if ack, ok := confirmed[op.Seq]; ok && op.Start > ack.End+o.grace && !redelivered[op.Seq] {
				redelivered[op.Seq] = true
				add(&Violation{Check: "consumer-redelivered", Seq: op.Seq, Member: op.Member,
					Detail: fmt.Sprintf("delivered (attempt %d) at %.3fs, %v after member %s's ack of it was confirmed at %.3fs",
						op.Attempt, op.Start.Seconds(), (op.Start - ack.End).Round(time.Millisecond), ack.Member, ack.End.Seconds())}, op.Start)
			}
		}

		// Every stored message from the consumer's first seq on is accounted for.
		for _, d := range ref {
			if d.Seq < c.From || possiblyAcked[d.Seq] || dead[d.Seq] {
				continue
			}
			add(&Violation{Check: "consumer-lost", Seq: d.Seq,
				Detail: fmt.Sprintf("%q is stored at seq %d but no member's ack of it was confirmed (or may have been recorded) and it was not dead-lettered%s",
					d.Payload, d.Seq, deliveredSummary(ops, c, d.Seq))}, -1)
		}
	}
	return out
}

// refLog returns the longest replica's log of channel (nil when no node holds one): converged
// replicas are equal, and CheckHistory reports those that are not.
func refLog(logs Logs, channel string) []Delivered {
	ids := make([]NodeID, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var ref []Delivered
	for _, id := range ids {
		if l := logs[id][channel]; len(l) > len(ref) {
			ref = l
		}
	}
	return ref
}

// deliveredSummary says how often consumer c delivered seq, for a consumer-lost violation.
func deliveredSummary(ops []ConsumerOp, c ConsumerDecl, seq uint64) string {
	n := 0
	for _, op := range ops {
		if op.Channel == c.Channel && op.Consumer == c.Name && op.Kind == OpDeliver && op.Seq == seq {
			n++
		}
	}
	if n == 0 {
		return " (never delivered)"
	}
	return fmt.Sprintf(" (delivered %d times)", n)
}
