package broker_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

var long = flag.Bool("long", false, "run the long and known-flaky cluster scenarios too")

func nodeStatus(t *testing.T, b *broker.Broker, id uint64) broker.NodeStatus {
	t.Helper()
	var ns []broker.NodeStatus
	getJSON(t, "GET", "http://"+b.HTTPAddr()+"/cluster/nodes", "", &ns)
	for _, n := range ns {
		if n.ID == id {
			return n
		}
	}
	return broker.NodeStatus{}
}

// TestClusterAddAndRemoveNode grows a three-node cluster (R = 3) by a fourth node and then removes node
// 2 (with -long: while a publisher keeps publishing): the new node joins through the admin API and --join, node 2's
// replicas (of a hot channel and of a cold one) are re-created on node 4 before node 2 goes, node 4 is
// promoted into the metadata group in node 2's place, every acked message is on node 4 in order, and
// node 4 restarts as a full member.
func TestClusterAddAndRemoveNode(t *testing.T) {
	idle := func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(500 * time.Millisecond) }
	nodes := startCluster(t, 3, idle)
	ctx, cancel := context.WithTimeout(context.Background(), 360*time.Second)
	defer cancel()
	pub := connect(t, ctx, nodes[0])
	for i := 0; i < 50; i++ {
		if _, err := pub.Publish(ctx, "mv.cold", []byte(fmt.Sprint("cold-", i))); err != nil {
			t.Fatal(err)
		}
	}

	// Removing a node now would leave R = 3 channels on two nodes: refused.
	if code := getJSON(t, "DELETE", "http://"+nodes[0].HTTPAddr()+"/cluster/nodes/2", "", nil); code != 409 {
		t.Fatalf("DELETE /cluster/nodes/2 with nowhere to move: %d, want 409", code)
	}

	// Add node 4: recorded pending, then started with --join.
	cfg4 := tu.Config(t, t.TempDir())
	cfg4.NodeID, cfg4.Join = 4, true
	idle(&cfg4)
	var added broker.NodeStatus
	body := fmt.Sprintf(`{"id": 4, "raft": %q}`, cfg4.Raft)
	if code := getJSON(t, "POST", "http://"+nodes[1].HTTPAddr()+"/cluster/nodes", body, &added); code != 201 || added.State != "pending" {
		t.Fatalf("POST /cluster/nodes: %d %+v", code, added)
	}
	if code := getJSON(t, "POST", "http://"+nodes[1].HTTPAddr()+"/cluster/nodes", `{"id": 5, "raft": "`+nodes[0].HTTPAddr()+`"}`, nil); code != 201 {
		// Another id is fine; this one is removed again below (a pending node leaves at once).
		t.Fatalf("POST a second node: %d", code)
	}
	if code := getJSON(t, "POST", "http://"+nodes[1].HTTPAddr()+"/cluster/nodes", `{"id": 6, "raft": "`+cfg4.Raft+`"}`, nil); code != 409 {
		t.Fatalf("POST with node 4's raft address under another id: %d, want 409", code)
	}
	n4 := tu.StartBroker(t, cfg4)
	if err := n4.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, "node 4 active and a non-voting metadata member", func() bool {
		s := nodeStatus(t, nodes[0], 4)
		return s.State == "active" && s.Meta == "non-voting" && s.Client == n4.Addr()
	})
	if code := getJSON(t, "DELETE", "http://"+nodes[0].HTTPAddr()+"/cluster/nodes/5", "", nil); code != 202 {
		t.Fatalf("DELETE a pending node: %d", code)
	}

	// A publisher keeps the hot channel busy through the removal, retrying with idempotency keys. A
	// publish left unanswered (a known, rare bug around the hand-off after a move: see the README's
	// "What does not work yet") is retried on a new connection after 15 s and counted.
	acked := map[uint64]string{}
	var mu sync.Mutex
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	stuck := 0
	go func() {
		hot := pub
		publish := func(payload string) (uint64, error) {
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			seq, err := hot.Publish(pctx, "mv.hot", []byte(payload), client.WithIdempotencyKey(payload))
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				stuck++
				t.Logf("publish of %s unanswered for 15 s", payload)
				tu.DumpGoroutines(t, "stuck")
				hot.Close()
				if c, cerr := client.Connect(ctx, nodes[0].Addr()); cerr == nil {
					hot = c
				}
			}
			return seq, err
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				pubDone <- nil
				return
			default:
			}
			payload := fmt.Sprint("hot-", i)
			seq, err := publish(payload)
			for err != nil && ctx.Err() == nil {
				seq, err = publish(payload)
			}
			if err != nil {
				pubDone <- err
				return
			}
			mu.Lock()
			acked[seq] = payload
			mu.Unlock()
		}
	}()
	tu.Eventually(t, 30*time.Second, "hot channel publishing", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20 })
	if !*long {
		// Publishing through the move is a -long test for now: in a few runs of 30 a publish made around
		// the hand-off after the move stays unanswered (README, "What does not work yet").
		close(stop)
		if err := <-pubDone; err != nil {
			t.Fatal(err)
		}
		stop = nil
	}

	var st broker.NodeStatus
	if code := getJSON(t, "DELETE", "http://"+nodes[2].HTTPAddr()+"/cluster/nodes/2", "", &st); code != 202 || st.State != "draining" {
		t.Fatalf("DELETE /cluster/nodes/2: %d %+v", code, st)
	}
	// Normally 5-20 s. Up to 4 min: a move whose result was once seen never handled is started again
	// after moveTimeout (README, known bugs).
	tu.Eventually(t, 240*time.Second, "node 2 removed", func() bool {
		return nodeStatus(t, nodes[0], 2).State == "removed" && nodeStatus(t, nodes[0], 5).State == "removed"
	})
	if stop != nil {
		close(stop)
		if err := <-pubDone; err != nil {
			t.Fatal(err)
		}
	}
	if stuck > 0 {
		t.Logf("%d publishes were left unanswered and retried on a new connection", stuck)
	}
	for _, ch := range []string{"mv.hot", "mv.cold"} {
		var cs broker.ChannelStatus
		getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/channels/"+ch, "", &cs)
		var on []uint64
		for _, r := range cs.Replicas {
			if r.Joining {
				t.Fatalf("%s: replica still joining after the removal: %+v", ch, cs.Replicas)
			}
			on = append(on, r.NodeID)
		}
		slices.Sort(on)
		if fmt.Sprint(on) != "[1 3 4]" {
			t.Fatalf("%s replicas on nodes %v, want [1 3 4]", ch, on)
		}
	}
	tu.Eventually(t, 30*time.Second, "node 4 promoted to a metadata voter", func() bool {
		return nodeStatus(t, nodes[0], 4).Meta == "voter" && nodeStatus(t, nodes[0], 2).Meta == ""
	})
	closeCtx, closeCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[1].Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	closeCancel()

	// Node 4 holds everything: read both channels through it, then restart it and read again.
	readAll := func(b *broker.Broker, ch string, want int) []*client.Message {
		c := connect(t, ctx, b)
		defer c.Close()
		var col collector
		if _, err := c.Subscribe(ctx, ch, client.StartEarliest(), col.handle); err != nil {
			t.Fatal(err)
		}
		tu.Eventually(t, 30*time.Second, ch+" read through node 4", func() bool { return col.len() >= want })
		col.check(t, 1, uint64(want))
		col.mu.Lock()
		defer col.mu.Unlock()
		return append([]*client.Message(nil), col.msgs...)
	}
	msgs := readAll(n4, "mv.hot", len(acked))
	for _, m := range msgs {
		if acked[m.Seq] != string(m.Payload) {
			t.Fatalf("mv.hot seq %d holds %q, acked for %q", m.Seq, m.Payload, acked[m.Seq])
		}
	}
	readAll(n4, "mv.cold", 50)

	closeCtx, closeCancel = context.WithTimeout(ctx, 30*time.Second)
	if err := n4.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	closeCancel()
	n4 = tu.StartBroker(t, cfg4)
	if err := n4.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "mv.cold", []byte("after restart")); err != nil {
		t.Fatal(err)
	}
	readAll(n4, "mv.cold", 51)
}

// TestClusterPeersBeyondMetadataVoters starts four nodes from one --peers list: the metadata group has
// three voters, the fourth node joins it as a non-voting member by itself and serves like the others.
func TestClusterPeersBeyondMetadataVoters(t *testing.T) {
	nodes := startCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tu.Eventually(t, 30*time.Second, "metadata roles", func() bool {
		roles := ""
		for id := uint64(1); id <= 4; id++ {
			roles += nodeStatus(t, nodes[3], id).Meta + ","
		}
		return roles == "voter,voter,voter,non-voting,"
	})
	c := connect(t, ctx, nodes[3])
	for i := 0; i < 10; i++ {
		if _, err := c.Publish(ctx, fmt.Sprint("four.", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	held := 0
	for id := uint64(1); id <= 4; id++ {
		held += nodeStatus(t, nodes[0], id).Replicas
		if n := nodeStatus(t, nodes[0], id).Replicas; n < 7 || n > 8 {
			t.Fatalf("node %d holds %d replicas of 10 channels x 3 over 4 nodes, want 7 or 8", id, n)
		}
	}
	if held != 30 {
		t.Fatalf("%d replicas in all, want 30", held)
	}
}
