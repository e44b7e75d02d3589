package testkit_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/testkit"
)

// TestProbeOneDeliveryPerGateway: a committed message reaches the gateway of each node that has
// subscribers exactly once, however many subscribers that node has, and no gateway of a node without
// subscribers. The clients do not route: routed, every subscription would move to the channel's node.
func TestProbeOneDeliveryPerGateway(t *testing.T) {
	c := testkit.NewCluster(t, testkit.Nodes(3))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ch = "probe.fanout"
	probe := c.ProbeGateways(testkit.DeliveriesOf(ch))
	var got atomic.Int64
	count := func(*client.Message) { got.Add(1) }
	for _, id := range []testkit.NodeID{1, 1, 2} { // two subscribers on node 1, one on node 2, none on 3
		if _, err := c.Client(id, client.WithRouting(false)).Subscribe(ctx, ch, client.StartEarliest(), count); err != nil {
			t.Fatal(err)
		}
	}
	pub := c.Client(3, client.WithRouting(false))
	// Warm up until both gateways are registered with the channel actor (registration is asynchronous
	// to SUBACK): a warm-up message reaches both.
	deadline := time.Now().Add(30 * time.Second)
	for seen := map[testkit.NodeID]bool{}; !seen[1] || !seen[2]; {
		if time.Now().After(deadline) {
			t.Fatalf("gateways of nodes 1 and 2 never both got a delivery: %v", seen)
		}
		seq, err := pub.Publish(ctx, ch, []byte("warm-up"))
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range probe.CountDeliveries(seq, 200*time.Millisecond) {
			seen[id] = seen[id] || n > 0
		}
	}
	before := got.Load()
	seq, err := pub.Publish(ctx, ch, []byte("measured"))
	if err != nil {
		t.Fatal(err)
	}
	// Read the probe until the three subscribers have the message, then a little longer: a second
	// delivery to a gateway would show up within that.
	counts := map[testkit.NodeID]int{}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && got.Load() < before+3; {
		for id, n := range probe.CountDeliveries(seq, 50*time.Millisecond) {
			counts[id] += n
		}
	}
	for id, n := range probe.CountDeliveries(seq, 300*time.Millisecond) {
		counts[id] += n
	}
	if got.Load() < before+3 {
		t.Fatalf("subscribers got %d of 3 copies", got.Load()-before)
	}
	if counts[1] != 1 || counts[2] != 1 || counts[3] != 0 {
		t.Fatalf("seq %d reached the gateways %s; want exactly once on nodes 1 and 2, never on node 3", seq, testkit.FormatCounts(counts))
	}
	t.Logf("seq %d delivered to gateways %s", seq, testkit.FormatCounts(counts))
}
