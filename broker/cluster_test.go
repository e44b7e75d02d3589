package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
	"github.com/sampan-io/sampan/protocol"
)

// startCluster starts n nodes in this process, each with its own data dir and real TCP listeners
// (client, HTTP, Raft, actor remote), and waits until every node is ready.
func startCluster(t *testing.T, n int, mod ...func(*broker.Config)) []*broker.Broker {
	t.Helper()
	tu.SkipMultiNodeUnderRace(t)
	cfgs := make([]broker.Config, n)
	var peers []string
	for i := range cfgs {
		cfgs[i] = tu.Config(t, t.TempDir())
		cfgs[i].NodeID = uint64(i + 1)
		for _, f := range mod {
			f(&cfgs[i])
		}
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, cfgs[i].Raft))
	}
	nodes := make([]*broker.Broker, n)
	for i := range cfgs {
		cfgs[i].Peers = strings.Join(peers, ",")
		nodes[i] = tu.StartBroker(t, cfgs[i])
	}
	tu.DumpOnFailure(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, b := range nodes {
		if err := b.WaitReady(ctx); err != nil {
			t.Fatalf("node %d not ready: %v", i+1, err)
		}
	}
	return nodes
}

// TestClusterPublishSubscribeAcrossNodes: three nodes, R = 3. A client on node 1 publishes; subscribers
// on every node get every message in seq order; each node's replica stores them.
func TestClusterPublishSubscribeAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var cols []*collector
	for _, b := range nodes {
		c := connect(t, ctx, b)
		col := &collector{}
		if _, err := c.Subscribe(ctx, "cluster.orders", client.StartEarliest(), col.handle); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	const total = 500
	for i, b := range nodes {
		pub := connect(t, ctx, b)
		var last *client.PubFuture
		for j := 0; j < total/len(nodes)+1 && i*(total/len(nodes)+1)+j < total; j++ {
			f, err := pub.PublishAsync(ctx, "cluster.orders", []byte(fmt.Sprintf("n%d-%d", i+1, j)))
			if err != nil {
				t.Fatal(err)
			}
			last = f
		}
		if _, err := last.Wait(ctx); err != nil {
			t.Fatalf("publish via node %d: %v", i+1, err)
		}
	}
	for i, col := range cols {
		tu.Eventually(t, 30*time.Second, fmt.Sprintf("subscriber on node %d", i+1), func() bool { return col.len() >= total })
		col.check(t, 1, total)
	}
	// Every node holds a replica with every message.
	for i, b := range nodes {
		tu.Eventually(t, 10*time.Second, fmt.Sprintf("replica on node %d", i+1), func() bool {
			var cs broker.ChannelStatus // this node's replica, read from its own store
			code := getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/cluster.orders", "", &cs)
			return code == 200 && cs.LastSeq == total && cs.Messages == total
		})
	}
	checkAdminAPI(t, nodes, "cluster.orders", total)
}

func getJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if out != nil {
		if err := json.NewDecoder(r.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return r.StatusCode
}

func checkAdminAPI(t *testing.T, nodes []*broker.Broker, channel string, lastSeq uint64) {
	base := "http://" + nodes[1].HTTPAddr()
	var ns []broker.NodeStatus
	if code := getJSON(t, "GET", base+"/cluster/nodes", "", &ns); code != 200 || len(ns) != len(nodes) {
		t.Fatalf("/cluster/nodes: %d %+v", code, ns)
	}
	led := 0
	for _, n := range ns {
		if !n.Up || n.Client == "" {
			t.Fatalf("node %+v", n)
		}
		led += n.ChannelsLed
	}
	if led != 1 {
		t.Fatalf("%d channels led in total, want 1: %+v", led, ns)
	}
	var st broker.ClusterStatus
	if code := getJSON(t, "GET", base+"/cluster/status", "", &st); code != 200 || !st.Ready || st.Nodes != 3 || st.NodesUp != 3 || st.Channels != 1 || st.MetaLeader == 0 {
		t.Fatalf("/cluster/status: %d %+v", code, st)
	}
	var cs broker.ChannelStatus
	if code := getJSON(t, "GET", base+"/channels/"+channel, "", &cs); code != 200 || (cs.State != "hot" && cs.State != "warm") || len(cs.Replicas) != 3 || cs.Leader == 0 || cs.LastSeq != lastSeq {
		t.Fatalf("/channels/%s: %d %+v", channel, code, cs)
	}
	// The channel's actor runs on one node (hot there); the other replicas serve it (warm).
	states := map[string]int{}
	for _, n := range nodes {
		var c broker.ChannelStatus
		getJSON(t, "GET", "http://"+n.HTTPAddr()+"/channels/"+channel, "", &c)
		states[c.State]++
	}
	if states["hot"] != 1 || states["warm"] != 2 {
		t.Fatalf("channel states over the nodes: %v, want one hot and two warm", states)
	}
	var list broker.ChannelList
	if code := getJSON(t, "GET", base+"/channels", "", &list); code != 200 || len(list.Channels) != 1 || list.Channels[0].Name != channel || list.Next != "" {
		t.Fatalf("/channels: %d %+v", code, list)
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?limit=10001", "?prefix=" + strings.Repeat("a", 256)} {
		var e map[string]string
		if code := getJSON(t, "GET", base+"/channels"+bad, "", &e); code != 400 || e["error"] == "" {
			t.Fatalf("/channels%s: %d %v", bad, code, e)
		}
	}
	to := cs.Leader%3 + 1
	var moved broker.ChannelStatus
	if code := getJSON(t, "POST", base+"/channels/"+channel+"/transfer-leader", fmt.Sprintf(`{"to": %d}`, to), &moved); code != 200 || moved.Leader != to {
		t.Fatalf("transfer-leader to %d: %d %+v", to, code, moved)
	}
	var e map[string]string
	if code := getJSON(t, "GET", base+"/channels/no.such", "", &e); code != 404 || e["error"] == "" {
		t.Fatalf("unknown channel: %d %v", code, e)
	}
	if code := getJSON(t, "POST", base+"/channels/"+channel+"/transfer-leader", `{"to": 9}`, &e); code != 400 {
		t.Fatalf("transfer to a non-replica: %d %v", code, e)
	}
	for _, bad := range []string{`{}`, `{"id": 7}`, `{"id": 7, "raft": "nohost"}`, `{"id": 7, "raft": "h:0"}`, `not json`} {
		if code := getJSON(t, "POST", base+"/cluster/nodes", bad, &e); code != 400 || e["error"] == "" {
			t.Fatalf("add node %s: %d %v", bad, code, e)
		}
	}
	if code := getJSON(t, "POST", base+"/cluster/nodes", fmt.Sprintf(`{"id": 2, "raft": "127.0.0.1:1"}`), &e); code != 409 {
		t.Fatalf("add node 2 again under another address: %d %v", code, e)
	}
	for path, want := range map[string]int{"/cluster/nodes/x": 400, "/cluster/nodes/0": 400, "/cluster/nodes/42": 404} {
		if code := getJSON(t, "DELETE", base+path, "", &e); code != want || e["error"] == "" {
			t.Fatalf("DELETE %s: %d %v, want %d", path, code, e, want)
		}
	}
}

// TestClusterNodeStopFailover stops the node that runs a channel's actor (and one replica) while a
// publisher on another node keeps publishing and a subscriber connected to the stopped node keeps
// reading: the channel keeps accepting publishes on the survivors, the subscriber's client reconnects to
// another node and resumes with no gap and no duplicate, and every acked message is stored once, in order.
func TestClusterNodeStopFailover(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	all := strings.Join([]string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}, ",")
	sub, err := client.Connect(ctx, all) // connects to node 1, the first of the list
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var col collector
	if _, err := sub.Subscribe(ctx, "fo.ch", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, ctx, nodes[2])
	acked := map[uint64]string{}
	publish := func(n int, tag string) {
		for i := 0; i < n; i++ {
			payload := fmt.Sprintf("%s-%d", tag, i)
			seq, err := pub.Publish(ctx, "fo.ch", []byte(payload), client.WithIdempotencyKey(payload))
			for err != nil && ctx.Err() == nil {
				// Unavailable while a new activation starts, or timeout (outcome unknown) for a publish in
				// flight when its node stopped: retry with the same idempotency key.
				seq, err = pub.Publish(ctx, "fo.ch", []byte(payload), client.WithIdempotencyKey(payload))
			}
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := acked[seq]; dup && prev != payload {
				t.Fatalf("seq %d acked for %q and %q", seq, prev, payload)
			}
			acked[seq] = payload
		}
	}
	t0 := time.Now()
	publish(200, "before")
	tu.Eventually(t, 30*time.Second, "subscriber caught up", func() bool { return col.len() >= 200 })
	t.Logf("200 published and received in %v", time.Since(t0))
	t0 = time.Now()
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[0].Close(stopCtx); err != nil {
		t.Fatalf("stop node 1: %v", err)
	}
	stopCancel()
	t.Logf("node 1 stopped in %v", time.Since(t0))
	t0 = time.Now()
	publish(1, "first-after")
	t.Logf("first publish after the stop acked in %v", time.Since(t0))
	publish(200, "after")
	tu.Eventually(t, 30*time.Second, "subscriber resumed on another node", func() bool { return col.len() >= len(acked) })
	col.check(t, 1, uint64(len(acked)))
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, m := range col.msgs {
		if acked[m.Seq] != string(m.Payload) {
			t.Fatalf("seq %d holds %q, acked for %q", m.Seq, m.Payload, acked[m.Seq])
		}
	}
	if s := sub.Server(); s == nodes[0].Addr() || s == "" {
		t.Fatalf("subscriber's client is on %q, want a surviving node", s)
	}
}

