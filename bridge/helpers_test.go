package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/natsembed"
	"github.com/sampan-io/sampan/internal/testutil"
)

// wait is the deadline for conditions in these tests: generous, because a loaded 2-core machine can be
// slow, and a passing test never waits for it.
const wait = 30 * time.Second

// natsServer is a real embedded nats-server with JetStream; restart keeps its port and its streams.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	ns   *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	s := &natsServer{t: t, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) start() {
	s.t.Helper()
	ns, err := natsembed.Start(s.dir, s.port)
	if err != nil {
		s.t.Fatal(err)
	}
	s.ns, s.port = ns, natsembed.Port(ns)
}

func (s *natsServer) stop() {
	if s.ns != nil {
		natsembed.Stop(s.ns)
		s.ns = nil
	}
}

// kickBridge closes the bridge's connection from the server side (a network cut as the bridge sees it),
// while the server, its streams and the test's own connections carry on.
func (s *natsServer) kickBridge() {
	s.t.Helper()
	testutil.Eventually(s.t, wait, "the bridge connected to NATS, to cut it", func() bool {
		cz, err := s.ns.Connz(&server.ConnzOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, c := range cz.Conns {
			if strings.HasPrefix(c.Name, "sampan-node-") {
				return s.ns.DisconnectClientByID(c.Cid) == nil
			}
		}
		return false
	})
}

func (s *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// conn is a test's own NATS connection (it reconnects across restarts).
func (s *natsServer) conn() (*nats.Conn, jetstream.JetStream) {
	s.t.Helper()
	nc, err := nats.Connect(s.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	return nc, js
}

func (s *natsServer) stream(js jetstream.JetStream, name string, subjects ...string) jetstream.Stream {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Duplicates: 2 * time.Minute})
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// brokerConfig is a single-node broker config on a temp dir with the given NATS bridge.
func brokerConfig(t *testing.T, nc bridge.Config) broker.Config {
	cfg := testutil.Config(t, t.TempDir())
	cfg.NATS = nc
	return cfg
}

func exportRule(spec string, js bool) bridge.ExportRule {
	r, err := bridge.ParseExportFlag(spec)
	if err != nil {
		panic(err)
	}
	r.JetStream = js
	return r
}

func importRule(spec string, js bool) bridge.ImportRule {
	r, err := bridge.ParseImportFlag(spec)
	if err != nil {
		panic(err)
	}
	r.JetStream = js
	return r
}

func connect(t *testing.T, b *broker.Broker) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publish publishes n messages "0".."n-1" (offset by from) to channel and waits for every ack.
func publish(t *testing.T, c *client.Client, channel string, from, n int, opts ...client.PubOption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	futs := make([]*client.PubFuture, 0, n)
	for i := from; i < from+n; i++ {
		f, err := c.PublishAsync(ctx, channel, []byte(strconv.Itoa(i)), opts...)
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func rule(t *testing.T, b *broker.Broker, name string) bridge.RuleStatus {
	t.Helper()
	for _, r := range b.Bridge().Status().Rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q in %+v", name, b.Bridge().Status())
	return bridge.RuleStatus{}
}

// waitRunning waits until every rule runs with NATS connected.
func waitRunning(t *testing.T, b *broker.Broker) {
	t.Helper()
	testutil.Eventually(t, wait, "the bridge's rules to run, connected to NATS", func() bool {
		st := b.Bridge().Status()
		for _, r := range st.Rules {
			if !r.Connected {
				return false
			}
		}
		return st.Active && st.Connected
	})
}

// streamSeqs reads every message of a stream and returns the Sampan-Seq headers in stream order,
// checking each came from channel.
func streamSeqs(t *testing.T, js jetstream.JetStream, stream, channel string) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream %s seq %d: %v", stream, seq, err)
		}
		if ch := m.Header.Get(bridge.HeaderChannel); ch != channel {
			t.Fatalf("stream %s seq %d: Sampan-Channel %q, want %q", stream, seq, ch, channel)
		}
		s, err := strconv.ParseUint(m.Header.Get(bridge.HeaderSeq), 10, 64)
		if err != nil {
			t.Fatalf("stream %s seq %d: Sampan-Seq %q", stream, seq, m.Header.Get(bridge.HeaderSeq))
		}
		out = append(out, s)
	}
	return out
}

// lastExported returns the Sampan-Seq of the last message on subject in stream (0 if none).
func lastExported(t *testing.T, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(m.Header.Get(bridge.HeaderSeq), 10, 64)
	return n
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// checkAtLeastOnceInOrder checks that seqs holds every seq 1..n and that the first time each seq
// appears, the one before it has already appeared (re-sends after an outage may repeat a tail).
func checkAtLeastOnceInOrder(t *testing.T, seqs []uint64, n uint64) (dups int) {
	t.Helper()
	seen := map[uint64]bool{}
	for i, s := range seqs {
		if seen[s] {
			dups++
			continue
		}
		if s > 1 && !seen[s-1] {
			t.Fatalf("seq %d (position %d) arrived before seq %d: out of order or a gap", s, i, s-1)
		}
		seen[s] = true
	}
	for s := uint64(1); s <= n; s++ {
		if !seen[s] {
			t.Fatalf("seq %d of %d never reached NATS", s, n)
		}
	}
	return dups
}

// lastSeq reads a channel's last seq through the admin API.
func lastSeq(t *testing.T, b *broker.Broker, channel string) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr() + "/channels/" + channel)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0
	}
	var cs broker.ChannelStatus
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		t.Fatal(err)
	}
	return cs.LastSeq
}

// collect subscribes to channel from its first message and returns a function giving what arrived.
func collect(t *testing.T, c *client.Client, channel string) func() []*client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	got := make(chan *client.Message, 100000)
	if _, err := c.Subscribe(ctx, channel, client.StartEarliest(), func(m *client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	var all []*client.Message
	return func() []*client.Message {
		for {
			select {
			case m := <-got:
				all = append(all, m)
			default:
				return all
			}
		}
	}
}
