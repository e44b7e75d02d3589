package testkit

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/actors"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// consumerHistory is a history of four acked publishes to c ("a".."d" at seqs 1-4) with consumer
// work declared on it, dead-lettering to c.dlq.
func consumerHistory() *History {
	h := ackedHistory("c", "a", "b", "c", "d")
	h.DeclareConsumer(ConsumerDecl{Channel: "c", Name: "work", Mode: "shared", DeadLetter: "c.dlq"})
	return h
}

// got records a delivery to member at time at (ms); acked records its settlement from at to end.
func got(h *History, member string, seq uint64, payload string, attempt, at int) {
	h.AddConsumerOp(ConsumerOp{Kind: OpDeliver, Consumer: "work", Member: member, Channel: "c", Seq: seq, Payload: payload,
		Attempt: attempt, Start: ms(at), End: ms(at)})
}

func settled(h *History, kind ConsumerOpKind, member string, seq uint64, attempt, at, end int, o Outcome) {
	op := ConsumerOp{Kind: kind, Consumer: "work", Member: member, Channel: "c", Seq: seq, Attempt: attempt,
		Start: ms(at), End: ms(end), Outcome: o}
	if o != Confirmed {
		op.Err = "timeout"
	}
	h.AddConsumerOp(op)
}

// deliverAndAck delivers seq to member and acks it, confirmed.
func deliverAndAck(h *History, member string, seq uint64, payload string, at int) {
	got(h, member, seq, payload, 1, at)
	settled(h, OpAck, member, seq, 1, at+1, at+5, Confirmed)
}

func deadLetter(seq uint64, consumer, payload string, dlqSeq uint64) Delivered {
	return Delivered{Seq: dlqSeq, Payload: payload, Headers: map[string]string{actors.HeaderDLQChannel: "c",
		actors.HeaderDLQSeq: strconv.FormatUint(seq, 10), actors.HeaderDLQConsumer: consumer, actors.HeaderDLQDeliveries: "4"}}
}

func TestCheckConsumersClean(t *testing.T) {
	h := consumerHistory()
	deliverAndAck(h, "w1", 1, "a", 10)
	// Nak'ed by w1, handed to w2, acked.
	got(h, "w1", 2, "b", 1, 10)
	settled(h, OpNak, "w1", 2, 1, 11, 12, Confirmed)
	got(h, "w2", 2, "b", 2, 13)
	settled(h, OpAck, "w2", 2, 2, 14, 20, Confirmed)
	// The only ack of seq 3 timed out: it may have been recorded, so nobody gets it again.
	got(h, "w1", 3, "c", 1, 15)
	settled(h, OpAck, "w1", 3, 1, 16, 5016, Unknown)
	// Seq 4: a first ack failed (never sent); dead-lettered after its deliveries.
	got(h, "w2", 4, "d", 1, 20)
	settled(h, OpAck, "w2", 4, 1, 21, 22, Failed)
	// A redelivery of seq 1 handed out before w1's ack reached the broker, arriving just after it
	// was confirmed: within the grace.
	got(h, "w2", 1, "a", 2, 400)
	settled(h, OpAck, "w2", 1, 2, 401, 405, Confirmed)
	l := logOf("a", "b", "c", "d")
	dlq := []Delivered{deadLetter(4, "work", "d", 1)}
	logs := Logs{1: {"c": l, "c.dlq": dlq}, 2: {"c": l, "c.dlq": dlq}}
	if vs := CheckConsumers(h, logs); len(vs) != 0 {
		t.Fatalf("violations in a clean consumer history: %v", vs)
	}
	if vs := CheckHistory(h, logs); len(vs) != 0 {
		t.Fatalf("CheckHistory on a history with consumers: %v", vs)
	}
	if s := h.Stats(); !strings.Contains(s, "1 consumers, 2 members") || !strings.Contains(s, "5 acks (3 confirmed, 1 unknown, 1 failed), 1 naks") {
		t.Fatalf("stats: %s", s)
	}
	// A consumer declared to start at seq 3 owes nothing below it.
	h2 := ackedHistory("c", "a", "b", "c")
	h2.DeclareConsumer(ConsumerDecl{Channel: "c", Name: "work", From: 3})
	deliverAndAck(h2, "w1", 3, "c", 10)
	if vs := CheckConsumers(h2, Logs{1: {"c": logOf("a", "b", "c")}}); len(vs) != 0 {
		t.Fatalf("violations for a consumer starting at seq 3: %v", vs)
	}
}

