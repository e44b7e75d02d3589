// Package testutil holds helpers shared by Sampan's own tests: free ports, a broker on a temp dir with
// its logs routed to t.Log, and waiting on conditions with a deadline instead of sleeping.
package testutil

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/racecheck"
)

// FreePort returns a 127.0.0.1 address whose port was free a moment ago. Dragonboat needs a fixed Raft
// port (it is the node's identity), so port 0 cannot be used there.
//
// The port is below Linux's ephemeral range (32768 and up by default): a node that a test kills and
// starts again on the same ports would otherwise find one taken, now and then, by the local end of
// some outgoing connection made meanwhile.
func FreePort(t testing.TB) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Logger writes to t.Log at warn level and above (debug with -v and SAMPAN_TEST_DEBUG).
func Logger(t testing.TB) zerolog.Logger {
	w := zerolog.ConsoleWriter{Out: tWriter{t}, NoColor: true, TimeFormat: "15:04:05.000"}
	level := zerolog.WarnLevel
	if os.Getenv("SAMPAN_TEST_DEBUG") != "" {
		level = zerolog.DebugLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Config returns a broker config on dir with ephemeral client/HTTP ports and a free Raft port.
func Config(t testing.TB, dir string) broker.Config {
	c := broker.DefaultConfig()
	c.Data = dir
	c.Listen = "127.0.0.1:0"
	c.HTTP = "127.0.0.1:0"
	c.Raft = FreePort(t)
	c.Actor = "127.0.0.1:0"
	c.Tuning.LogDBMemory = "tiny" // several nodes per test process
	return c
}

// StartBroker starts a broker with cfg and stops it at test cleanup.
func StartBroker(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	b, err := broker.Start(cfg, Logger(t))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// Eventually polls cond every few milliseconds until it holds or the deadline passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// SkipMultiNodeUnderRace skips a test that runs several actor nodes in one process when the race
// detector is on (see package racecheck).
func SkipMultiNodeUnderRace(t testing.TB) {
	t.Helper()
	if racecheck.Enabled {
		t.Skip("several actor nodes in one process trip protoactor's grpclog.SetLoggerV2 race (upstream); run without -race")
	}
}

// DumpOnFailure writes every goroutine's stack to $SAMPAN_TEST_DUMP (see DumpGoroutines) when t fails,
// before the cleanups registered earlier (the brokers) run: a hung publish shows where it hangs.
func DumpOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			DumpGoroutines(t, "failed")
		}
	})
}

// DumpGoroutines writes every goroutine's stack to $SAMPAN_TEST_DUMP/<test>-<label>-<time>.goroutines,
// when that variable is set.
func DumpGoroutines(t testing.TB, label string) {
	dir := os.Getenv("SAMPAN_TEST_DUMP")
	if dir == "" {
		return
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.goroutines", filepath.Base(t.Name()), label, time.Now().UnixNano()))
	if f, err := os.Create(name); err == nil {
		pprof.Lookup("goroutine").WriteTo(f, 2)
		f.Close()
		t.Logf("goroutines dumped to %s", name)
	}
}

// ReadEarliest subscribes to channel from its earliest message and returns the first n (failing the
// test when ctx ends first).
func ReadEarliest(t testing.TB, ctx context.Context, c *client.Client, channel string, n int) []*client.Message {
	t.Helper()
	got := make(chan *client.Message, n+16)
	sub, err := c.Subscribe(ctx, channel, client.StartEarliest(), func(m *client.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	out := make([]*client.Message, 0, n)
	for len(out) < n {
		select {
		case m := <-got:
			out = append(out, m)
		case <-ctx.Done():
			t.Fatalf("read %d of %d messages of %s: %v", len(out), n, channel, ctx.Err())
		}
	}
	return out
}
