package bridge_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/natsembed"
	"github.com/sampan-io/sampan/internal/testutil"
)

// Export: every message of matching channels reaches its subject in seq order, with payload, headers,
// Sampan-Channel and Sampan-Seq; a channel no rule matches is not exported; status and metrics count it.
func TestExportCore(t *testing.T) {
	ns := startNATS(t)
	nc, _ := ns.conn()
	var mu sync.Mutex
	got := map[string][]*nats.Msg{}
	if _, err := nc.Subscribe("sampan.>", func(m *nats.Msg) {
		mu.Lock()
		got[m.Subject] = append(got[m.Subject], m)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
		Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders.*", false)}}))
	c := connect(t, b)
	const n = 300
	publish(t, c, "orders.eu", 0, n, client.WithHeaders(map[string]string{"Trace": "abc"}))
	publish(t, c, "orders.us", 0, n)
	publish(t, c, "other", 0, 10)
	testutil.Eventually(t, wait, "both channels exported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["sampan.orders.eu"]) >= n && len(got["sampan.orders.us"]) >= n
	})
	mu.Lock()
	for _, ch := range []string{"eu", "us"} {
		msgs := got["sampan.orders."+ch]
		if len(msgs) != n { // no outage in this test: exactly once
			t.Fatalf("orders.%s: %d messages on NATS, want %d", ch, len(msgs), n)
		}
		for i, m := range msgs {
			if string(m.Data) != strconv.Itoa(i) || m.Header.Get(bridge.HeaderSeq) != strconv.Itoa(i+1) ||
				m.Header.Get(bridge.HeaderChannel) != "orders."+ch {
				t.Fatalf("orders.%s message %d: %q headers %v", ch, i, m.Data, m.Header)
			}
			if ch == "eu" && m.Header.Get("Trace") != "abc" {
				t.Fatalf("header not carried: %v", m.Header)
			}
		}
	}
	if len(got) != 2 {
		t.Fatalf("subjects exported: %d, want 2 (channel 'other' matches no rule)", len(got))
	}
	mu.Unlock()

	testutil.Eventually(t, wait, "the export lag to drop to 0", func() bool {
		r := rule(t, b, "export:orders.*=sampan.orders.*")
		return r.Lag == 0 && r.Exported == 2*n && r.ExportedChannels == 2
	})
	resp, err := http.Get("http://" + b.HTTPAddr() + "/bridges")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"exported": 600`) || !strings.Contains(string(body), `"connected": true`) {
		t.Fatalf("GET /bridges:\n%s", body)
	}
	resp, err = http.Get("http://" + b.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sampan_bridge_exported_total{direction="export",rule="export:orders.*=sampan.orders.*"} 600`) {
		t.Fatalf("metrics lack the export count:\n%s", body)
	}
}

