package testkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/sampan-io/sampan/testkit"
)

// TestREADMEExample is the failure test testkit/README.md shows a user, run as written (with a fixed
// seed and the link faults only, so that CI does not trip over the known findings; TestJepsen covers
// crashes).
func TestREADMEExample(t *testing.T) {
	c := testkit.NewCluster(t, testkit.Nodes(3), testkit.Seed(11))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := testkit.NewHistory()
	c.Record(h)
	sub, err := testkit.Subscribe(ctx, h, c.Client(3), "audit", "orders")
	if err != nil {
		t.Fatal(err)
	}
	pub := &testkit.Publisher{Name: "shop", Channel: "orders", Client: c.Client(1), History: h}
	work, stop := context.WithCancel(ctx)
	done := make(chan int)
	go func() { done <- pub.Run(work) }()
	err = c.Run(ctx, testkit.NewSchedule(c.Seed(), c.Nodes(), 4, testkit.FaultPartition, testkit.FaultIsolate))
	stop()
	if acked := <-done; acked == 0 || err != nil {
		t.Fatalf("%d publishes acked; schedule: %v", acked, err)
	}
	logs, err := c.Converge(ctx, h, sub)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range testkit.CheckHistory(h, logs) {
		t.Error(v)
	}
}
