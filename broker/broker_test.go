package broker_test

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

func start(t *testing.T, mod ...func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := tu.Config(t, t.TempDir())
	for _, m := range mod {
		m(&cfg)
	}
	return tu.StartBroker(t, cfg)
}

func connect(t *testing.T, ctx context.Context, b *broker.Broker) *client.Client {
	t.Helper()
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector records a subscription's messages and checks order as they arrive.
type collector struct {
	mu   sync.Mutex
	msgs []*client.Message
	bad  error
}

func (c *collector) handle(m *client.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.msgs); n > 0 && m.Seq != c.msgs[n-1].Seq+1 && c.bad == nil {
		c.bad = fmt.Errorf("seq %d after %d", m.Seq, c.msgs[n-1].Seq)
	}
	c.msgs = append(c.msgs, m)
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) check(t *testing.T, first, last uint64) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bad != nil {
		t.Fatal(c.bad)
	}
	if uint64(len(c.msgs)) != last-first+1 {
		t.Fatalf("got %d messages, want %d..%d", len(c.msgs), first, last)
	}
	for i, m := range c.msgs {
		if m.Seq != first+uint64(i) {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq, first+uint64(i))
		}
	}
}

// TestPassivationKeepsSubscriptions: a channel passivates when idle (shard stopped), its live
// subscription survives, and the next publish reactivates it transparently.
func TestPassivationKeepsSubscriptions(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, sub := connect(t, ctx, b), connect(t, ctx, b)
	var col collector
	if _, err := sub.Subscribe(ctx, "hib.one", client.StartNew(), col.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := pub.Publish(ctx, "hib.one", []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 10*time.Second, "5 deliveries", func() bool { return col.len() == 5 })
	tu.Eventually(t, 20*time.Second, "channel passivated", func() bool {
		return testutil.ToFloat64(b.Metrics.ActiveChannels) == 0
	})
	for i := 0; i < 5; i++ {
		seq, err := pub.Publish(ctx, "hib.one", []byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(6+i) {
			t.Fatalf("seq %d after reactivation, want %d", seq, 6+i)
		}
	}
	tu.Eventually(t, 10*time.Second, "10 deliveries", func() bool { return col.len() == 10 })
	col.check(t, 1, 10)
	if n := testutil.ToFloat64(b.Metrics.Activations); n < 2 {
		t.Fatalf("%v activations, want a reactivation", n)
	}
}

// TestReplayThenLive subscribes from the start while a publisher is running: the subscriber must see
// every message once, in order, across the switch from store replay to live delivery.
func TestReplayThenLive(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := connect(t, ctx, b)
	const total = 3000
	var wg sync.WaitGroup
	wg.Add(1)
	var pubErr error
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			if _, err := pub.PublishAsync(ctx, "replay.live", []byte(fmt.Sprint(i))); err != nil {
				pubErr = err
				return
			}
		}
	}()
	// Start subscribers at different moments of the publishing run.
	var cols []*collector
	for i := 0; i < 4; i++ {
		c := connect(t, ctx, b)
		col := &collector{}
		if _, err := c.Subscribe(ctx, "replay.live", client.StartEarliest(), col.handle, client.WithWindow(16*(i+1))); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	wg.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	for i, col := range cols {
		tu.Eventually(t, 30*time.Second, fmt.Sprintf("subscriber %d complete", i), func() bool { return col.len() >= total })
		col.check(t, 1, total)
	}
}

// TestSlowSubscriberBounded: a subscriber that does not read at all neither blocks a fast subscriber
// nor the publisher, and it still gets everything, in order, once it reads.
func TestSlowSubscriberBounded(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, fast, slow := connect(t, ctx, b), connect(t, ctx, b), connect(t, ctx, b)
	release := make(chan struct{})
	var slowCol, fastCol collector
	if _, err := slow.Subscribe(ctx, "slow.sub", client.StartNew(), func(m *client.Message) {
		<-release
		slowCol.handle(m)
	}, client.WithWindow(8)); err != nil {
		t.Fatal(err)
	}
	if _, err := fast.Subscribe(ctx, "slow.sub", client.StartNew(), fastCol.handle); err != nil {
		t.Fatal(err)
	}
	const total = 20000
	payload := []byte(strings.Repeat("x", 512))
	var last *client.PubFuture
	for i := 0; i < total; i++ {
		f, err := pub.PublishAsync(ctx, "slow.sub", payload)
		if err != nil {
			t.Fatal(err)
		}
		last = f
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, "fast subscriber complete", func() bool { return fastCol.len() == total })
	fastCol.check(t, 1, total)
	close(release)
	tu.Eventually(t, 30*time.Second, "slow subscriber complete", func() bool { return slowCol.len() == total })
	slowCol.check(t, 1, total)
}

func TestIdempotentPublish(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	s1, err := c.Publish(ctx, "idem", []byte("a"), client.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "idem", []byte("b")); err != nil {
		t.Fatal(err)
	}
	f, err := c.PublishAsync(ctx, "idem", []byte("a again"), client.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Seq != s1 || !a.Duplicate {
		t.Fatalf("repeat got %+v, want seq %d duplicate", a, s1)
	}
	s3, err := c.Publish(ctx, "idem", []byte("c"))
	if err != nil || s3 != 3 {
		t.Fatalf("next publish seq %d err %v, want 3: the duplicate must not use a seq", s3, err)
	}
}

func TestRetentionMaxMsgs(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.MaxMsgs = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	for i := 1; i <= 25; i++ {
		if _, err := c.Publish(ctx, "ret", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var col collector
	sub, err := c.Subscribe(ctx, "ret", client.StartEarliest(), col.handle)
	if err != nil {
		t.Fatal(err)
	}
	if sub.StartSeq() != 16 {
		t.Fatalf("earliest start seq %d, want 16", sub.StartSeq())
	}
	tu.Eventually(t, 10*time.Second, "10 retained messages", func() bool { return col.len() == 10 })
	col.check(t, 16, 25)
}

func TestStartPositions(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	var mid time.Time
	for i := 1; i <= 10; i++ {
		if i == 6 {
			mid = time.Now()
		}
		if _, err := c.Publish(ctx, "pos", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		start client.Start
		first uint64
	}{
		{"earliest", client.StartEarliest(), 1},
		{"seq", client.StartAtSeq(4), 4},
		{"time", client.StartAtTime(mid), 6},
		{"new", client.StartNew(), 11},
	} {
		sub, err := c.Subscribe(ctx, "pos", tc.start, func(*client.Message) {})
		if err != nil {
			t.Fatal(err)
		}
		if sub.StartSeq() != tc.first {
			t.Errorf("%s: start seq %d, want %d", tc.name, sub.StartSeq(), tc.first)
		}
		_ = sub.Unsubscribe(ctx)
	}
}

// TestShutdownAnswersInflight closes the broker while a client has many publishes in flight: each gets
// an ack or an error, none is left hanging, and every acked one is there after a restart.
func TestShutdownAnswersInflight(t *testing.T) {
	cfg := tu.Config(t, t.TempDir())
	b, err := broker.Start(cfg, tu.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var futures []*client.PubFuture
	for i := 0; i < 2000; i++ {
		f, err := c.PublishAsync(ctx, "shut", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	for _, f := range futures {
		a, err := f.Wait(ctx)
		if err == nil {
			acked = append(acked, a.Seq)
		}
	}
	c.Close()
	b2 := tu.StartBroker(t, cfg)
	c2 := connect(t, ctx, b2)
	if len(acked) == 0 {
		t.Log("no publish was acked before shutdown")
		return
	}
	var col collector
	if _, err := c2.Subscribe(ctx, "shut", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "acked messages replayed", func() bool { return col.len() >= len(acked) })
	for i, s := range acked {
		if s != uint64(i+1) {
			t.Fatalf("ack %d seq %d", i, s)
		}
	}
}

// TestPassivationRace publishes in bursts separated by pauses around a tiny idle timeout, so channel
// actors passivate again and again while publishes are on their way to them. Every publish must be acked
// exactly once, in publish order, with consecutive seqs, and a live subscriber must see them all in order.
func TestPassivationRace(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(15 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub, sub := connect(t, ctx, b), connect(t, ctx, b)
	var col collector
	if _, err := sub.Subscribe(ctx, "race.ch", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	var futures []*client.PubFuture
	for burst := 0; burst < 60; burst++ {
		for i := 0; i < 1+rng.Intn(20); i++ {
			f, err := pub.PublishAsync(ctx, "race.ch", []byte(fmt.Sprint(len(futures))))
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
		time.Sleep(time.Duration(rng.Intn(30)) * time.Millisecond) // the pause is the test's input, not a wait
	}
	for i, f := range futures {
		a, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("seed %d: publish %d: %v", seed, i, err)
		}
		if a.Seq != uint64(i+1) {
			t.Fatalf("seed %d: publish %d got seq %d: order broken across passivation", seed, i, a.Seq)
		}
	}
	tu.Eventually(t, 30*time.Second, "subscriber complete", func() bool { return col.len() >= len(futures) })
	col.check(t, 1, uint64(len(futures)))
	t.Logf("%d publishes, %v activations", len(futures), testutil.ToFloat64(b.Metrics.Activations))
}

func TestHTTPEndpoints(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	var col collector
	if _, err := c.Subscribe(ctx, "http.metrics", client.StartNew(), col.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Publish(ctx, "http.metrics", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 10*time.Second, "deliveries", func() bool { return col.len() == 3 })
	get := func(path string) (int, string) {
		r, err := http.Get("http://" + b.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(p); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"sampan_publishes_total 3", "sampan_acks_total 3", "sampan_deliveries_total 3", "sampan_sessions 1",
		"sampan_active_channels 1", "sampan_resident_replicas 1", "sampan_ack_latency_seconds_count 3", "go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "http.metrics") {
		t.Error("/metrics has a per-channel label")
	}
	for _, p := range []string{"/nope", "/debug/pprof/"} { // the profiler only with pprof: true
		if code, _ := get(p); code != 404 {
			t.Fatalf("%s: %d", p, code)
		}
	}
}

// TestPProfEndpoint: with pprof: true the HTTP listener serves Go's profiler. (Its own test: two brokers
// alive at once in one process trip an upstream race under -race, decision 0005.)
func TestPProfEndpoint(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.PProf = true })
	r, err := http.Get("http://" + b.HTTPAddr() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("/debug/pprof/goroutine with pprof on: %d", r.StatusCode)
	}
}

// TestMaxActiveChannels: with at most 3 active channels per node, publishing to 8 channels keeps at
// most 3 resident (the least recently used passivate) and loses nothing.
func TestMaxActiveChannels(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.MaxActive = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	for i := 0; i < 8; i++ {
		if _, err := c.Publish(ctx, fmt.Sprintf("lru.c%d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 20*time.Second, "at most 3 active channels", func() bool {
		return testutil.ToFloat64(b.Metrics.ActiveChannels) <= 3
	})
	// An evicted channel comes back with its data.
	var col collector
	if _, err := c.Subscribe(ctx, "lru.c0", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "evicted channel's message", func() bool { return col.len() == 1 })
	if seq, err := c.Publish(ctx, "lru.c0", []byte("again")); err != nil || seq != 2 {
		t.Fatalf("publish to a reactivated channel: seq %d, %v", seq, err)
	}
}

// TestColdWakesCampaign: first publishes to cold channels are each answered with an ack (never a
// premature "timed out": Dragonboat's proposal clock of a just-started replica jumps at its first tick,
// and a wake now proposes before that tick), and the activations made their replica campaign instead of
// waiting for the election timer. The proposal timeout is short so that the NodeHost has run longer
// than it (the condition of the premature timeout) when the wakes come.
func TestColdWakesCampaign(t *testing.T) {
	b := start(t, func(c *broker.Config) {
		c.Channels.IdleTimeout = broker.Duration(300 * time.Millisecond)
		c.Tuning.ProposalTimeout = broker.Duration(500 * time.Millisecond)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := c.Publish(ctx, fmt.Sprintf("wake.c%d", i), []byte("create")); err != nil {
			t.Fatalf("create wake.c%d: %v", i, err)
		}
	}
	tu.Eventually(t, 30*time.Second, "every channel cold", func() bool {
		return testutil.ToFloat64(b.Metrics.ActiveChannels) == 0 && testutil.ToFloat64(b.Metrics.Resident) == 0
	})
	campaigns := testutil.ToFloat64(b.Metrics.Campaigns)
	var slowest time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		seq, err := c.Publish(ctx, fmt.Sprintf("wake.c%d", i), []byte("wake"))
		if err != nil || seq != 2 {
			t.Fatalf("wake wake.c%d: seq %d, %v", i, seq, err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	if got := testutil.ToFloat64(b.Metrics.Campaigns) - campaigns; got < n {
		t.Fatalf("%v campaigns for %d wakes, want at least one each", got, n)
	}
	t.Logf("slowest of %d wakes: %v", n, slowest)
}