// Import (core NATS): each message lands in its mapped channel with headers, the origin header and the
// reply subject; Nats-Msg-Id makes a repeat a duplicate; a subject that maps to no valid channel name is
// an error in the rule's status, and the rule keeps going.
func TestImportCore(t *testing.T) {
	ns := startNATS(t)
	nc, _ := ns.conn()
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
		Import: []bridge.ImportRule{importRule("ext.*=fromnats.*", false)}}))
	waitRunning(t, b)
	const n = 200
	for i := 0; i < n; i++ {
		m := &nats.Msg{Subject: "ext.x", Data: []byte(strconv.Itoa(i)), Reply: "answers.here", Header: nats.Header{"Trace": {"t" + strconv.Itoa(i)}}}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // the same Nats-Msg-Id twice: stored once
		if err := nc.PublishMsg(&nats.Msg{Subject: "ext.y", Data: []byte("once"), Header: nats.Header{bridge.HeaderMsgID: {"id-1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("ext.bad:name", []byte("no channel for me")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ext.z", []byte("after the bad one")); err != nil {
		t.Fatal(err)
	}
	c := connect(t, b)
	x := collect(t, c, "fromnats.x")
	testutil.Eventually(t, wait, "imports", func() bool {
		r := rule(t, b, "import:ext.*=fromnats.*")
		return len(x()) >= n && r.Imported == n+3 && r.Errors >= 1
	})
	for i, m := range x() {
		if string(m.Payload) != strconv.Itoa(i) || m.Seq != uint64(i+1) || m.Headers["Trace"] != "t"+strconv.Itoa(i) ||
			m.Headers[bridge.HeaderOrigin] != bridge.OriginNATS || m.Headers[bridge.HeaderReply] != "answers.here" ||
			m.Headers[bridge.HeaderSubject] != "ext.x" {
			t.Fatalf("message %d: seq %d %q %v", i, m.Seq, m.Payload, m.Headers)
		}
	}
	if got := lastSeq(t, b, "fromnats.y"); got != 1 {
		t.Fatalf("fromnats.y holds %d messages, want 1 (Nats-Msg-Id dedupe)", got)
	}
	if got := lastSeq(t, b, "fromnats.z"); got != 1 {
		t.Fatalf("fromnats.z holds %d messages, want 1", got)
	}
	if r := rule(t, b, "import:ext.*=fromnats.*"); !strings.Contains(r.LastError, "no valid channel name") {
		t.Fatalf("last error %q", r.LastError)
	}
}

// Loop prevention: with rules that would otherwise bounce messages between the two sides forever
// (export everything to sampan.>, import sampan.> back, import ext.> into in.>), every message crosses
// once.
func TestNoLoops(t *testing.T) {
	ns := startNATS(t)
	nc, _ := ns.conn()
	var mu sync.Mutex
	var onNATS []string
	if _, err := nc.Subscribe("sampan.>", func(m *nats.Msg) {
		mu.Lock()
		onNATS = append(onNATS, m.Subject)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
		Export: []bridge.ExportRule{exportRule(">=sampan.>", false)},
		Import: []bridge.ImportRule{importRule("sampan.>=back.>", false), importRule("ext.>=in.>", false)}}))
	waitRunning(t, b)
	c := connect(t, b)
	const n = 20
	publish(t, c, "a.b", 0, n)
	for i := 0; i < n; i++ {
		if err := nc.Publish("ext.c", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, wait, "every message to cross once and its echo to be skipped", func() bool {
		ex, back, in := rule(t, b, "export:>=sampan.>"), rule(t, b, "import:sampan.>=back.>"), rule(t, b, "import:ext.>=in.>")
		return ex.Exported == n && ex.Skipped == n && back.Skipped == n && in.Imported == n && ex.Lag == 0
	})
	// The subscriber's handler runs on its own goroutine: wait for the n exports to reach it, then a
	// flush round-trip lets any stray echo arrive too.
	testutil.Eventually(t, wait, "the exported messages at the NATS subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(onNATS) >= n
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(onNATS) != n {
		t.Fatalf("%d messages reached NATS, want %d (only a.b's)", len(onNATS), n)
	}
	for _, s := range onNATS {
		if s != "sampan.a.b" {
			t.Fatalf("exported subject %s: an imported message went back to NATS", s)
		}
	}
	if got := lastSeq(t, b, "back.a.b"); got != 0 {
		t.Fatalf("back.a.b holds %d messages: an exported message was imported again", got)
	}
	if got := lastSeq(t, b, "in.c"); got != n {
		t.Fatalf("in.c holds %d messages, want %d", got, n)
	}
	if r := rule(t, b, "import:sampan.>=back.>"); r.Imported != 0 {
		t.Fatalf("import rule sampan.> imported %d", r.Imported)
	}
}

// Bad config is rejected at start with an error that names the problem.
func TestBadConfigRejectedAtStart(t *testing.T) {
	cases := []struct {
		nats bridge.Config
		want string
	}{
		{bridge.Config{URL: "nats://127.0.0.1:1", Export: []bridge.ExportRule{exportRule("orders.*=sampan..orders.*", false)}}, "empty token"},
		{bridge.Config{URL: "nats://127.0.0.1:1", Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders", false)}}, "wildcards do not match"},
		{bridge.Config{URL: "nats://127.0.0.1:1", Import: []bridge.ImportRule{importRule("ext.>=in.*", false)}}, "wildcards do not match"},
		{bridge.Config{URL: "nats://127.0.0.1:1", Import: []bridge.ImportRule{importRule("ext x=in", false)}}, "space"},
		{bridge.Config{Export: []bridge.ExportRule{exportRule("a=b", false)}}, "no NATS url"},
	}
	for _, c := range cases {
		cfg := brokerConfig(t, c.nats)
		b, err := broker.Start(cfg, testutil.Logger(t))
		if err == nil {
			_ = b.Close(context.Background())
			t.Fatalf("%+v: broker started", c.nats)
		}
		if !errors.Is(err, bridge.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%+v: %v, want an error saying %q", c.nats, err, c.want)
		}
	}
}

// NATS down at start: the broker serves its clients at once; the bridge connects when NATS comes up
// and exports what was published meanwhile, in order.
func TestNATSDownAtStart(t *testing.T) {
	ns := startNATS(t)
	_, js := ns.conn()
	// The stream exists, as it would in production (JetStream mode needs one to ack): created before
	// the bridge can connect. Created between NATS coming up and the bridge's first publishes, a
	// publish that met no stream could be followed by later ones that did (README, NATS bridge limits).
	ns.stream(js, "ORDERS", "sampan.orders.>")
	ns.stop() // keep its port and store: it comes up later
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
		Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders.*", true)}}))
	c := connect(t, b)
	publish(t, c, "orders.eu", 0, 100) // the broker serves without NATS
	testutil.Eventually(t, wait, "the bridge to run", func() bool { return b.Bridge().Status().Active })
	if st := b.Bridge().Status(); st.Connected || st.Rules[0].Connected {
		t.Fatalf("status with NATS down: %+v", st)
	}
	ns.start()
	_, js = ns.conn()
	publish(t, c, "orders.eu", 100, 100)
	testutil.Eventually(t, wait, "the backlog exported once NATS is up", func() bool { return streamMsgs(t, js, "ORDERS") == 200 })
	seqs := streamSeqs(t, js, "ORDERS", "orders.eu")
	if dups := checkAtLeastOnceInOrder(t, seqs, 200); dups != 0 {
		t.Fatalf("%d duplicates in a JetStream stream despite Nats-Msg-Id", dups)
	}
}

// A NATS outage mid-stream: nothing is lost and order holds; core NATS may repeat a tail, JetStream mode
// stores each message once (Nats-Msg-Id). JetStream mode restarts the server itself (a PubAck means
// stored, so the stream is a faithful record across the restart). Core mode cuts the bridge's
// connection from the server side, twice, instead: a core publish is "accepted" once the server has
// read it, and a server shutdown can drop what it read but had not yet stored in the stream this test
// records with, which would look like a gap that no core NATS client could avoid.
func TestExportSurvivesNATSOutage(t *testing.T) {
	for _, js := range []bool{false, true} {
		t.Run(map[bool]string{false: "core connection cut", true: "jetstream server restart"}[js], func(t *testing.T) {
			ns := startNATS(t)
			_, jsc := ns.conn()
			ns.stream(jsc, "ORDERS", "sampan.orders.>") // captures core publishes too: the test's record
			b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
				Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders.*", js)}}))
			waitRunning(t, b)
			c := connect(t, b)
			const n = 3000
			pubDone := make(chan struct{})
			go func() {
				defer close(pubDone)
				for i := 0; i < n; i += 100 {
					publish(t, c, "orders.eu", i, 100)
				}
			}()
			testutil.Eventually(t, wait, "export under way", func() bool { return streamMsgs(t, jsc, "ORDERS") >= 500 })
			if js {
				ns.stop()
				testutil.Eventually(t, wait, "the bridge to see NATS down", func() bool { return !b.Bridge().Status().Connected })
				ns.start()
			} else {
				ns.kickBridge()
				testutil.Eventually(t, wait, "more exported after the cut", func() bool { return streamMsgs(t, jsc, "ORDERS") >= 1500 })
				ns.kickBridge()
			}
			<-pubDone
			testutil.Eventually(t, wait, "every message exported after the outage", func() bool {
				// Per channel, exports are in order: the last one is seq n once all are there.
				return lastExported(t, jsc, "ORDERS", "sampan.orders.eu") == n
			})
			seqs := streamSeqs(t, jsc, "ORDERS", "orders.eu")
			dups := checkAtLeastOnceInOrder(t, seqs, n)
			t.Logf("%d messages on the stream for %d published, %d re-sent", len(seqs), n, dups)
			if js && dups != 0 {
				t.Fatalf("%d duplicates in JetStream mode", dups)
			}
		})
	}
}

// Broker restarted: the export resumes from the replicated cursor: no gap, and (after a clean stop,
// which saves the cursors) nothing exported twice even in core mode.
func TestExportResumesAfterBrokerRestart(t *testing.T) {
	ns := startNATS(t)
	_, jsc := ns.conn()
	ns.stream(jsc, "ORDERS", "sampan.orders.>")
	cfg := brokerConfig(t, bridge.Config{URL: ns.url(), Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders.*", false)}})
	b, err := broker.Start(cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, b)
	publish(t, c, "orders.eu", 0, 500)
	testutil.Eventually(t, wait, "first half exported", func() bool { return streamMsgs(t, jsc, "ORDERS") == 500 })
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b = testutil.StartBroker(t, cfg)
	c = connect(t, b)
	publish(t, c, "orders.eu", 500, 500)
	testutil.Eventually(t, wait, "second half exported", func() bool {
		return streamMsgs(t, jsc, "ORDERS") >= 1000 && rule(t, b, "export:orders.*=sampan.orders.*").Lag == 0
	})
	seqs := streamSeqs(t, jsc, "ORDERS", "orders.eu")
	if dups := checkAtLeastOnceInOrder(t, seqs, 1000); dups != 0 || len(seqs) != 1000 {
		t.Fatalf("%d messages, %d duplicates: the restarted bridge did not resume from the saved cursor", len(seqs), dups)
	}
}

// JetStream import: a durable consumer, acked after Sampan's ack; a replay of the whole stream (the
// consumer lost, as after a crash before acks) stores nothing twice.
func TestImportJetStream(t *testing.T) {
	ns := startNATS(t)
	_, js := ns.conn()
	ns.stream(js, "EXT", "ext.>")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	const n = 300
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "ext.a", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	// A message exported by Sampan (it carries Sampan-Channel) is not imported back.
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "ext.a", Data: []byte("echo"), Header: nats.Header{bridge.HeaderChannel: {"x"}}}); err != nil {
		t.Fatal(err)
	}
	imp := importRule("ext.*=js.*", true)
	imp.Name = "ext"
	cfg := brokerConfig(t, bridge.Config{URL: ns.url(), Import: []bridge.ImportRule{imp}})
	b, err := broker.Start(cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	consumerDone := func() bool {
		cons, err := js.Consumer(ctx, "EXT", "sampan-ext")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream == n+1
	}
	testutil.Eventually(t, wait, "the stream imported and acked", func() bool { return consumerDone() && lastSeq(t, b, "js.a") == n })
	if r := rule(t, b, "ext"); r.Imported != n || r.Skipped != 1 {
		t.Fatalf("status %+v", r)
	}
	c := connect(t, b)
	msgs := collect(t, c, "js.a")
	testutil.Eventually(t, wait, "reading js.a", func() bool { return len(msgs()) == n })
	for i, m := range msgs() {
		if string(m.Payload) != strconv.Itoa(i) || m.Headers[bridge.HeaderOrigin] != bridge.OriginNATS {
			t.Fatalf("message %d: %q %v", i, m.Payload, m.Headers)
		}
	}
	// Replay: stop the broker, drop the durable consumer, start again: JetStream delivers everything
	// again and the idempotency keys (stream:seq) store nothing twice.
	c.Close()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(ctx, "EXT", "sampan-ext"); err != nil {
		t.Fatal(err)
	}
	b = testutil.StartBroker(t, cfg)
	testutil.Eventually(t, wait, "the replay acked", consumerDone)
	if r := rule(t, b, "ext"); r.Imported != n {
		t.Fatalf("replay: %d publishes acked, want %d (as duplicates)", r.Imported, n)
	}
	if got := lastSeq(t, b, "js.a"); got != n {
		t.Fatalf("after the replay js.a holds %d messages, want %d", got, n)
	}
}

// Credentials reach NATS: with the right token the bridge connects and exports; with a wrong one it
// stays disconnected, /bridges says why, and the broker serves its clients all the same.
func TestTokenAuth(t *testing.T) {
	ns, err := natsembed.StartWith(&server.Options{StoreDir: t.TempDir(), Authorization: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(ns) })
	nc, err := nats.Connect(ns.ClientURL(), nats.Token("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 10)
	if _, err := nc.ChanSubscribe("out", got); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	good := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.ClientURL(), Token: "s3cret",
		Export: []bridge.ExportRule{exportRule("in=out", false)}}))
	publish(t, connect(t, good), "in", 0, 1)
	select {
	case m := <-got:
		if string(m.Data) != "0" {
			t.Fatalf("exported %q", m.Data)
		}
	case <-time.After(wait):
		t.Fatal("nothing exported with the right token")
	}
	// One broker at a time: two actor nodes in one process trip protoactor's grpclog race under -race
	// (decision 0005).
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := good.Close(ctx); err != nil {
		t.Fatal(err)
	}

	bad := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.ClientURL(), Token: "wrong",
		Export: []bridge.ExportRule{exportRule("in=out", false)}}))
	publish(t, connect(t, bad), "in", 0, 1) // served without NATS
	testutil.Eventually(t, wait, "the rule to report the authorization error", func() bool {
		return strings.Contains(strings.ToLower(rule(t, bad, "export:in=out").LastError), "authorization")
	})
	if st := bad.Bridge().Status(); st.Connected {
		t.Fatalf("connected with a wrong token: %+v", st)
	}
}

// The bridge's connection is cut right after a burst was handed to NATS, before a flush confirmed all
// of it, and nothing more is published: the exporter must still notice the reconnect and resend what
// NATS may not have received (a run with nothing left to publish sees no publish error). The window is
// timing-dependent here; TestConfirmCoreEndsRunsOfAnEarlierConnection checks the rule deterministically.
func TestExportResendsAfterReconnectWhenIdle(t *testing.T) {
	ns := startNATS(t)
	_, jsc := ns.conn()
	ns.stream(jsc, "ORDERS", "sampan.orders.>")
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(),
		Export: []bridge.ExportRule{exportRule("orders.*=sampan.orders.*", false)}}))
	waitRunning(t, b)
	c := connect(t, b)
	const n = 5000
	publish(t, c, "orders.eu", 0, n)
	// Cut as the burst's end reaches NATS: the exporter has handed everything over and its last flush
	// may not have confirmed the tail yet.
	testutil.Eventually(t, wait, "the burst nearly through", func() bool { return streamMsgs(t, jsc, "ORDERS") >= n-1000 })
	ns.kickBridge()
	testutil.Eventually(t, wait, "the whole burst on the stream", func() bool {
		return lastExported(t, jsc, "ORDERS", "sampan.orders.eu") == n
	})
	checkAtLeastOnceInOrder(t, streamSeqs(t, jsc, "ORDERS", "orders.eu"), n)
}

