package testkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/sampan-io/sampan/testkit"
)

func TestSmokeCrashRestart(t *testing.T) {
	c := testkit.NewCluster(t, testkit.Nodes(3))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client(1)
	for i := 0; i < 20; i++ {
		if _, err := cl.Publish(ctx, "smoke", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	if err := c.Crash(ctx, 2); err != nil {
		t.Fatal(err)
	}
	t.Logf("crash took %v", time.Since(t0))
	for i := 0; i < 20; i++ {
		if _, err := cl.Publish(ctx, "smoke", []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	t0 = time.Now()
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(t0))
	c.Isolate(1)
	for i := 0; i < 5; i++ {
		pctx, pc := context.WithTimeout(ctx, 10*time.Second)
		seq, err := cl.Publish(pctx, "smoke", []byte("z"))
		pc()
		t.Logf("publish while 1 isolated: %d %v", seq, err)
	}
	c.Heal()
	seq, err := cl.Publish(ctx, "smoke", []byte("w"))
	t.Logf("after heal: %d %v", seq, err)
}