// TestReadyzWaitsForMetadata: a node of a three-node cluster is not ready (GET /readyz 503) while it
// cannot reach a quorum of the metadata group, and becomes ready once a second node is up.
func TestReadyzWaitsForMetadata(t *testing.T) {
	tu.SkipMultiNodeUnderRace(t)
	cfgs := make([]broker.Config, 3)
	var peers []string
	for i := range cfgs {
		cfgs[i] = tu.Config(t, t.TempDir())
		cfgs[i].NodeID = uint64(i + 1)
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, cfgs[i].Raft))
	}
	for i := range cfgs {
		cfgs[i].Peers = strings.Join(peers, ",")
	}
	first := tu.StartBroker(t, cfgs[0])
	status := func() int {
		r, err := http.Get("http://" + first.HTTPAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if first.Ready() || status() != http.StatusServiceUnavailable {
		t.Fatal("a lone node of three is ready")
	}
	tu.StartBroker(t, cfgs[1])
	tu.Eventually(t, 30*time.Second, "node 1 ready once a quorum is up", func() bool { return status() == http.StatusOK })
}

// TestClusterLeadersSpread: with R = 3 on three nodes, channel actors (and so leaders) spread over the
// nodes instead of piling onto one.
func TestClusterLeadersSpread(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := connect(t, ctx, nodes[0])
	const n = 24
	for i := 0; i < n; i++ {
		if _, err := c.Publish(ctx, fmt.Sprintf("spread.c%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var ns []broker.NodeStatus
	tu.Eventually(t, 10*time.Second, "leaders known", func() bool {
		getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/cluster/nodes", "", &ns)
		total := 0
		for _, s := range ns {
			total += s.ChannelsLed
		}
		return total == n
	})
	for _, s := range ns {
		// 24 channels over 3 nodes: 8 each on average; rendezvous hashing keeps every node well above 2.
		if s.ChannelsLed < 3 {
			t.Fatalf("node %d leads %d of %d channels: %+v", s.ID, s.ChannelsLed, n, ns)
		}
	}
}

// TestClusterPublishThroughLeaderTransfers moves a channel's leadership around the nodes while a client
// keeps 32 publishes in flight: Raft drops proposals while its leader transfers, and every one of them
// must still be acked (proposed again, or held while the transfer runs), with seqs in publish order.
func TestClusterPublishThroughLeaderTransfers(t *testing.T) {
	testPublishThroughTransfers(t, false)
}

// TestClusterPublishThroughUnheldTransfers moves the leadership behind the channel actor's back (as a
// replica move or Dragonboat itself does), so nothing holds new proposals while the leader drops them:
// publishes may then fail "unavailable" or "timeout" (retryable), but every acked one must keep publish
// order: a dropped proposal is proposed again only once every later one is known dropped too (see
// redoDropped). In the runs so far the leader change answers everything in flight "timeout" first, so
// this guards the order promise rather than reproducing the re-proposal race.
func TestClusterPublishThroughUnheldTransfers(t *testing.T) {
	testPublishThroughTransfers(t, true)
}

func testPublishThroughTransfers(t *testing.T, behindActor bool) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := connect(t, ctx, nodes[0])
	if _, err := pub.Publish(ctx, "xfer.ch", []byte("first")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type result struct {
		seq uint64
		err error
	}
	results := make(chan result, 1<<16)
	go func() {
		defer close(results)
		var inflight []*client.PubFuture
		for i := 0; ; i++ {
			select {
			case <-stop:
				for _, f := range inflight {
					seq, err := f.Wait(ctx)
					results <- result{seq.Seq, err}
				}
				return
			default:
			}
			f, err := pub.PublishAsync(ctx, "xfer.ch", []byte(fmt.Sprint("m-", i)))
			if err != nil {
				results <- result{0, err}
				return
			}
			if inflight = append(inflight, f); len(inflight) == 32 {
				seq, err := inflight[0].Wait(ctx)
				results <- result{seq.Seq, err}
				inflight = inflight[1:]
			}
		}
	}()
	base := "http://" + nodes[1].HTTPAddr()
	for i := 0; i < 6; i++ {
		var cs broker.ChannelStatus
		// The leader is unknown on node 2 for a moment after each transfer (and while an election runs).
		tu.Eventually(t, 20*time.Second, "a known leader", func() bool {
			getJSON(t, "GET", base+"/channels/xfer.ch", "", &cs)
			return cs.Leader != 0
		})
		to := cs.Leader%3 + 1
		if behindActor {
			// Best effort in Dragonboat, and the actor pulls the leadership back when quiet: ask until
			// the leader has moved at least once.
			from := cs.Leader
			tu.Eventually(t, 20*time.Second, fmt.Sprintf("leadership moved off node %d", from), func() bool {
				if err := nodes[from-1].TransferBehindActor(ctx, "xfer.ch", to); err != nil {
					t.Fatal(err)
				}
				for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
					if getJSON(t, "GET", base+"/channels/xfer.ch", "", &cs); cs.Leader != from && cs.Leader != 0 {
						return true
					}
				}
				return false
			})
			continue
		}
		var moved broker.ChannelStatus
		// A transfer is best effort in Raft and the API gives up after 5 s (504); on a loaded machine the
		// target may need longer to catch up, so ask again, as an operator would.
		code := 0
		for try := 0; try < 4; try++ {
			if code = getJSON(t, "POST", base+"/channels/xfer.ch/transfer-leader", fmt.Sprintf(`{"to": %d}`, to), &moved); code != http.StatusGatewayTimeout {
				break
			}
		}
		if code != 200 || moved.Leader != to {
			t.Fatalf("transfer %d to node %d: %d %+v", i, to, code, moved)
		}
	}
	close(stop)
	last, n, failed := uint64(1), 0, 0
	for r := range results {
		switch {
		case r.err != nil && behindActor && (errors.Is(r.err, client.ErrUnavailable) || errors.Is(r.err, client.ErrTimeout)):
			// Dropped by the leader and not safely proposable again, or stranded at the old leader
			// (outcome unknown): the client retries, with an idempotency key for the second kind.
			failed++
		case r.err != nil:
			t.Fatalf("publish %d failed during leader transfers: %v", n, r.err)
		case r.seq <= last || (!behindActor && r.seq != last+1):
			t.Fatalf("publish %d acked with seq %d after seq %d: not in publish order", n, r.seq, last)
		default:
			last = r.seq
		}
		n++
	}
	t.Logf("%d publishes through 6 leader transfers, %d answered unavailable or timeout", n, failed)
}

// TestClusterResidentBound: channels.max_active bounds the shard replicas running on each node, follower
// replicas for actors on other nodes included. Nine R = 3 channels put nine replicas on every node;
// with a bound of 4 the least recently used channels passivate until every node holds at most 4, and
// an evicted channel comes back with its data.
func TestClusterResidentBound(t *testing.T) {
	nodes := startCluster(t, 3, func(c *broker.Config) { c.Channels.MaxActive = 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := connect(t, ctx, nodes[0])
	for i := 0; i < 9; i++ {
		if _, err := c.Publish(ctx, fmt.Sprintf("bound.c%d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range nodes {
		tu.Eventually(t, 30*time.Second, fmt.Sprintf("at most 4 replicas on node %d", i+1), func() bool {
			return testutil.ToFloat64(b.Metrics.Resident) <= 4
		})
	}
	var col collector
	if _, err := connect(t, ctx, nodes[1]).Subscribe(ctx, "bound.c0", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 20*time.Second, "the evicted channel's message", func() bool { return col.len() == 1 })
	if seq, err := c.Publish(ctx, "bound.c0", []byte("again")); err != nil || seq != 2 {
		t.Fatalf("publish to a reactivated channel: seq %d, %v", seq, err)
	}
}

// TestClusterIdleWithSubscriber: a channel with a live subscriber but no publishes passivates after its
// idle timeout on every node (its replicas stop), though gateways confirm their interest every second
// and the actor restarts its replicas every few seconds; the next publish reactivates it and the
// subscriber gets it.
func TestClusterIdleWithSubscriber(t *testing.T) {
	nodes := startCluster(t, 3, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(3 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var col collector
	if _, err := connect(t, ctx, nodes[2]).Subscribe(ctx, "idle.sub", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, ctx, nodes[0])
	if _, err := pub.Publish(ctx, "idle.sub", []byte("one")); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "first delivery", func() bool { return col.len() == 1 })
	for i, b := range nodes {
		tu.Eventually(t, 30*time.Second, fmt.Sprintf("channel passivated on node %d", i+1), func() bool {
			return testutil.ToFloat64(b.Metrics.ActiveChannels) == 0 && testutil.ToFloat64(b.Metrics.Resident) == 0
		})
	}
	if seq, err := pub.Publish(ctx, "idle.sub", []byte("two")); err != nil || seq != 2 {
		t.Fatalf("publish after passivation: seq %d, %v", seq, err)
	}
	tu.Eventually(t, 20*time.Second, "delivery after reactivation", func() bool { return col.len() == 2 })
	col.check(t, 1, 2)
}

// TestClusterBusyChannelReturnsToPreferredNode: a channel's actor that runs away from its preferred node
// (the node was down) goes back once the node has been up a while, even though four connections never
// stop publishing: new publishes wait while those in flight are answered, the actor stops, and the
// sessions resend what waited to the new activation. Every publish is acked, each connection's in
// publish order, none fails. (The hand-off used to wait for a replica check to find no proposal in
// flight; this load still leaves such moments, so the test passed before too: it guards the outcome.)
func TestClusterBusyChannelReturnsToPreferredNode(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const ch = "back.ch"
	hotOn := func() int {
		for i, b := range nodes {
			var cs broker.ChannelStatus
			if getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/"+ch, "", &cs) == 200 && cs.State == "hot" {
				return i
			}
		}
		return -1
	}
	first := connect(t, ctx, nodes[0])
	if _, err := first.Publish(ctx, ch, []byte("first")); err != nil {
		t.Fatal(err)
	}
	var pref int
	tu.Eventually(t, 10*time.Second, "channel hot on a node", func() bool { pref = hotOn(); return pref >= 0 })
	cfg := nodes[pref].Config()
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[pref].Close(stopCtx); err != nil {
		t.Fatal(err)
	}
	stopCancel()
	pub := connect(t, ctx, nodes[(pref+1)%3])
	for {
		// The first publishes after the stop may meet the lost activation: retried until one is acked.
		if _, err := pub.Publish(ctx, ch, []byte("after-stop"), client.WithIdempotencyKey("after-stop")); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	type result struct {
		seq uint64
		err error
	}
	results := make(chan result, 1024) // consumed below while publishing: the publisher never waits on it
	// Four connections with 64 publishes in flight each: the actor always has proposals in flight, so
	// it never sees the idle moment an idle hand-off waits for.
	var pubs sync.WaitGroup
	for c := 0; c < 4; c++ {
		pc := pub
		if c > 0 {
			pc = connect(t, ctx, nodes[(pref+1+c%2)%3])
		}
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			var inflight []*client.PubFuture
			last := uint64(0)
			report := func(f *client.PubFuture) {
				a, err := f.Wait(ctx)
				if err == nil && a.Seq <= last {
					err = fmt.Errorf("seq %d acked after seq %d on one connection", a.Seq, last)
				}
				last = max(last, a.Seq)
				results <- result{a.Seq, err}
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					for _, f := range inflight {
						report(f)
					}
					return
				default:
				}
				f, err := pc.PublishAsync(ctx, ch, []byte(fmt.Sprint("m-", i)))
				if err != nil {
					results <- result{0, err}
					return
				}
				if inflight = append(inflight, f); len(inflight) == 64 {
					report(inflight[0])
					inflight = inflight[1:]
				}
			}
		}()
	}
	go func() { pubs.Wait(); close(results) }()
	var last uint64
	n, failed := 0, make(chan error, 1)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for r := range results {
			switch {
			case r.err != nil:
				select {
				case failed <- fmt.Errorf("publish %d failed: %w", n, r.err):
				default:
				}
			default:
				last = max(last, r.seq)
			}
			n++
		}
	}()
	nodes[pref] = tu.StartBroker(t, cfg)
	if err := nodes[pref].WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// Preferred again once it has been up 5 s (broker.preferred), then a replica check (1 s) hands off.
	tu.Eventually(t, 40*time.Second, fmt.Sprintf("actor back on node %d while publishing", pref+1), func() bool { return hotOn() == pref })
	close(stop)
	<-consumed
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	t.Logf("%d publishes acked while the actor went back to node %d", n, pref+1)
}

// TestClusterClientRoutesToChannelNode: a node that forwards a channel to the node running it tells a
// client that asked for routes (CONNECT routes) where that is, with one ROUTE before the answer, and
// tells nothing to a client that did not ask. The Go client then publishes there: pipelined
// publishes through the other node keep their order while the route moves under them, and a
// subscription through it moves there with no gap and no duplicate.
func TestClusterClientRoutesToChannelNode(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ch = "route.a"
	if _, err := connect(t, ctx, nodes[0]).Publish(ctx, ch, []byte("first")); err != nil {
		t.Fatal(err)
	}
	var cs broker.ChannelStatus
	tu.Eventually(t, 10*time.Second, "a leader", func() bool {
		return getJSON(t, "GET", "http://"+nodes[0].HTTPAddr()+"/channels/"+ch, "", &cs) == 200 && cs.Leader != 0
	})
	serving := nodes[cs.Leader-1]
	other := nodes[cs.Leader%3]

	for _, routes := range []bool{true, false} {
		conn, err := net.Dial("tcp", other.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		r := protocol.NewReader(conn, protocol.DefaultMaxFrame)
		if err := protocol.WriteFrame(conn, &protocol.Connect{Version: 1, Routes: routes}); err != nil {
			t.Fatal(err)
		}
		// The node learns the others' client addresses from the metadata within a moment of being
		// ready: publish until a ROUTE comes (or, not asked for, 20 times), then 20 more.
		var got []*protocol.Route
		for req, more := uint64(1), 20; more > 0; req++ {
			if err := protocol.WriteFrame(conn, &protocol.Pub{Req: req, Channel: ch, Payload: []byte("raw")}); err != nil {
				t.Fatal(err)
			}
		read:
			for {
				f, err := r.Next()
				if err != nil {
					t.Fatalf("routes=%v: %v", routes, err)
				}
				switch f := f.(type) {
				case *protocol.Route:
					got = append(got, f)
				case *protocol.PubAck:
					break read
				case *protocol.Err:
					t.Fatalf("routes=%v: %v", routes, f.AsError())
				}
			}
			if len(got) > 0 || !routes {
				more--
			}
		}
		switch {
		case !routes && len(got) > 0:
			t.Fatalf("a client that did not ask got %+v", got)
		case routes && (len(got) != 1 || got[0].Channel != ch || got[0].Node != cs.Leader || got[0].Addr != serving.Addr()):
			t.Fatalf("ROUTEs %+v, want one for %s naming node %d at %s", got, ch, cs.Leader, serving.Addr())
		}
	}

	// A subscriber through the other node moves to the channel's node too, without gap or duplicate.
	sc := connect(t, ctx, other)
	var col collector
	if _, err := sc.Subscribe(ctx, ch, client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	c := connect(t, ctx, other)
	const n = 2000
	futs := make([]*client.PubFuture, n)
	for i := range futs {
		f, err := c.PublishAsync(ctx, ch, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		futs[i] = f
	}
	var prev uint64
	for i, f := range futs {
		a, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if prev != 0 && a.Seq != prev+1 {
			t.Fatalf("publish %d got seq %d after %d", i, a.Seq, prev)
		}
		prev = a.Seq
	}
	if got := c.Route(ch); got != serving.Addr() {
		t.Fatalf("publishes go to %s, want the channel's node %s", got, serving.Addr())
	}
	if got := c.Server(); got != other.Addr() {
		t.Fatalf("primary connection on %s, want %s", got, other.Addr())
	}
	tu.Eventually(t, 30*time.Second, "the subscriber got every message", func() bool { return col.len() >= int(prev) })
	col.check(t, 1, prev)
	if got := sc.Route(ch); got != serving.Addr() {
		t.Fatalf("the subscriber's channel goes to %s, want %s", got, serving.Addr())
	}
}