// JetStream import across a NATS restart: the durable consumer picks up where it was; every stream
// message is stored once.
func TestImportJetStreamSurvivesNATSRestart(t *testing.T) {
	ns := startNATS(t)
	_, js := ns.conn()
	ns.stream(js, "EXT", "ext.>")
	imp := importRule("ext.*=js.*", true)
	imp.Name = "ext"
	b := testutil.StartBroker(t, brokerConfig(t, bridge.Config{URL: ns.url(), Import: []bridge.ImportRule{imp}}))
	pub := func(from, n int) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for i := from; i < from+n; i++ {
			if _, err := js.Publish(ctx, "ext.a", []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub(0, 500)
	testutil.Eventually(t, wait, "import under way", func() bool { return rule(t, b, "ext").Imported > 0 })
	ns.stop()
	ns.start()
	pub(500, 500)
	c := connect(t, b)
	got := collect(t, c, "js.a")
	testutil.Eventually(t, wait, "all 1000 imported", func() bool { return len(got()) >= 1000 })
	seen := map[string]bool{}
	for _, m := range got() {
		if seen[string(m.Payload)] {
			t.Fatalf("%q stored twice", m.Payload)
		}
		seen[string(m.Payload)] = true
	}
	if lastSeq(t, b, "js.a") != 1000 {
		t.Fatalf("js.a holds %d messages, want 1000", lastSeq(t, b, "js.a"))
	}
}

// The bridge is a client of its own node: over mutual TLS and with users configured it still gets in
// (trusting exactly the node's certificate and presenting it, logging in with the node's own token)
// and exports.
func TestExportOverMutualTLS(t *testing.T) {
	ns := startNATS(t)
	nc, _ := ns.conn()
	sub, err := nc.SubscribeSync("sampan.secure.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	certs := testutil.GenCerts(t, t.TempDir())
	cfg := brokerConfig(t, bridge.Config{URL: ns.url(), Export: []bridge.ExportRule{exportRule("secure.*=sampan.secure.*", false)}})
	cfg.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA, ClientAuth: true}
	hash, err := auth.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = auth.Config{Users: []auth.User{{Name: "app", Password: hash, Publish: auth.Rules{Allow: []string{"secure.*"}}}}}
	b := testutil.StartBroker(t, cfg)
	tlsCfg, err := client.TLSFromFiles(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr(), client.WithTLS(tlsCfg), client.WithUserPassword("app", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish(t, c, "secure.a", 0, 5)
	for i := 0; i < 5; i++ {
		m, err := sub.NextMsg(wait)
		if err != nil {
			t.Fatalf("message %d not exported: %v", i, err)
		}
		if string(m.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d: %q", i, m.Data)
		}
	}
}
