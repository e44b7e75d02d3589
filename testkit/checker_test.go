package testkit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// history builds a history of acked keyed publishes by one publisher: seq i+1 holds payloads[i].
func ackedHistory(ch string, payloads ...string) *History {
	h := NewHistory()
	for i, p := range payloads {
		h.AddPub(PubOp{Publisher: "p", Index: i, Attempt: 1, Channel: ch, Key: p, Payload: p,
			Start: time.Duration(i) * time.Millisecond, End: time.Duration(i+1) * time.Millisecond, Seq: uint64(i + 1), Acked: true})
	}
	return h
}

func logOf(payloads ...string) []Delivered {
	out := make([]Delivered, len(payloads))
	for i, p := range payloads {
		out[i] = Delivered{Seq: uint64(i + 1), Payload: p}
	}
	return out
}

func deliver(h *History, sub, ch string, seqs []uint64, payloads []string) {
	for i := range seqs {
		h.AddDelivery(sub, ch, seqs[i], payloads[i])
	}
}

func checks(vs []*Violation) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Check)
	}
	return strings.Join(s, ",")
}

func TestCheckHistoryClean(t *testing.T) {
	h := ackedHistory("c", "a", "b", "c")
	// A timed-out attempt of "b" that was stored after all, then retried and acked as a duplicate.
	h.AddPub(PubOp{Publisher: "p", Index: 1, Attempt: 2, Channel: "c", Key: "b", Payload: "b", Seq: 2, Dup: true, Acked: true})
	h.AddPub(PubOp{Publisher: "p", Index: 3, Attempt: 1, Channel: "c", Key: "d", Payload: "d", Err: "timeout"})
	deliver(h, "s1", "c", []uint64{1, 2, 3}, []string{"a", "b", "c"})
	l := logOf("a", "b", "c")
	if vs := CheckHistory(h, Logs{1: {"c": l}, 2: {"c": l}, 3: {"c": l}}); len(vs) != 0 {
		t.Fatalf("violations in a clean history: %v", vs)
	}
	// The unacked publish may also have been stored (outcome unknown): still clean.
	l2 := logOf("a", "b", "c", "d")
	deliver(h, "s1", "c", []uint64{4}, []string{"d"})
	if vs := CheckHistory(h, Logs{1: {"c": l2}, 2: {"c": l2}}); len(vs) != 0 {
		t.Fatalf("violations with an unacked publish stored: %v", vs)
	}
}

// TestCheckHistoryCatches feeds fabricated broken histories and logs: each must be reported with the
// right check, channel and seq.
func TestCheckHistoryCatches(t *testing.T) {
	good := logOf("a", "b", "c", "d")
	for _, tc := range []struct {
		name  string
		build func() (*History, Logs)
		check string
		seq   uint64
		node  NodeID
	}{
		{"acked publish lost on a replica", func() (*History, Logs) {
			return ackedHistory("c", "a", "b", "c", "d"), Logs{1: {"c": good}, 2: {"c": good[:2]}}
		}, "lost-ack", 3, 2},
		{"replicas disagree", func() (*History, Logs) {
			bad := logOf("a", "b", "x", "d")
			return ackedHistory("c", "a", "b"), Logs{1: {"c": good}, 2: {"c": bad}}
		}, "replica-divergence", 3, 2},
		{"seq acked twice", func() (*History, Logs) {
			h := ackedHistory("c", "a", "b")
			h.AddPub(PubOp{Publisher: "q", Index: 0, Attempt: 1, Channel: "c", Key: "z", Payload: "z", Seq: 2, Acked: true})
			return h, Logs{1: {"c": good}}
		}, "seq-reused", 2, 0},
		{"idempotent publish stored twice", func() (*History, Logs) {
			return ackedHistory("c", "a", "b"), Logs{1: {"c": logOf("a", "b", "b")}}
		}, "duplicate-store", 3, 1},
		{"gap in a replica's log", func() (*History, Logs) {
			l := []Delivered{{Seq: 1, Payload: "a"}, {Seq: 2, Payload: "b"}, {Seq: 4, Payload: "d"}}
			return ackedHistory("c", "a", "b"), Logs{1: {"c": l}}
		}, "log-gap", 4, 1},
		{"subscriber gap", func() (*History, Logs) {
			h := ackedHistory("c", "a", "b", "c", "d")
			deliver(h, "s1", "c", []uint64{1, 2, 4}, []string{"a", "b", "d"})
			return h, Logs{1: {"c": good}}
		}, "subscriber-gap", 4, 0},
		{"subscriber duplicate", func() (*History, Logs) {
			h := ackedHistory("c", "a", "b", "c", "d")
			deliver(h, "s1", "c", []uint64{1, 2, 2, 3, 4}, []string{"a", "b", "b", "c", "d"})
			return h, Logs{1: {"c": good}}
		}, "subscriber-duplicate", 2, 0},
		{"subscriber stopped short", func() (*History, Logs) {
			h := ackedHistory("c", "a", "b", "c", "d")
			deliver(h, "s1", "c", []uint64{1, 2}, []string{"a", "b"})
			return h, Logs{1: {"c": good}}
		}, "subscriber-incomplete", 3, 0},
		{"publisher's acks out of order", func() (*History, Logs) {
			h := NewHistory()
			h.AddPub(PubOp{Publisher: "p", Index: 0, Channel: "c", Key: "a", Payload: "a", Seq: 2, Acked: true})
			h.AddPub(PubOp{Publisher: "p", Index: 1, Channel: "c", Key: "b", Payload: "b", Seq: 1, Acked: true})
			return h, Logs{1: {"c": logOf("b", "a")}}
		}, "publisher-order", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, logs := tc.build()
			h.Event("crash node 2")
			vs := CheckHistory(h, logs)
			var hit *Violation
			for _, v := range vs {
				if v.Check == tc.check {
					hit = v
					break
				}
			}
			if hit == nil {
				t.Fatalf("no %s violation; got [%s]", tc.check, checks(vs))
			}
			if hit.Channel != "c" || hit.Seq != tc.seq || hit.Node != tc.node {
				t.Fatalf("violation %v: want channel c seq %d node %d", hit, tc.seq, tc.node)
			}
			if !errors.Is(hit, ErrViolation) || !strings.Contains(hit.Error(), fmt.Sprintf("seq %d", tc.seq)) {
				t.Fatalf("error text %q", hit.Error())
			}
			if len(hit.History) == 0 && tc.check != "log-gap" && tc.check != "replica-lag" {
				t.Fatalf("violation carries no history: %v", hit)
			}
		})
	}
}
