package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

func httpGet(t *testing.T, b *broker.Broker, path, user, pass string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+b.HTTPAddr()+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// The web console is served at / (its files under /console/), beside the API routes.
func TestConsoleServed(t *testing.T) {
	b := start(t)
	resp, body := httpGet(t, b, "/", "", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "/console/app.js") {
		t.Fatalf("GET /: %s %q\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := httpGet(t, b, "/console/app.js", "", ""); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /console/app.js: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp, _ := httpGet(t, b, "/nope", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /nope: %s, want 404", resp.Status)
	}
	if resp, _ := httpGet(t, b, "/channels", "", ""); !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /channels is no longer the API: %q", resp.Header.Get("Content-Type"))
	}
	resp, body = httpGet(t, b, "/console/info", "", "")
	var info broker.ConsoleInfo
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/info: %s %v\n%s", resp.Status, err, body)
	}
	if info.Node != 1 || info.Auth || info.WS != "" || info.WSTLS {
		t.Fatalf("console info %+v, want node 1 without auth or WebSocket listener", info)
	}
	for _, k := range []string{`"node"`, `"ws"`, `"ws_tls"`, `"auth"`} {
		if !strings.Contains(string(body), k) {
			t.Fatalf("console info lacks %s: %s", k, body)
		}
	}
}

// /console/info names the WebSocket listener the console's tail and publish connect to.
func TestConsoleInfoWS(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.WS = "127.0.0.1:0" })
	_, body := httpGet(t, b, "/console/info", "", "")
	var info broker.ConsoleInfo
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if info.WS == "" || info.WS != b.WSAddr() || info.WSTLS {
		t.Fatalf("console info %+v, want ws %s without TLS", info, b.WSAddr())
	}
}

// With users, the page stays public; /console/info follows protect_reads, and checks credentials
// whenever they are sent (the console's sign-in form relies on it).
func TestConsoleInfoAuth(t *testing.T) {
	users := []auth.User{{Name: "ops", Password: mustHash(t, "ops-pw")}}
	for _, protect := range []bool{false, true} {
		// A subtest each: the first broker stops before the second starts (two at once trip the
		// race detector in protoactor's gRPC logger, decision 0005).
		t.Run(fmt.Sprintf("protect_reads=%v", protect), func(t *testing.T) { testConsoleInfoAuth(t, users, protect) })
	}
}

func testConsoleInfoAuth(t *testing.T, users []auth.User, protect bool) {
	b := start(t, func(c *broker.Config) { c.Auth = auth.Config{Users: users, ProtectReads: protect} })
	if resp, _ := httpGet(t, b, "/", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("protect_reads %v: GET / without a login: %s", protect, resp.Status)
	}
	want := http.StatusOK
	if protect {
		want = http.StatusUnauthorized
	}
	if resp, _ := httpGet(t, b, "/console/info", "", ""); resp.StatusCode != want {
		t.Fatalf("protect_reads %v: GET /console/info without a login: %s, want %d", protect, resp.Status, want)
	}
	if resp, _ := httpGet(t, b, "/console/info", "ops", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("protect_reads %v: wrong password: %s, want 401", protect, resp.Status)
	}
	resp, body := httpGet(t, b, "/console/info", "ops", "ops-pw")
	var info broker.ConsoleInfo
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != http.StatusOK || !info.Auth {
		t.Fatalf("protect_reads %v: with a login: %s %s", protect, resp.Status, body)
	}
}

// GET /channels/{name} counts this node's connections subscribed to the channel (the console's
// "subscribers"), up as they subscribe and down as they leave.
func TestChannelSubscribers(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count := func() int {
		resp, body := httpGet(t, b, "/channels/subs.count", "", "")
		var st broker.ChannelStatus
		if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusOK {
			return -1
		}
		return st.Subscribers
	}
	c1, c2 := connect(t, ctx, b), connect(t, ctx, b)
	if _, err := c1.Publish(ctx, "subs.count", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d subscribers before any subscription", n)
	}
	s1, err := c1.Subscribe(ctx, "subs.count", client.StartNew(), func(*client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Subscribe(ctx, "subs.count", client.StartNew(), func(*client.Message) {}); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "2 subscribers", func() bool { return count() == 2 })
	if err := s1.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "1 subscriber after an unsubscribe", func() bool { return count() == 1 })
	c2.Close()
	tu.Eventually(t, 10*time.Second, "none after the last connection closed", func() bool { return count() == 0 })
}
