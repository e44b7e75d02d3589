package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/testutil"
	"github.com/sampan-io/sampan/protocol"
)

// TestWebSocketFraming: what only a WebSocket can get wrong (a message that is not exactly one
// frame) is a fatal malformed_frame for that connection alone.
func TestWebSocketFraming(t *testing.T) {
	b := start(t)
	url := "ws://" + b.WSAddr()
	ping, _ := protocol.AppendFrame(nil, &protocol.Ping{})
	for _, tc := range []struct {
		name string
		typ  int
		msg  []byte
	}{
		{"text message", websocket.TextMessage, ping},
		{"two frames in one message", websocket.BinaryMessage, append(append([]byte{}, ping...), ping...)},
		{"message ends inside its frame", websocket.BinaryMessage, frame(byte(protocol.TypePing), []byte{0x80})[:5]},
		{"message shorter than a length prefix", websocket.BinaryMessage, []byte{0, 0}},
		{"empty message", websocket.BinaryMessage, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, url)
			r.connect()
			r.sendMessage(tc.typ, tc.msg)
			if tc.name == "two frames in one message" {
				// Frames stream through as they come: the first is answered before the second shows.
				if _, ok := r.next().(*protocol.Pong); !ok {
					t.Fatal("the first frame was not answered")
				}
			}
			if e := r.expectErr(protocol.CodeMalformedFrame); !e.Fatal {
				t.Fatal("want a fatal ERR")
			}
			r.expectClosed()
		})
	}
	// The listener goes on serving.
	r := dialRaw(t, url)
	r.connect()
	r.sendMessage(websocket.BinaryMessage, ping)
	if _, ok := r.next().(*protocol.Pong); !ok {
		t.Fatal("no PONG after the bad connections")
	}
}

// TestWebSocketHandshake: an upgraded connection that never says CONNECT is told so and closed after
// the handshake timeout, like a TCP one.
func TestWebSocketHandshake(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Limits.HandshakeTimeout = broker.Duration(500 * time.Millisecond) })
	r := dialRaw(t, "ws://"+b.WSAddr())
	began := time.Now()
	if e := r.expectErr(protocol.CodeNotConnected); !e.Fatal {
		t.Fatal("want a fatal not_connected")
	}
	r.expectClosed()
	if d := time.Since(began); d < 400*time.Millisecond {
		t.Fatalf("closed after %v, before the 500 ms handshake timeout", d)
	}
}

// TestWebSocketOrigins: with ws_origins set, a page of another origin is refused at the upgrade; a
// matching page and a client that sends no Origin connect.
func TestWebSocketOrigins(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.WSOrigins = []string{"https://*.example.com", "http://127.0.0.1:*"} })
	url := "ws://" + b.WSAddr()
	for origin, want := range map[string]int{
		"https://app.example.com": http.StatusSwitchingProtocols,
		"http://127.0.0.1:7480":   http.StatusSwitchingProtocols,
		"":                        http.StatusSwitchingProtocols,
		"https://evil.test":       http.StatusForbidden,
		"http://example.com":      http.StatusForbidden,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(url, h)
		if resp == nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		if resp.StatusCode != want {
			t.Fatalf("origin %q: HTTP %d, want %d", origin, resp.StatusCode, want)
		}
		if ws != nil {
			ws.Close()
		}
	}
}

// TestWebSocketMaxConnections: over the node's connection bound, an upgrade is refused with 503 and
// a reason.
func TestWebSocketMaxConnections(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Limits.MaxConnections = 1 })
	r := dialRaw(t, "ws://"+b.WSAddr())
	r.connect()
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+b.WSAddr(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second connection: %v %v, want HTTP 503", resp, err)
	}
	// A connection that never sends its upgrade request is answered and closed at once, not held
	// for the handshake timeout.
	raw, err := net.Dial("tcp", b.WSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(raw)
	if errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(string(answer), "HTTP/1.1 503") {
		t.Fatalf("a connection over the bound: read %q, %v; want a 503 and the end", answer, err)
	}
	r.conn.Close()
	testutil.Eventually(t, 10*time.Second, "the first connection's end counted", func() bool {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+b.WSAddr(), nil)
		if err == nil {
			ws.Close()
		}
		return err == nil
	})
}

