package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// TestClusterCreateRaceSameName: clients on two nodes publish the first message of the same new
// channels at the same moment. Each channel is registered once (one shard id, the same on every node),
// every publish is acked with its own seq, and the channel holds exactly the acked messages.
func TestClusterCreateRaceSameName(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	a, b := connect(t, ctx, nodes[0]), connect(t, ctx, nodes[1])
	const channels, each = 12, 5
	for i := 0; i < channels; i++ {
		name := fmt.Sprintf("race.create.%d", i)
		var wg sync.WaitGroup
		seqs := make([][]uint64, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for k, c := range []*client.Client{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var fs []*client.PubFuture
				for j := 0; j < each; j++ {
					f, err := c.PublishAsync(ctx, name, []byte(fmt.Sprintf("c%d-%d", k, j)))
					if err != nil {
						errs[k] = err
						return
					}
					fs = append(fs, f)
				}
				for _, f := range fs {
					ack, err := f.Wait(ctx)
					if err != nil {
						errs[k] = err
						return
					}
					seqs[k] = append(seqs[k], ack.Seq)
				}
			}()
		}
		close(start)
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("%s: client %d: %v", name, k, err)
			}
		}
		got := map[uint64]bool{}
		for k, s := range seqs {
			for j, seq := range s {
				if got[seq] {
					t.Fatalf("%s: seq %d acked twice", name, seq)
				}
				got[seq] = true
				if j > 0 && seq <= s[j-1] {
					t.Fatalf("%s: client %d acked out of order: %v", name, k, s)
				}
			}
		}
		for seq := uint64(1); seq <= 2*each; seq++ {
			if !got[seq] {
				t.Fatalf("%s: seqs %v and %v leave a gap at %d", name, seqs[0], seqs[1], seq)
			}
		}
		var shard uint64
		for n, node := range nodes {
			var cs broker.ChannelStatus
			if code := getJSON(t, "GET", "http://"+node.HTTPAddr()+"/channels/"+name, "", &cs); code != 200 {
				t.Fatalf("%s on node %d: HTTP %d", name, n+1, code)
			}
			if shard == 0 {
				shard = cs.ShardID
			}
			if cs.ShardID != shard || len(cs.Replicas) != 3 {
				t.Fatalf("%s on node %d: shard %d with %d replicas, want shard %d with 3", name, n+1, cs.ShardID, len(cs.Replicas), shard)
			}
		}
		tu.Eventually(t, 10*time.Second, name+" stored on node 1", func() bool {
			var cs broker.ChannelStatus
			getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/channels/"+name, "", &cs)
			return cs.LastSeq == 2*each && cs.Messages == 2*each
		})
	}
}

// TestClusterWakeDuringNodeFailure: channels created on a 3-node cluster go cold; one node is stopped;
// a publish to every cold channel, through a surviving node, wakes it on the two replicas left and is
// acked, and what was stored before is still there.
func TestClusterWakeDuringNodeFailure(t *testing.T) {
	nodes := startCluster(t, 3, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(300 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pub := connect(t, ctx, nodes[1])
	const channels = 12
	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("wake.fail.%d", i)
		if _, err := pub.Publish(ctx, names[i], []byte("before")); err != nil {
			t.Fatalf("create %s: %v", names[i], err)
		}
	}
	for _, name := range names {
		tu.Eventually(t, 30*time.Second, name+" cold on every node", func() bool {
			for _, node := range nodes {
				var cs broker.ChannelStatus
				if getJSON(t, "GET", "http://"+node.HTTPAddr()+"/channels/"+name, "", &cs) != 200 || cs.State != "cold" {
					return false
				}
			}
			return true
		})
	}
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[0].Close(stopCtx); err != nil {
		t.Fatalf("stop node 1: %v", err)
	}
	stopCancel()
	t0 := time.Now()
	for _, name := range names {
		seq, err := pub.Publish(ctx, name, []byte("after"), client.WithIdempotencyKey(name+"-after"))
		for err != nil && ctx.Err() == nil {
			// Unavailable while an activation placed on the stopped node fails over, or a timeout
			// (outcome unknown): retried with the same idempotency key.
			t.Logf("%s: %v (retrying)", name, err)
			seq, err = pub.Publish(ctx, name, []byte("after"), client.WithIdempotencyKey(name+"-after"))
		}
		if err != nil {
			t.Fatalf("wake %s with node 1 down: %v", name, err)
		}
		if seq != 2 {
			t.Fatalf("wake %s: acked seq %d, want 2", name, seq)
		}
	}
	t.Logf("%d cold channels woken with a node down in %v", channels, time.Since(t0))
	for _, name := range names {
		col := &collector{}
		if _, err := pub.Subscribe(ctx, name, client.StartEarliest(), col.handle); err != nil {
			t.Fatalf("subscribe %s: %v", name, err)
		}
		tu.Eventually(t, 10*time.Second, name+" read back", func() bool { return col.len() >= 2 })
		col.check(t, 1, 2)
		col.mu.Lock()
		if p0, p1 := string(col.msgs[0].Payload), string(col.msgs[1].Payload); p0 != "before" || p1 != "after" {
			t.Fatalf("%s holds %q, %q; want before, after", name, p0, p1)
		}
		col.mu.Unlock()
	}
}
