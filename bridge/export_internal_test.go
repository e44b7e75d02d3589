package bridge

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/natsembed"
)

// coreExporter is one core-mode exporter wired to a real nats-server, driven by hand: its handler gets
// messages directly and the test calls confirmCore, so the confirmation invariant can be checked at
// exact moments (no broker involved: the handler and confirmCore only touch NATS).
func coreExporter(t *testing.T) (*exporter, *nats.Conn, *server.Server, context.Context) {
	t.Helper()
	ns, err := natsembed.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(ns) })
	cfg := Config{URL: ns.ClientURL(), Export: []ExportRule{{Channels: "c", Subject: "s"}}}
	b, err := New(cfg, nil, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	opts, err := b.natsOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if !waitConnected(context.Background(), nc) {
		t.Fatal("not connected")
	}
	e := &exporter{r: b.exports[0], s: &session{b: b, nc: nc}, channel: "c", subject: "s"}
	runCtx, stop := context.WithCancelCause(context.Background())
	t.Cleanup(func() { stop(nil) })
	e.stopRun, e.epoch = stop, nc.Stats().Reconnects
	return e, nc, ns, runCtx
}

func TestConfirmCoreConfirmsWhatTheServerRead(t *testing.T) {
	e, nc, _, runCtx := coreExporter(t)
	sub, err := nc.SubscribeSync("s")
	if err != nil {
		t.Fatal(err)
	}
	h := e.handler(runCtx)
	for seq := uint64(1); seq <= 100; seq++ {
		h(&client.Message{Channel: "c", Seq: seq, Payload: []byte("x")})
	}
	h(&client.Message{Channel: "c", Seq: 50, Payload: []byte("x")}) // a resumption's overlap: ignored
	if e.sent != 100 || e.confirmed != 0 {
		t.Fatalf("before the flush: sent %d confirmed %d", e.sent, e.confirmed)
	}
	e.r.confirmCore(nc, map[string]*exporter{"c": e})
	if e.confirmed != 100 {
		t.Fatalf("after the flush: confirmed %d, want 100", e.confirmed)
	}
	// An imported message is skipped but the cursor moves past it.
	h(&client.Message{Channel: "c", Seq: 101, Headers: map[string]string{HeaderOrigin: OriginNATS}})
	if e.confirmed != 101 || e.r.stats.skipped.Load() != 1 {
		t.Fatalf("skip: confirmed %d skipped %d", e.confirmed, e.r.stats.skipped.Load())
	}
	for i := 1; i <= 100; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Header.Get(HeaderSeq) != strconv.Itoa(i) || m.Header.Get(HeaderChannel) != "c" {
			t.Fatalf("message %d headers %v", i, m.Header)
		}
	}
}

// The bug this guards against: a run that handed its last messages to NATS just before a reconnect has
// nothing more to publish, so no publish error ends it; unless confirmCore ends it, those messages
// are neither confirmed nor resent, and the export stalls for good.
func TestConfirmCoreEndsRunsOfAnEarlierConnection(t *testing.T) {
	e, nc, ns, runCtx := coreExporter(t)
	h := e.handler(runCtx)
	for seq := uint64(1); seq <= 10; seq++ {
		h(&client.Message{Channel: "c", Seq: seq, Payload: []byte("x")})
	}
	before := nc.Stats().Reconnects
	cz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if strings.HasPrefix(c.Name, "sampan-node-") {
			_ = ns.DisconnectClientByID(c.Cid)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for nc.Stats().Reconnects == before || !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("no reconnect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.r.confirmCore(nc, map[string]*exporter{"c": e})
	if e.confirmed != 0 {
		t.Fatalf("confirmed %d publishes of the previous connection", e.confirmed)
	}
	if !errors.Is(context.Cause(runCtx), errReconnected) {
		t.Fatalf("the run was not ended: cause %v", context.Cause(runCtx))
	}
}
