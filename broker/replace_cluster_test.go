package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// TestClusterReplacesDeadNode: four nodes, R = 3, cluster.replace_after 3s. Node 4 stops for good;
// past the bound the metadata leader replaces it: every channel with a replica there gets one on a
// live node, node 4 ends "replaced", and each replica holds every acked message. A second node
// stopping then loses nothing: every channel still has a quorum of its replicas. Most channels are
// cold when node 4 stops (activated on their two live replicas for the move): with the new replica
// added to the membership before it ran, 2 of the 4 voters were no quorum and such a move stalled
// until its 2-minute timeout (about 1 run in 4).
func TestClusterReplacesDeadNode(t *testing.T) {
	const wait = time.Minute
	nodes := startCluster(t, 4, func(c *broker.Config) {
		c.Cluster.ReplaceAfter = broker.Duration(3 * time.Second)
		c.Channels.IdleTimeout = broker.Duration(time.Second) // most channels are cold when node 4 stops
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait+2*time.Minute)
	defer cancel()
	c := connect(t, ctx, nodes[0])
	const channels, perChannel = 12, 20
	name := func(i int) string { return fmt.Sprintf("replace.ch%d", i) }
	for i := 0; i < channels; i++ {
		for j := 0; j < perChannel; j++ {
			if _, err := c.Publish(ctx, name(i), []byte(fmt.Sprint(j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	onFour := 0
	for i := 0; i < channels; i++ {
		var cs broker.ChannelStatus
		getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/channels/"+name(i), "", &cs)
		for _, r := range cs.Replicas {
			if r.NodeID == 4 {
				onFour++
			}
		}
	}
	if onFour == 0 {
		t.Fatal("no channel has a replica on node 4: nothing to replace")
	}
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[3].Close(stopCtx); err != nil {
		t.Fatal(err)
	}
	stopCancel()
	stopped := time.Now()
	tu.Eventually(t, wait, "node 4 replaced", func() bool { return nodeStatus(t, nodes[0], 4).State == "replaced" })
	t.Logf("%d channels had a replica on node 4; replaced %v after it stopped (replace_after 3s)", onFour, time.Since(stopped).Round(100*time.Millisecond))
	for i := 0; i < channels; i++ {
		var cs broker.ChannelStatus
		getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/channels/"+name(i), "", &cs)
		ids := make([]uint64, 0, len(cs.Replicas))
		for _, r := range cs.Replicas {
			ids = append(ids, r.NodeID)
		}
		if len(ids) != 3 || slices.Contains(ids, 4) {
			t.Fatalf("%s: replicas %v, want three on nodes 1-3", name(i), ids)
		}
	}
	// Every replica (nodes 1-3 hold one each) stores every acked message: its own store, asked of
	// each node, hot, warm or cold.
	for i := 0; i < channels; i++ {
		for _, n := range nodes[:3] {
			tu.Eventually(t, 30*time.Second, fmt.Sprintf("%s complete on %s", name(i), n.HTTPAddr()), func() bool {
				var cs broker.ChannelStatus
				getJSON(t, "GET", "http://"+n.HTTPAddr()+"/channels/"+name(i), "", &cs)
				return cs.LastSeq == perChannel
			})
		}
	}
	// A second failure: node 3 stops; every channel keeps two of its three replicas.
	stopCtx, stopCancel = context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[2].Close(stopCtx); err != nil {
		t.Fatal(err)
	}
	stopCancel()
	for i := 0; i < channels; i++ {
		got := tu.ReadEarliest(t, ctx, c, name(i), perChannel)
		for j, m := range got {
			if m.Seq != uint64(j+1) || string(m.Payload) != fmt.Sprint(j) {
				t.Fatalf("%s after two failures: message %d is seq %d %q", name(i), j, m.Seq, m.Payload)
			}
		}
	}
}
