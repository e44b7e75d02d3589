package testkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// FaultKind names one kind of fault a Schedule injects.
type FaultKind string

// The faults a schedule draws from. Each is undone before the next begins: partitions and link faults
// are healed, crashed and stopped nodes restarted.
const (
	FaultPartition FaultKind = "partition" // a random minority against the rest
	FaultIsolate   FaultKind = "isolate"   // one node cut off from all others
	FaultCrash     FaultKind = "crash"     // power loss: unsynced writes lost; then restart
	FaultStop      FaultKind = "stop"      // clean shutdown; then restart
	FaultSlowLink  FaultKind = "slow-link" // both directions of one link delayed
	FaultDropRate  FaultKind = "drop-rate" // Raft batches on one link lost at random
)

// AllFaults is every kind of fault.
var AllFaults = []FaultKind{FaultPartition, FaultIsolate, FaultCrash, FaultStop, FaultSlowLink, FaultDropRate}

// Step is one fault of a schedule: applied, held for Hold while the workload runs, undone, then Calm
// passes before the next step.
type Step struct {
	Kind   FaultKind
	Node   NodeID     // isolate, crash, stop
	Groups [][]NodeID // partition
	A, B   NodeID     // slow-link, drop-rate
	Delay  time.Duration
	P      float64
	Hold   time.Duration
	Calm   time.Duration
}

func (s Step) String() string {
	var what string
	switch s.Kind {
	case FaultPartition:
		what = fmt.Sprintf("partition %v", s.Groups)
	case FaultIsolate, FaultCrash, FaultStop:
		what = fmt.Sprintf("%s node %d", s.Kind, s.Node)
	case FaultSlowLink:
		what = fmt.Sprintf("slow link %d<->%d by %v", s.A, s.B, s.Delay)
	case FaultDropRate:
		what = fmt.Sprintf("drop %.0f%% on link %d<->%d", s.P*100, s.A, s.B)
	}
	return fmt.Sprintf("%s for %v, then %v calm", what, s.Hold, s.Calm)
}

// Schedule is a reproducible sequence of faults: the same seed, nodes, length and kinds give the same
// steps.
type Schedule struct {
	Seed  uint64
	Steps []Step
}

func (s Schedule) String() string {
	lines := []string{fmt.Sprintf("schedule (seed %d):", s.Seed)}
	for i, st := range s.Steps {
		lines = append(lines, fmt.Sprintf("  %d. %s", i+1, st))
	}
	return strings.Join(lines, "\n")
}

// NewSchedule draws n steps from kinds (all kinds if none) for the given nodes, from seed. Faults keep
// a majority of nodes running and connected most of the time: at most one node is down or cut off at
// once, and a partition's minority is at most (len(nodes)-1)/2 nodes.
func NewSchedule(seed uint64, nodes []NodeID, n int, kinds ...FaultKind) Schedule {
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dur := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(r.Int64N(int64(hi-lo)+1)).Truncate(time.Millisecond)
	}
	pick := func() NodeID { return nodes[r.IntN(len(nodes))] }
	pair := func() (NodeID, NodeID) {
		a := r.IntN(len(nodes))
		b := (a + 1 + r.IntN(len(nodes)-1)) % len(nodes)
		return nodes[a], nodes[b]
	}
	s := Schedule{Seed: seed}
	for i := 0; i < n; i++ {
		st := Step{Kind: kinds[r.IntN(len(kinds))], Hold: dur(300*time.Millisecond, 1500*time.Millisecond),
			Calm: dur(200*time.Millisecond, 800*time.Millisecond)}
		if len(nodes) < 2 && st.Kind != FaultCrash && st.Kind != FaultStop {
			st.Kind = FaultCrash // link faults need two nodes
		}
		switch st.Kind {
		case FaultPartition:
			perm := r.Perm(len(nodes))
			k := 1 + r.IntN(max(1, (len(nodes)-1)/2))
			var minority, rest []NodeID
			for j, p := range perm {
				if j < k {
					minority = append(minority, nodes[p])
				} else {
					rest = append(rest, nodes[p])
				}
			}
			st.Groups = [][]NodeID{minority, rest}
		case FaultIsolate, FaultCrash, FaultStop:
			st.Node = pick()
		case FaultSlowLink:
			st.A, st.B = pair()
			st.Delay = dur(5*time.Millisecond, 100*time.Millisecond)
		case FaultDropRate:
			st.A, st.B = pair()
			st.P = float64(10+r.IntN(41)) / 100 // 10-50%
		}
		s.Steps = append(s.Steps, st)
	}
	return s
}

// Run applies a schedule's steps in turn, each held for its Hold and undone before its Calm. It
// returns when every step is done (every fault undone, every node it took down restarted and ready),
// or with ctx's error, or with the first error restarting a node.
func (c *Cluster) Run(ctx context.Context, s Schedule) error {
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	for i, st := range s.Steps {
		c.event("step %d/%d: %s", i+1, len(s.Steps), st)
		switch st.Kind {
		case FaultPartition:
			c.Partition(st.Groups...)
		case FaultIsolate:
			c.Isolate(st.Node)
		case FaultCrash:
			if err := c.Crash(ctx, st.Node); err != nil {
				return err
			}
		case FaultStop:
			if err := c.Stop(ctx, st.Node); err != nil {
				c.event("stop node %d: %v", st.Node, err) // a clean stop that timed out is still a stop
			}
		case FaultSlowLink:
			c.SlowLink(st.A, st.B, st.Delay)
		case FaultDropRate:
			c.DropRate(st.A, st.B, st.P)
		}
		err := wait(st.Hold)
		c.Heal()
		if st.Kind == FaultCrash || st.Kind == FaultStop {
			rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			rerr := c.Restart(rctx, st.Node)
			cancel()
			if rerr != nil {
				return rerr
			}
		}
		if err != nil {
			return err
		}
		if err := wait(st.Calm); err != nil {
			return err
		}
	}
	return nil
}
