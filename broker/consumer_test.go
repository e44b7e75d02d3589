package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// publishN publishes n messages "m1".."mn" to channel.
func publishN(t *testing.T, ctx context.Context, c *client.Client, channel string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := c.Publish(ctx, channel, []byte("m"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// joinConsumer returns a handle on consumer name of channel through c, closed when the test ends.
func joinConsumer(t *testing.T, ctx context.Context, c *client.Client, channel, name string, opts ...client.ConsumerOption) *client.Consumer {
	t.Helper()
	k, err := c.Consumer(ctx, channel, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// fetchAll fetches until it holds n deliveries or the deadline passes.
func fetchAll(t *testing.T, ctx context.Context, k *client.Consumer, n int, d time.Duration) []*client.Delivery {
	t.Helper()
	fctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var out []*client.Delivery
	for len(out) < n {
		got, err := k.Fetch(fctx, n-len(out))
		if err != nil {
			t.Fatalf("fetch after %d of %d: %v", len(out), n, err)
		}
		out = append(out, got...)
	}
	return out
}

func seqsOf(ds []*client.Delivery) []uint64 {
	var out []uint64
	for _, d := range ds {
		out = append(out, d.Seq)
	}
	return out
}

// Ack, nak, term and in-progress through real sockets: acked messages never come again, a nak'ed one
// comes again at once with attempt 2, an unsettled one comes again after its ack wait, a terminated
// one never; in-progress keeps one from coming again while its member works on it.
func TestConsumerAckNakTermRedeliver(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "work", 6)
	k := joinConsumer(t, ctx, c, "work", "w", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(400*time.Millisecond))
	ds := fetchAll(t, ctx, k, 6, 10*time.Second)
	if got := seqsOf(ds); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("first deliveries %v", got)
	}
	for _, d := range ds {
		if d.Attempt != 1 || string(d.Payload) != "m"+strconv.FormatUint(d.Seq, 10) {
			t.Fatalf("delivery %d: attempt %d payload %q", d.Seq, d.Attempt, d.Payload)
		}
	}
	for _, d := range ds[:2] { // 1, 2 acked
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds[2].Term(ctx); err != nil { // 3 terminated
		t.Fatal(err)
	}
	if err := ds[3].Nak(ctx, 0); err != nil { // 4 handed back
		t.Fatal(err)
	}
	// 5 is kept in progress past its first ack wait; 6 is left alone.
	again := fetchAll(t, ctx, k, 1, 5*time.Second)
	if again[0].Seq != 4 || again[0].Attempt != 2 {
		t.Fatalf("after the nak: seq %d attempt %d, want 4 attempt 2", again[0].Seq, again[0].Attempt)
	}
	if err := again[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		if err := ds[4].InProgress(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := fetchWithin(ctx, k, 150*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			if d.Seq != 6 {
				t.Fatalf("seq %d came again while in progress or settled", d.Seq)
			}
			if d.Attempt != 2 {
				t.Fatalf("seq 6 attempt %d, want 2", d.Attempt)
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ds[4].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitFloor(t, b, "work", "w", 6)
	if got, _ := fetchWithin(ctx, k, 800*time.Millisecond); len(got) != 0 {
		t.Fatalf("settled messages came again: %v", seqsOf(got))
	}
}

// fetchWithin fetches what arrives within d (nothing is not an error).
func fetchWithin(ctx context.Context, k *client.Consumer, d time.Duration) ([]*client.Delivery, error) {
	fctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	got, err := k.Fetch(fctx, 100)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, nil
	}
	return got, err
}

// waitFloor waits until the consumer's ack floor (admin API) reaches floor.
func waitFloor(t *testing.T, b *broker.Broker, channel, name string, floor uint64) {
	t.Helper()
	tu.Eventually(t, 10*time.Second, fmt.Sprintf("ack floor %d", floor), func() bool {
		var st struct {
			AckFloor uint64 `json:"ack_floor"`
		}
		code := getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/"+channel+"/consumers/"+name, "", &st)
		return code == 200 && st.AckFloor == floor
	})
}

// After max-deliver attempts a message goes to the dead-letter channel with headers naming its origin,
// and the consumer moves past it.
func TestConsumerDeadLetter(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "jobs", 2)
	k, err := c.Consumer(ctx, "jobs", "w", client.WithConsumerStart(client.StartEarliest()), client.WithMaxDeliver(2),
		client.WithDeadLetter("jobs.dlq"), client.WithAckWait(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	for attempt := 1; attempt <= 2; attempt++ {
		ds := fetchAll(t, ctx, k, 3-attempt, 10*time.Second) // both, then only seq 1 (2 was acked)
		sort.Slice(ds, func(i, j int) bool { return ds[i].Seq < ds[j].Seq })
		if ds[0].Seq != 1 || ds[0].Attempt != attempt {
			t.Fatalf("attempt %d: got seq %d attempt %d", attempt, ds[0].Seq, ds[0].Attempt)
		}
		if err := ds[0].Nak(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if attempt == 1 {
			if err := ds[1].Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	col := &collector{}
	if _, err := c.Subscribe(ctx, "jobs.dlq", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "the dead letter", func() bool { return col.len() == 1 })
	col.mu.Lock()
	m := col.msgs[0]
	col.mu.Unlock()
	if string(m.Payload) != "m1" || m.Headers["Sampan-DLQ-Channel"] != "jobs" || m.Headers["Sampan-DLQ-Seq"] != "1" ||
		m.Headers["Sampan-DLQ-Consumer"] != "w" || m.Headers["Sampan-DLQ-Deliveries"] != "2" {
		t.Fatalf("dead letter %q headers %v", m.Payload, m.Headers)
	}
	waitFloor(t, b, "jobs", "w", 2)
}

// Shared mode: three members split the messages; one leaves holding unacknowledged ones, which go to
// the others; every message is acked by some member, none lost.
func TestConsumerSharedMemberLeaves(t *testing.T) {
	t.Run("leaves", func(t *testing.T) { sharedMemberGoes(t, false) })
	// Its connection drops without a word (a killed process): the session's end removes the member.
	t.Run("connection dies", func(t *testing.T) { sharedMemberGoes(t, true) })
}

func sharedMemberGoes(t *testing.T, kill bool) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := connect(t, ctx, b)
	const n = 300
	var mu sync.Mutex
	acked := map[uint64]int{}
	members := make([]*client.Consumer, 3)
	var victimClient *client.Client
	for i := range members {
		c := connect(t, ctx, b)
		if i == 0 {
			victimClient = c
		}
		k, err := c.Consumer(ctx, "q", "workers", client.WithConsumerStart(client.StartEarliest()), client.WithConsumerWindow(20))
		if err != nil {
			t.Fatal(err)
		}
		members[i] = k
		victim := i == 0
		if err := k.Consume(ctx, func(d *client.Delivery) {
			if victim {
				return // holds what it gets, never acks: it leaves below
			}
			if err := d.Ack(ctx); err != nil {
				t.Errorf("ack %d: %v", d.Seq, err)
				return
			}
			mu.Lock()
			acked[d.Seq]++
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		if _, err := pub.PublishAsync(ctx, "q", []byte("j"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 20*time.Second, "members got work", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > n/3
	})
	if kill {
		victimClient.Close() // no UNSUB: the connection just ends
	} else if err := members[0].Close(); err != nil { // what it held goes to the others at once
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, "every message acked", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == n
	})
	waitFloor(t, b, "q", "workers", n)
}

// Exclusive mode: one member receives, in seq order; when it leaves, the standby takes over from the
// oldest message not acked, still in order.
func TestConsumerExclusiveFailover(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "ordered", 10)
	opts := []client.ConsumerOption{client.WithMode(client.Exclusive), client.WithConsumerStart(client.StartEarliest())}
	active, err := c.Consumer(ctx, "ordered", "one", opts...)
	if err != nil {
		t.Fatal(err)
	}
	first := fetchAll(t, ctx, active, 10, 10*time.Second)
	standby, err := connect(t, ctx, b).Consumer(ctx, "ordered", "one", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fetchWithin(ctx, standby, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("the standby got %v while the active member holds them", seqsOf(got))
	}
	for _, d := range first[:4] {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	active.Close()
	rest := fetchAll(t, ctx, standby, 6, 10*time.Second)
	if got := fmt.Sprint(seqsOf(rest)); got != "[5 6 7 8 9 10]" {
		t.Fatalf("the standby took over with %s, want [5 6 7 8 9 10]", got)
	}
	publishN(t, ctx, c, "ordered", 1)
	if more := fetchAll(t, ctx, standby, 1, 10*time.Second); more[0].Seq != 11 {
		t.Fatalf("new message to the standby: seq %d", more[0].Seq)
	}
}

// A restart (same data dir): acked messages are not delivered again, every unacked one is; the
// consumer also wakes its cold channel.
func TestConsumerSurvivesRestart(t *testing.T) {
	cfg := tu.Config(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := broker.Start(cfg, tu.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, ctx, c, "durable", 8)
	k, err := c.Consumer(ctx, "durable", "d", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ds := fetchAll(t, ctx, k, 8, 10*time.Second)
	for _, d := range ds {
		if d.Seq%2 == 1 || d.Seq <= 4 { // acked: 1, 2, 3, 4, 5, 7
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Close()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelClose()
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	b = tu.StartBroker(t, cfg)
	c2 := connect(t, ctx, b)
	k2, err := c2.Consumer(ctx, "durable", "d")
	if err != nil {
		t.Fatal(err)
	}
	// 6 and 8 were delivered before the restart and not acked: they come again once their ack wait
	// (1 s) from the new activation's start passed.
	again := fetchAll(t, ctx, k2, 2, 10*time.Second)
	sort.Slice(again, func(i, j int) bool { return again[i].Seq < again[j].Seq })
	if got := fmt.Sprint(seqsOf(again)); got != "[6 8]" {
		t.Fatalf("after the restart: %s, want [6 8]", got)
	}
	if got, _ := fetchWithin(ctx, k2, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("more after the restart: %v", seqsOf(got))
	}
}

// Three nodes, R = 3: the node running the channel's actor (and so its consumers) stops while a member
// consumes through another node. The consumer goes on from its replicated state on a survivor: every
// message is acked, and none whose ack was confirmed comes again (what the member held at the stop it
// acks late, to the new activation, which waits its ack wait before handing it out again).
func TestConsumerClusterFailover(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const ch, n = "fo.work", 300
	pub := connect(t, ctx, nodes[0])
	publishN(t, ctx, pub, ch, n/2)
	hot := -1
	for i, b := range nodes {
		var cs broker.ChannelStatus
		if getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/"+ch, "", &cs) == 200 && cs.State == "hot" {
			hot = i
		}
	}
	if hot < 0 {
		t.Fatal("no node runs the channel's actor")
	}
	var addrs []string
	for i, b := range nodes {
		if i != hot {
			addrs = append(addrs, b.Addr())
		}
	}
	mc, err := client.Connect(ctx, strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	k := joinConsumer(t, ctx, mc, ch, "w", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(2*time.Second))
	var mu sync.Mutex
	confirmed, unknown := map[uint64]bool{}, map[uint64]bool{}
	// raceable: acks confirmed after the channel's node began to stop. The member still holds
	// deliveries of the stopping activation that it acks afterwards, through the new activation,
	// which meanwhile hands out again what its state shows unacked: that second delivery can be on
	// its way when the ack is recorded (the ack floor below still covers it). An ack confirmed
	// before the stop, or a third delivery, means an ack was undone.
	raceable := map[uint64]bool{}
	var stopping atomic.Bool
	var bad []string
	raced := 0
	if err := k.Consume(ctx, func(d *client.Delivery) {
		mu.Lock()
		again := confirmed[d.Seq]
		mu.Unlock()
		if again {
			mu.Lock()
			if raceable[d.Seq] && d.Attempt == 2 {
				raced++
			} else {
				bad = append(bad, fmt.Sprintf("seq %d delivered again (attempt %d) after its ack was confirmed", d.Seq, d.Attempt))
			}
			mu.Unlock()
			return
		}
		if err := d.Ack(ctx); err != nil {
			// Not known to be recorded: it may come again, which is allowed, or it was recorded
			// (the connection to the stopping node went before its answer) and does not.
			mu.Lock()
			unknown[d.Seq] = true
			mu.Unlock()
			return
		}
		mu.Lock()
		confirmed[d.Seq] = true
		raceable[d.Seq] = stopping.Load()
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(confirmed)
	}
	tu.Eventually(t, 30*time.Second, "some acks", func() bool { return count() >= n/4 })
	stopping.Store(true)
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[hot].Close(stopCtx); err != nil {
		t.Fatalf("stop node %d: %v", hot+1, err)
	}
	stopCancel()
	after := connect(t, ctx, nodes[(hot+1)%3])
	for i := n/2 + 1; i <= n; i++ {
		_, err := after.Publish(ctx, ch, []byte("m"+strconv.Itoa(i)), client.WithIdempotencyKey(strconv.Itoa(i)))
		for err != nil && ctx.Err() == nil { // unavailable while the channel's actor starts elsewhere
			_, err = after.Publish(ctx, ch, []byte("m"+strconv.Itoa(i)), client.WithIdempotencyKey(strconv.Itoa(i)))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	survivor := "http://" + nodes[(hot+1)%3].HTTPAddr() + "/channels/" + ch + "/consumers/w"
	tu.Eventually(t, 60*time.Second, "every message acked (the ack floor at the last seq)", func() bool {
		var st struct {
			AckFloor uint64 `json:"ack_floor"`
		}
		return getJSON(t, "GET", survivor, "", &st) == 200 && st.AckFloor == n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatal(strings.Join(bad, "\n"))
	}
	for s := uint64(1); s <= n; s++ {
		if !confirmed[s] && !unknown[s] {
			t.Fatalf("seq %d recorded done though no ack of it was sent", s)
		}
	}
	t.Logf("%d acks confirmed, %d with the outcome unknown, %d second deliveries that raced an ack made after the stop", len(confirmed), len(unknown), raced)
}

// Consume hands the handler everything that arrived, also when one wake-up stands for more deliveries
// than it takes at a time: 300 queued at once all reach the handler well before their ack wait.
func TestConsumerConsumeDrainsItsQueue(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "burst", 300)
	k := joinConsumer(t, ctx, c, "burst", "all", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(time.Minute))
	var mu sync.Mutex
	seen := map[uint64]bool{}
	if err := k.Consume(ctx, func(d *client.Delivery) {
		mu.Lock()
		seen[d.Seq] = true
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "all 300 handed to the handler", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 300
	})
}

// Retention removed what a consumer had not read: it skips to the first stored message in one step,
// and what it skipped is not counted as acked.
func TestConsumerSkipsWhatRetentionRemoved(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.MaxMsgs = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "trimmed", 1)
	if code := getJSON(t, "POST", "http://"+b.HTTPAddr()+"/channels/trimmed/consumers", `{"name":"w","from":"earliest"}`, nil); code != 200 && code != 201 {
		t.Fatalf("consumer add: %d", code)
	}
	var last *client.PubFuture
	var err error
	for i := 2; i <= 3000; i++ {
		if last, err = c.PublishAsync(ctx, "trimmed", []byte("m"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	k := joinConsumer(t, ctx, c, "trimmed", "w")
	ds := fetchAll(t, ctx, k, 10, 10*time.Second)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Seq < ds[j].Seq })
	if ds[0].Seq != 2991 || ds[9].Seq != 3000 || ds[0].Attempt != 1 {
		t.Fatalf("got seqs %v (first attempt %d), want 2991..3000", seqsOf(ds), ds[0].Attempt)
	}
	for _, d := range ds {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFloor(t, b, "trimmed", "w", 3000)
	var st struct {
		Acked uint64 `json:"acked"`
	}
	getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/trimmed/consumers/w", "", &st)
	if st.Acked != 10 {
		t.Fatalf("acked %d, want 10 (the 2,990 retention removed are skipped, not acked)", st.Acked)
	}
}

// channelState reads a channel's stored range and retention from the admin API.
func channelState(t *testing.T, b *broker.Broker, channel string) (first, last, msgs uint64, retention string) {
	t.Helper()
	var st struct {
		FirstSeq  uint64 `json:"first_seq"`
		LastSeq   uint64 `json:"last_seq"`
		Messages  uint64 `json:"messages"`
		Retention string `json:"retention"`
	}
	if code := getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/"+channel, "", &st); code != 200 {
		t.Fatalf("GET /channels/%s: %d", channel, code)
	}
	return st.FirstSeq, st.LastSeq, st.Messages, st.Retention
}

// retention: interest (set for jobs.> by an override) deletes what every consumer acked, as far as
// the slowest one's ack floor, across a restart; a channel under limits retention keeps what its
// consumers acked; an interest channel without consumers keeps its messages.
func TestConsumerInterestRetention(t *testing.T) {
	cfg := tu.Config(t, t.TempDir())
	cfg.Channels.Overrides = []broker.ChannelOverride{{Match: "jobs.>", Retention: "interest"}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := tu.StartBroker(t, cfg)
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "jobs.eu", 10)
	publishN(t, ctx, c, "logs.eu", 10)
	if first, _, n, ret := channelState(t, b, "jobs.eu"); first != 1 || n != 10 || ret != "interest" {
		t.Fatalf("jobs.eu without consumers: first %d, %d messages, retention %q", first, n, ret)
	}
	consumer := func(channel, name string) *client.Consumer {
		t.Helper()
		// Created by the admin API, as `sampan consumer add` does: a client's handle joins (and creates
		// the consumer) on its first fetch.
		if code := getJSON(t, "POST", "http://"+b.HTTPAddr()+"/channels/"+channel+"/consumers",
			`{"name":"`+name+`","from":"earliest","ack_wait":"1s"}`, nil); code != 200 && code != 201 {
			t.Fatalf("consumer add %s: %d", name, code)
		}
		k, err := c.Consumer(ctx, channel, name, client.WithConsumerStart(client.StartEarliest()))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ack := func(ds []*client.Delivery) {
		t.Helper()
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both consumers exist before either acks (a consumer created later starts at the oldest message
	// still stored).
	slow, fast, logs := consumer("jobs.eu", "slow"), consumer("jobs.eu", "fast"), consumer("logs.eu", "fast")
	ack(fetchAll(t, ctx, slow, 10, 10*time.Second)[:4])
	ack(fetchAll(t, ctx, fast, 10, 10*time.Second))
	ack(fetchAll(t, ctx, logs, 10, 10*time.Second))
	fast.Close()
	logs.Close()
	waitFloor(t, b, "jobs.eu", "fast", 10)
	waitFloor(t, b, "jobs.eu", "slow", 4)
	if first, _, n, _ := channelState(t, b, "jobs.eu"); first != 5 || n != 6 {
		t.Fatalf("jobs.eu, slow at 4: first %d, %d messages; want 5 and 6", first, n)
	}
	if first, _, n, ret := channelState(t, b, "logs.eu"); first != 1 || n != 10 || ret != "limits" {
		t.Fatalf("logs.eu (limits): first %d, %d messages, retention %q", first, n, ret)
	}
	slow.Close()
	c.Close()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelClose()
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}

	b = tu.StartBroker(t, cfg)
	c = connect(t, ctx, b)
	slow = joinConsumer(t, ctx, c, "jobs.eu", "slow")
	// After the restart, slow gets the 6 it had not acked again (their ack wait passed with the node)
	// and acks them: nothing is left.
	for _, d := range fetchAll(t, ctx, slow, 6, 60*time.Second) {
		if d.Seq < 5 {
			t.Fatalf("seq %d, acked before the restart, came again", d.Seq)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFloor(t, b, "jobs.eu", "slow", 10)
	tu.Eventually(t, 10*time.Second, "jobs.eu emptied", func() bool {
		first, last, n, _ := channelState(t, b, "jobs.eu")
		return first == 11 && last == 10 && n == 0
	})
	publishN(t, ctx, c, "jobs.eu", 1)
	if first, last, n, _ := channelState(t, b, "jobs.eu"); first != 11 || last != 11 || n != 1 {
		t.Fatalf("a new message: first %d, last %d, %d messages", first, last, n)
	}
}

// channelStateName is a channel's state on b: hot, warm or cold.
func channelStateName(t *testing.T, b *broker.Broker, channel string) string {
	t.Helper()
	var st struct {
		State string `json:"state"`
	}
	if code := getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/"+channel, "", &st); code != 200 {
		t.Fatalf("GET /channels/%s: %d", channel, code)
	}
	return st.State
}

// A channel whose consumer is caught up passivates with the member still connected; the next publish
// wakes it and reaches the member, which joins the new activation by itself; a consumer joining a
// cold channel wakes it.
func TestConsumerCaughtUpPassivates(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(300 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := connect(t, ctx, b)
	publishN(t, ctx, pub, "idle.jobs", 5)
	member := connect(t, ctx, b)
	k, err := member.Consumer(ctx, "idle.jobs", "w", client.WithConsumerStart(client.StartEarliest()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []uint64
	if err := k.Consume(ctx, func(d *client.Delivery) {
		if err := d.Ack(ctx); err != nil {
			t.Errorf("ack %d: %v", d.Seq, err)
		}
		mu.Lock()
		got = append(got, d.Seq)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	waitFloor(t, b, "idle.jobs", "w", 5)
	tu.Eventually(t, 10*time.Second, "idle.jobs cold with its member connected", func() bool {
		return channelStateName(t, b, "idle.jobs") == "cold"
	})
	for round := 1; round <= 2; round++ {
		// Published through another connection: what wakes the channel is the publish, and the member
		// comes back to it on its own.
		publishN(t, ctx, pub, "idle.jobs", 1)
		want := uint64(5 + round)
		tu.Eventually(t, 10*time.Second, fmt.Sprintf("seq %d consumed after the wake", want), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) > 0 && got[len(got)-1] == want
		})
		waitFloor(t, b, "idle.jobs", "w", want)
		tu.Eventually(t, 10*time.Second, "idle.jobs cold again", func() bool {
			return channelStateName(t, b, "idle.jobs") == "cold"
		})
	}
	mu.Lock()
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7]" {
		t.Fatalf("consumed %v", got)
	}
	mu.Unlock()
	if n := testutil.ToFloat64(b.Metrics.LeaseWaits); n != 0 {
		t.Fatalf("sampan_consumer_lease_waits_total %v: a wake after a clean passivation waited", n)
	}

	// Another consumer joining the cold channel wakes it and gets what is stored.
	other := joinConsumer(t, ctx, connect(t, ctx, b), "idle.jobs", "other", client.WithConsumerStart(client.StartEarliest()))
	if ds := fetchAll(t, ctx, other, 7, 10*time.Second); fmt.Sprint(seqsOf(ds)) != "[1 2 3 4 5 6 7]" {
		t.Fatalf("the consumer that woke the channel got %v", seqsOf(ds))
	}
}

// A second activation of a channel (here: its settings proposed behind the running one's back, as an
// activation started on another node after a partition does) fences the running one: the running
// one's next consumer command is refused, so the ack it carries is not confirmed, and it stops. Its
// member joins the current activation and the consumer goes on from what is committed: the message
// whose ack was confirmed never comes again, the others do and are acked there.
func TestConsumerSupersededActivation(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "fence", 4)
	k := joinConsumer(t, ctx, c, "fence", "w", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(500*time.Millisecond))
	ds := fetchAll(t, ctx, k, 4, 10*time.Second)
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.ActAsNewerActivation(ctx, "fence"); err != nil {
		t.Fatal(err)
	}
	if err := ds[1].Ack(ctx); !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("an ack through the superseded activation: %v, want unavailable (not confirmed)", err)
	}
	if n := testutil.ToFloat64(b.Metrics.ConsumerSuperseded); n != 1 {
		t.Fatalf("sampan_consumer_superseded_total %v, want 1", n)
	}
	acked := map[uint64]bool{1: true}
	deadline := time.Now().Add(20 * time.Second)
	for len(acked) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("acked %v after the fence, want 1-4", acked)
		}
		got, err := fetchWithin(ctx, k, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			if d.Seq == 1 {
				t.Fatalf("seq 1 came again (attempt %d) after its ack was confirmed", d.Attempt)
			}
			if err := d.Ack(ctx); err == nil {
				acked[d.Seq] = true
			}
		}
	}
	if got, _ := fetchWithin(ctx, k, 700*time.Millisecond); len(got) != 0 {
		t.Fatalf("more after every ack was confirmed: %v", seqsOf(got))
	}
	waitFloor(t, b, "fence", "w", 4)
}

// An activation learns of a newer one by its lease reads alone, without proposing anything, and
// stops; the next activation finds the channel not released and hands out nothing before the older
// one's lease ran out (leaseWait after its settings). A clean passivation releases the channel: the
// activation after it delivers at once.
func TestConsumerLease(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Channels.IdleTimeout = broker.Duration(300 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "lease", 2)
	k := joinConsumer(t, ctx, c, "lease", "w", client.WithConsumerStart(client.StartEarliest()), client.WithAckWait(300*time.Millisecond))
	fetchAll(t, ctx, k, 2, 10*time.Second) // handed out, never acked
	if err := b.ActAsNewerActivation(ctx, "lease"); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 5*time.Second, "the activation superseded by its lease read", func() bool {
		return testutil.ToFloat64(b.Metrics.ConsumerSuperseded) == 1
	})
	seen := time.Now()
	ds := fetchAll(t, ctx, k, 2, 20*time.Second)
	if waited := time.Since(seen); waited < 1900*time.Millisecond {
		t.Fatalf("redelivered %v after the older activation stopped, before its lease could have run out", waited)
	}
	if n := testutil.ToFloat64(b.Metrics.LeaseWaits); n != 1 {
		t.Fatalf("sampan_consumer_lease_waits_total %v, want 1", n)
	}
	for _, d := range ds {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFloor(t, b, "lease", "w", 2)
	tu.Eventually(t, 10*time.Second, "lease cold", func() bool { return channelStateName(t, b, "lease") == "cold" })
	publishN(t, ctx, c, "lease", 1)
	fetchAll(t, ctx, k, 1, 10*time.Second)
	if n := testutil.ToFloat64(b.Metrics.LeaseWaits); n != 1 {
		t.Fatalf("sampan_consumer_lease_waits_total %v after a clean passivation, want still 1", n)
	}
}

// A message stored behind the activation's back (a publish it answered "timeout" that committed after
// all, or another activation's) reaches its consumers once the activation reads the stored last seq,
// here at a consumer status request (also: a second after such a timeout, and at every replica check
// of a replicated channel).
func TestConsumerGetsWhatItsActivationMissed(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	publishN(t, ctx, c, "missed", 2)
	k := joinConsumer(t, ctx, c, "missed", "w", client.WithConsumerStart(client.StartEarliest()))
	for _, d := range fetchAll(t, ctx, k, 2, 10*time.Second) {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFloor(t, b, "missed", "w", 2)
	if err := b.PublishBehindActor(ctx, "missed", []byte("behind")); err != nil {
		t.Fatal(err)
	}
	if got, _ := fetchWithin(ctx, k, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("delivered %v before the activation could know of seq 3", seqsOf(got))
	}
	var st struct {
		LastSeq uint64 `json:"last_seq"`
	}
	if code := getJSON(t, "GET", "http://"+b.HTTPAddr()+"/channels/missed/consumers/w", "", &st); code != 200 || st.LastSeq != 3 {
		t.Fatalf("consumer status: %d, last seq %d, want 3", code, st.LastSeq)
	}
	ds := fetchAll(t, ctx, k, 1, 10*time.Second)
	if ds[0].Seq != 3 || string(ds[0].Payload) != "behind" {
		t.Fatalf("delivered seq %d %q, want seq 3", ds[0].Seq, ds[0].Payload)
	}
}

// metrics.consumers gives the consumers it names series of their own on /metrics, up to
// metrics.max_consumer_series; the others are counted in the node-wide totals only.
func TestConsumerMetricSeries(t *testing.T) {
	b := start(t, func(c *broker.Config) {
		c.Metrics = broker.MetricsConfig{Consumers: []broker.ConsumerMetricsRule{{Channel: "lab.*", Consumer: "w"}}, MaxConsumerSeries: 1}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	for _, ch := range []string{"lab.a", "lab.b", "other"} {
		publishN(t, ctx, c, ch, 3)
	}
	consume := func(channel, name string, ack int) {
		k, err := c.Consumer(ctx, channel, name, client.WithConsumerStart(client.StartEarliest()))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range fetchAll(t, ctx, k, 3, 10*time.Second)[:ack] {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	consume("lab.a", "w", 2) // named: series
	consume("lab.a", "x", 3) // another name
	consume("lab.b", "w", 3) // named, past max_consumer_series
	consume("other", "w", 3) // another channel
	metricsText := func() string {
		resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	labels := `{channel="lab.a",consumer="w"}`
	tu.Eventually(t, 10*time.Second, "lab.a/w's series", func() bool {
		text := metricsText()
		for _, want := range []string{"sampan_consumer_channel_deliveries_total" + labels + " 3", "sampan_consumer_channel_acks_total" + labels + " 2",
			"sampan_consumer_channel_lag" + labels + " 1", "sampan_consumer_channel_pending" + labels + " 1"} {
			if !strings.Contains(text, want+"\n") {
				return false
			}
		}
		return true
	})
	text := metricsText()
	if n := strings.Count(text, "sampan_consumer_channel_deliveries_total{"); n != 1 {
		t.Fatalf("%d consumers with series, want 1 (lab.a/w):\n%s", n, text)
	}
	if !strings.Contains(text, "sampan_consumer_acks_total 11\n") {
		t.Fatalf("the node-wide total lacks some acks:\n%s", text)
	}
}

// A member connected to another node than the channel's joins on the channel's node (ERR moved after
// a ROUTE, then a connection there), so deliveries and acks skip the hop between nodes; a client
// without routing joins through the node it is connected to.
func TestConsumerRoutesToChannelNode(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ch = "routed.work"
	n := 40
	publishN(t, ctx, connect(t, ctx, nodes[0]), ch, n)
	hot, other := -1, -1
	for i, b := range nodes {
		if channelStateName(t, b, ch) == "hot" {
			hot = i
		} else {
			other = i
		}
	}
	if hot < 0 {
		t.Fatal("no node runs the channel's actor")
	}
	// The node learns the others' client addresses from the metadata within a moment of being ready:
	// publish through it until it routes.
	probe := connect(t, ctx, nodes[other])
	tu.Eventually(t, 20*time.Second, "a ROUTE to the channel's node", func() bool {
		if _, err := probe.Publish(ctx, ch, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		n++
		return probe.Route(ch) == nodes[hot].Addr()
	})
	deliveries := func(i int) float64 { return testutil.ToFloat64(nodes[i].Metrics.Deliveries) }
	consume := func(name string, opts ...client.Option) {
		t.Helper()
		c, err := client.Connect(ctx, nodes[other].Addr(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		k, err := c.Consumer(ctx, ch, name, client.WithConsumerStart(client.StartEarliest()))
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		ds := fetchAll(t, ctx, k, n, 20*time.Second)
		for _, d := range ds {
			if d.Attempt != 1 {
				t.Fatalf("%s: seq %d attempt %d: the move cost a redelivery", name, d.Seq, d.Attempt)
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		waitFloor(t, nodes[hot], ch, name, uint64(n))
	}
	hot0, other0 := deliveries(hot), deliveries(other)
	consume("routed")
	if got := deliveries(hot) - hot0; got != float64(n) || deliveries(other) != other0 {
		t.Fatalf("routed member: %v deliveries written by the channel's node, %v by the one it connected to; want %d and 0",
			got, deliveries(other)-other0, n)
	}
	hot0, other0 = deliveries(hot), deliveries(other)
	consume("direct", client.WithRouting(false))
	if got := deliveries(other) - other0; got != float64(n) || deliveries(hot) != hot0 {
		t.Fatalf("member without routing: %v deliveries through its node, %v by the channel's; want %d and 0",
			got, deliveries(hot)-hot0, n)
	}
}

// A member routed to a node it cannot reach (an advertised address nobody listens on) joins through
// the node it is connected to, asking not to be moved again.
func TestConsumerRouteUnreachable(t *testing.T) {
	nodes := startCluster(t, 3, func(c *broker.Config) { c.Advertise = "127.0.0.1:1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ch, n = "unreachable.work", 10
	publishN(t, ctx, connect(t, ctx, nodes[0]), ch, n)
	for _, b := range nodes {
		if channelStateName(t, b, ch) == "hot" {
			continue
		}
		c, err := client.Connect(ctx, b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		k, err := c.Consumer(ctx, ch, "w", client.WithConsumerStart(client.StartEarliest()))
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if ds := fetchAll(t, ctx, k, n, 20*time.Second); len(ds) != n || ds[0].Attempt != 1 {
			t.Fatalf("%d deliveries, the first attempt %d", len(ds), ds[0].Attempt)
		}
		return
	}
	t.Fatal("every node runs the channel's actor")
}