// TestWebSocketClientNeverReads: a WebSocket subscriber that stops reading its socket holds up
// neither the publisher nor a subscriber over TCP, which gets everything in order.
func TestWebSocketClientNeverReads(t *testing.T) {
	b := start(t)
	stuck := dialRaw(t, "ws://"+b.WSAddr())
	stuck.connect()
	stuck.send(&protocol.Sub{Sid: 1, Channel: "ws.stuck", Start: protocol.StartNew, Window: 8192})
	if _, ok := stuck.next().(*protocol.SubAck); !ok {
		t.Fatal("no SUBACK")
	}
	// From here on it never reads.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, err := client.Connect(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var mu sync.Mutex
	var seqs []uint64
	if _, err := pub.Subscribe(ctx, "ws.stuck", client.StartNew(), func(m *client.Message) {
		mu.Lock()
		seqs = append(seqs, m.Seq)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	const total = 20000 // 10 MB: more than the stuck socket's buffers and the server's pending bound
	payload := []byte(strings.Repeat("x", 512))
	var last *client.PubFuture
	for i := 0; i < total; i++ {
		if last, err = pub.PublishAsync(ctx, "ws.stuck", payload); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the TCP subscriber gets everything", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seqs) == total
	})
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, s)
		}
	}
}

// TestWebSocketResumeAcrossRestart: a Go client over WebSocket reconnects to a restarted broker and
// its subscription resumes with no gap and no duplicate.
func TestWebSocketResumeAcrossRestart(t *testing.T) {
	cfg := testutil.Config(t, t.TempDir())
	cfg.WS = testutil.FreePort(t)
	b, err := broker.Start(cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, "ws://"+cfg.WS, client.WithReconnect(true, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var got []uint64
	if _, err := c.Subscribe(ctx, "ws.resume", client.StartEarliest(), func(m *client.Message) {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		for i := 0; i < n; {
			if _, err := c.Publish(ctx, "ws.resume", []byte(fmt.Sprint(i))); err != nil {
				if ctx.Err() != nil {
					t.Fatal(err)
				}
				continue // the connection is being replaced: publish it again
			}
			i++
		}
	}
	publish(100)
	testutil.Eventually(t, 20*time.Second, "100 delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 100 })
	closeCtx, closeCancel := context.WithTimeout(ctx, 20*time.Second)
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	closeCancel()
	b2, err := broker.Start(cfg, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = b2.Close(ctx)
	})
	publish(100)
	testutil.Eventually(t, 30*time.Second, "200 delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 200 })
	mu.Lock()
	defer mu.Unlock()
	// A publish retried after its answer was lost may be stored twice (no idempotency key): the
	// subscriber's promise is about seqs, each once and in order.
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("delivery %d has seq %d: a gap or a duplicate across the reconnect", i, s)
		}
	}
}

// TestWebSocketSplitWrite: frames that reach Write cut anywhere still leave as one message each.
func TestWebSocketSplitWrite(t *testing.T) {
	b := start(t)
	r := dialRaw(t, "ws://"+b.WSAddr())
	r.connect()
	var buf []byte
	for i := 1; i <= 3; i++ {
		buf, _ = protocol.AppendFrame(buf, &protocol.Pub{Req: uint64(i), Channel: "ws.split", Payload: []byte("x")})
	}
	// Through the frame stream (not sendRaw): cut inside a length prefix and inside a body.
	for _, part := range [][]byte{buf[:2], buf[2:9], buf[9 : len(buf)-1], buf[len(buf)-1:]} {
		if _, err := r.conn.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		if a, ok := r.next().(*protocol.PubAck); !ok || a.Req != uint64(i) {
			t.Fatalf("answer %d: %#v", i, a)
		}
	}
}
