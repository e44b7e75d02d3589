package testkit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sampan-io/sampan/testkit"
)

// A failure test for your own service: a three-node cluster, a publisher and a subscriber, faults
// from a seeded schedule, then the checkers. (Examples cannot receive a *testing.T, so this one is
// compiled but not run; TestREADMEExample runs the same code.)
func ExampleNewCluster() {
	test := func(t *testing.T) {
		c := testkit.NewCluster(t, testkit.Nodes(3)) // stopped at t.Cleanup
		ctx := context.Background()
		h := testkit.NewHistory()
		c.Record(h)
		sub, _ := testkit.Subscribe(ctx, h, c.Client(2), "audit", "orders")
		pub := &testkit.Publisher{Name: "shop", Channel: "orders", Client: c.Client(1), History: h}
		work, stop := context.WithTimeout(ctx, 5*time.Second)
		defer stop()
		go pub.Run(work)
		if err := c.Run(ctx, testkit.NewSchedule(c.Seed(), c.Nodes(), 3)); err != nil {
			t.Fatal(err) // the failure message of NewCluster's cleanup prints the seed to replay
		}
		logs, err := c.Converge(ctx, h, sub)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range testkit.CheckHistory(h, logs) {
			t.Error(v)
		}
	}
	_ = test
}

// The nemesis: each call takes effect at once on Raft and actor traffic; a crash loses what the node
// had not fsynced.
func ExampleCluster_Partition() {
	test := func(t *testing.T) {
		c := testkit.NewCluster(t, testkit.Nodes(5))
		ctx := context.Background()
		c.Partition([]testkit.NodeID{1, 2}, []testkit.NodeID{3, 4, 5}) // two sides
		c.Heal()
		c.Isolate(3)                            // 3 alone; its clients still reach it
		c.SlowLink(1, 2, 50*time.Millisecond)   // both directions
		c.DropRate(4, 5, 0.2)                   // 20% of Raft batches lost
		c.Heal()                                // every link healthy again
		if err := c.Crash(ctx, 4); err != nil { // power loss
			t.Fatal(err)
		}
		if err := c.Restart(ctx, 4); err != nil {
			t.Fatal(err)
		}
	}
	_ = test
}

// A schedule is reproducible from its seed.
func ExampleNewSchedule() {
	s := testkit.NewSchedule(42, []testkit.NodeID{1, 2, 3}, 3, testkit.FaultCrash, testkit.FaultPartition)
	fmt.Println(s)
	// Output:
	// schedule (seed 42):
	//   1. crash node 2 for 1.467s, then 631ms calm
	//   2. crash node 2 for 1.433s, then 357ms calm
	//   3. crash node 3 for 1.35s, then 590ms calm
}

// The checkers judge a history against the replicas' logs; a violation names the channel, the seq
// and the history around it.
func ExampleCheckHistory() {
	h := testkit.NewHistory()
	h.AddPub(testkit.PubOp{Publisher: "p", Index: 0, Attempt: 1, Channel: "orders", Key: "p-0", Payload: "p-0", Seq: 1, Acked: true})
	h.AddPub(testkit.PubOp{Publisher: "p", Index: 1, Attempt: 1, Channel: "orders", Key: "p-1", Payload: "p-1", Seq: 2, Acked: true})
	logs := testkit.Logs{
		1: {"orders": {{Seq: 1, Payload: "p-0"}, {Seq: 2, Payload: "p-1"}}},
		2: {"orders": {{Seq: 1, Payload: "p-0"}}}, // node 2 lost an acked publish
	}
	for _, v := range testkit.CheckHistory(h, logs) {
		fmt.Println(v.Check, v.Channel, v.Seq, v.Node)
	}
	// Output:
	// replica-lag orders 1 2
	// lost-ack orders 2 2
}