// TestCheckConsumersCatches feeds fabricated broken consumer histories: each must be reported with
// the right check, seq and member.
func TestCheckConsumersCatches(t *testing.T) {
	good := logOf("a", "b", "c", "d")
	// all acks seqs 1-4 except those in skip, by w1 at 10 ms intervals.
	ackAll := func(h *History, skip ...uint64) {
	next:
		for s := uint64(1); s <= 4; s++ {
			for _, k := range skip {
				if k == s {
					continue next
				}
			}
			deliverAndAck(h, "w1", s, good[s-1].Payload, int(s)*10)
		}
	}
	for _, tc := range []struct {
		name   string
		build  func() (*History, Logs)
		check  string
		seq    uint64
		member string
	}{
		{"message never acked", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h, 3)
			got(h, "w2", 3, "c", 1, 50)
			return h, Logs{1: {"c": good}}
		}, "consumer-lost", 3, ""},
		{"message whose only ack failed", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h, 2)
			got(h, "w2", 2, "b", 1, 50)
			settled(h, OpAck, "w2", 2, 1, 51, 52, Failed)
			return h, Logs{1: {"c": good}}
		}, "consumer-lost", 2, ""},
		{"message dead-lettered by another consumer", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h, 4)
			return h, Logs{1: {"c": good, "c.dlq": {deadLetter(4, "other", "d", 1)}}}
		}, "consumer-lost", 4, ""},
		{"phantom delivery", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h)
			got(h, "w2", 9, "z", 1, 60)
			return h, Logs{1: {"c": good}}
		}, "consumer-phantom", 9, "w2"},
		{"corrupt delivery", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h)
			got(h, "w2", 2, "B", 2, 60)
			return h, Logs{1: {"c": good}}
		}, "consumer-mismatch", 2, "w2"},
		{"acked message delivered again after the grace", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h)
			// w1's ack of seq 2 was confirmed at 25 ms; seq 2 comes again 8 s later.
			got(h, "w3", 2, "b", 2, 8025)
			settled(h, OpAck, "w3", 2, 2, 8026, 8030, Confirmed)
			return h, Logs{1: {"c": good}}
		}, "consumer-redelivered", 2, "w3"},
		{"dead letter with another payload", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h, 4)
			return h, Logs{1: {"c": good, "c.dlq": {deadLetter(4, "work", "x", 1)}}}
		}, "dead-letter-mismatch", 4, ""},
		{"dead letter naming a seq never stored", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h)
			return h, Logs{1: {"c": good, "c.dlq": {deadLetter(7, "work", "g", 1)}}}
		}, "dead-letter-mismatch", 7, ""},
		{"message dead-lettered twice", func() (*History, Logs) {
			h := consumerHistory()
			ackAll(h, 4)
			return h, Logs{1: {"c": good, "c.dlq": {deadLetter(4, "work", "d", 1), deadLetter(4, "work", "d", 2)}}}
		}, "dead-letter-duplicate", 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, logs := tc.build()
			h.Event("crash node 2")
			vs := CheckConsumers(h, logs)
			if len(vs) != 1 {
				t.Fatalf("want one %s violation; got [%s]: %v", tc.check, checks(vs), vs)
			}
			v := vs[0]
			if v.Check != tc.check || v.Channel != "c" || v.Consumer != "work" || v.Seq != tc.seq || v.Member != tc.member {
				t.Fatalf("violation %v: want %s on channel c consumer work seq %d member %q", v, tc.check, tc.seq, tc.member)
			}
			if !errors.Is(v, ErrViolation) || !strings.Contains(v.Error(), "consumer work") {
				t.Fatalf("error text %q", v.Error())
			}
			if len(v.History) == 0 {
				t.Fatalf("violation carries no history: %v", v)
			}
		})
	}
	// The grace is the checker's to set: with a longer one, the late redelivery passes.
	h := consumerHistory()
	ackAll(h)
	got(h, "w3", 2, "b", 2, 8025)
	if vs := CheckConsumers(h, Logs{1: {"c": good}}, RedeliveryGrace(10*time.Second)); len(vs) != 0 {
		t.Fatalf("with a 10 s grace: %v", vs)
	}
}
