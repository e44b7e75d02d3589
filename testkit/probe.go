package testkit

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	ptestkit "github.com/asynkron/protoactor-go/testkit"

	"github.com/sampan-io/sampan/actors"
)

// GatewayMessage is what a GatewayProbe records: a message that node's gateway actor received, as the
// gateway sees it (decoded from the inter-node envelope). Channel actors send *actors.Deliver (committed
// messages), *actors.Registered and *actors.Activated to gateways.
type GatewayMessage struct {
	Node NodeID
	Msg  any
}

// GatewayProbe is a protoactor-go TestProbe that is shown every message the gateway actors of the
// cluster receive (those its filter keeps), through the broker's gateway tap. Use the TestProbe's
// methods (GetNextMessage, ExpectNoMessage, and ptestkit.FishForMessage with *GatewayMessage) or the
// helpers below. It is stopped at test cleanup.
type GatewayProbe struct {
	*ptestkit.TestProbe
	sys *actor.ActorSystem
	pid *actor.PID
}

type tapSet struct {
	mu     sync.Mutex
	probes []tapProbe
}

type tapProbe struct {
	p     *GatewayProbe
	match func(*GatewayMessage) bool
}

// tap returns node id's gateway tap: it forwards what a probe wants and never blocks the gateway.
func (c *Cluster) tap(id NodeID) func(any) {
	return func(msg any) {
		c.taps.mu.Lock()
		probes := c.taps.probes
		c.taps.mu.Unlock()
		for _, tp := range probes {
			m := &GatewayMessage{Node: id, Msg: msg}
			if tp.match == nil || tp.match(m) {
				tp.p.sys.Root.Send(tp.p.pid, m)
			}
		}
	}
}

// ProbeGateways starts a probe that records the gateway messages match keeps (nil: all of them),
// from now on.
func (c *Cluster) ProbeGateways(match func(*GatewayMessage) bool) *GatewayProbe {
	sys := actor.NewActorSystem()
	tp := ptestkit.NewTestProbe()
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return tp }))
	p := &GatewayProbe{TestProbe: tp, sys: sys, pid: pid}
	c.taps.mu.Lock()
	c.taps.probes = append(append([]tapProbe(nil), c.taps.probes...), tapProbe{p: p, match: match})
	c.taps.mu.Unlock()
	c.t.Cleanup(func() {
		c.taps.mu.Lock()
		var keep []tapProbe
		for _, x := range c.taps.probes {
			if x.p != p {
				keep = append(keep, x)
			}
		}
		c.taps.probes = keep
		c.taps.mu.Unlock()
		sys.Shutdown()
	})
	return p
}

// DeliveriesOf keeps the *actors.Deliver messages of one channel: a filter for ProbeGateways.
func DeliveriesOf(channel string) func(*GatewayMessage) bool {
	return func(m *GatewayMessage) bool {
		d, ok := m.Msg.(*actors.Deliver)
		return ok && d.Channel == channel
	}
}

// CountDeliveries reads the probe's Deliver messages for d, then returns how many times each node's
// gateway received seq (in any Deliver batch). A seq that reached a node's gateway twice shows as 2.
func (p *GatewayProbe) CountDeliveries(seq uint64, d time.Duration) map[NodeID]int {
	out := map[NodeID]int{}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return out
		}
		m, err := ptestkit.GetNextMessageOf[*GatewayMessage](p.TestProbe, left)
		if err != nil {
			return out
		}
		if dl, ok := m.Msg.(*actors.Deliver); ok {
			for _, msg := range dl.Msgs {
				if msg.Seq == seq {
					out[m.Node]++
				}
			}
		}
	}
}

// FormatCounts renders a node -> count map in node order, for failure messages.
func FormatCounts(m map[NodeID]int) string {
	ids := make([]NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	s := "{"
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("node%d:%d", id, m[id])
	}
	return s + "}"
}
