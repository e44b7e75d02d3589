package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/racecheck"
	tu "github.com/sampan-io/sampan/internal/testutil"
	"github.com/sampan-io/sampan/protocol"
)

func mustHash(t *testing.T, s string) string {
	t.Helper()
	h, err := auth.Hash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func startWithUsers(t *testing.T) *broker.Broker {
	users := []auth.User{
		{Name: "alice", Password: mustHash(t, "alice-pw"),
			Publish: auth.Rules{Allow: []string{"orders.>"}}, Subscribe: auth.Rules{Allow: []string{"orders.*"}, Deny: []string{"orders.secret"}}},
		{Name: "ops", Password: mustHash(t, "ops-pw"), Admin: true},
		{Name: "svc", Token: mustHash(t, "svc-token")},
	}
	return start(t, func(c *broker.Config) { c.Auth = auth.Config{Users: users} })
}

func errCode(err error) protocol.ErrCode {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// Logins: missing or wrong credentials get a fatal auth_failed after the constant delay and are
// counted; a password and a token log in.
func TestAuthLogin(t *testing.T) {
	b := startWithUsers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		opts []client.Option
	}{
		{"no credentials", nil},
		{"wrong password", []client.Option{client.WithUserPassword("alice", "nope")}},
		{"unknown user", []client.Option{client.WithUserPassword("mallory", "alice-pw")}},
		{"wrong token", []client.Option{client.WithToken("not-it")}},
	} {
		began := time.Now()
		_, err := client.Connect(ctx, b.Addr(), append(tc.opts, client.WithReconnect(false, 0))...)
		if errCode(err) != protocol.CodeAuthFailed {
			t.Fatalf("%s: %v, want auth_failed", tc.name, err)
		}
		if d := time.Since(began); d < 400*time.Millisecond {
			t.Fatalf("%s: refused after %s, before the constant delay", tc.name, d)
		}
		if strings.Contains(err.Error(), "alice-pw") {
			t.Fatalf("%s: the error shows a secret: %v", tc.name, err)
		}
	}
	if n := testutil.ToFloat64(b.Metrics.AuthFailures); n != 4 {
		t.Fatalf("sampan_auth_failures_total %v, want 4", n)
	}
	for _, opt := range []client.Option{client.WithUserPassword("alice", "alice-pw"), client.WithToken("svc-token")} {
		c, err := client.Connect(ctx, b.Addr(), opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, "orders.eu", []byte("x")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// Permissions: a denied publish or subscribe gets permission_denied naming the channel, and the
// connection goes on serving what is allowed.
func TestAuthPermissions(t *testing.T) {
	b := startWithUsers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Publish(ctx, "payroll", []byte("x"))
	if errCode(err) != protocol.CodePermissionDenied || !strings.Contains(err.Error(), "payroll") {
		t.Fatalf("publish to payroll: %v, want permission_denied naming it", err)
	}
	if _, err := c.Subscribe(ctx, "orders.secret", client.StartEarliest(), func(*client.Message) {}); errCode(err) != protocol.CodePermissionDenied {
		t.Fatalf("subscribe to orders.secret: %v, want permission_denied", err)
	}
	if _, err := c.Subscribe(ctx, "payroll", client.StartEarliest(), func(*client.Message) {}); errCode(err) != protocol.CodePermissionDenied {
		t.Fatalf("subscribe to payroll: %v, want permission_denied", err)
	}
	col := &collector{}
	if _, err := c.Subscribe(ctx, "orders.eu", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Publish(ctx, "orders.eu", []byte("ok")); err != nil {
			t.Fatalf("allowed publish after denied ones: %v", err)
		}
	}
	tu.Eventually(t, 10*time.Second, "5 messages on the allowed channel", func() bool { return col.len() == 5 })
	if n := testutil.ToFloat64(b.Metrics.Denied); n != 3 {
		t.Fatalf("sampan_permission_denied_total %v, want 3", n)
	}
}

// With auth.protect_reads, reads need a login too, except /healthz and /readyz.
func TestAuthProtectReads(t *testing.T) {
	users := []auth.User{{Name: "ops", Password: mustHash(t, "ops-pw")}}
	b := start(t, func(c *broker.Config) { c.Auth = auth.Config{Users: users, ProtectReads: true} })
	get := func(path, user, pass string) int {
		t.Helper()
		resp, _ := httpGet(t, b, path, user, pass)
		return resp.StatusCode
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := get(path, "", ""); code != http.StatusOK {
			t.Fatalf("GET %s without a login: %d, want 200", path, code)
		}
	}
	for _, path := range []string{"/metrics", "/cluster/status", "/cluster/nodes", "/channels", "/bridges"} {
		if code := get(path, "", ""); code != http.StatusUnauthorized {
			t.Fatalf("GET %s without a login: %d, want 401", path, code)
		}
		if code := get(path, "ops", "ops-pw"); code != http.StatusOK {
			t.Fatalf("GET %s with a login: %d, want 200", path, code)
		}
	}
}

// The admin API's changing endpoints need an admin's credentials; reads stay open and show no secret.
func TestAuthAdminAPI(t *testing.T) {
	b := startWithUsers(t)
	url := "http://" + b.HTTPAddr() + "/channels/nope/transfer-leader"
	for _, tc := range []struct {
		name       string
		user, pass string
		bearer     string
		want       int
	}{
		{"anonymous", "", "", "", http.StatusUnauthorized},
		{"wrong password", "ops", "x", "", http.StatusUnauthorized},
		{"not an admin", "alice", "alice-pw", "", http.StatusForbidden},
		{"token of a non-admin", "", "", "svc-token", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"node": 1}`))
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"node": 1}`))
	req.SetBasicAuth("ops", "ops-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		t.Fatalf("admin refused: %s", resp.Status)
	}
	for _, path := range []string{"/cluster/status", "/cluster/nodes", "/healthz", "/metrics"} {
		resp, err := http.Get("http://" + b.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if strings.Contains(string(body), "$2a$") || strings.Contains(string(body), "alice-pw") {
			t.Fatalf("GET %s shows a secret:\n%s", path, body)
		}
	}
}

// Limits: connections beyond the node's bound and a user's bound are refused with limit_exceeded
// (fatal), subscriptions beyond a connection's bound too (non-fatal); the connections already in
// keep being served.
func TestConnectionAndSubscriptionLimits(t *testing.T) {
	users := []auth.User{{Name: "app", Password: mustHash(t, "pw")}}
	b := start(t, func(c *broker.Config) {
		c.Auth = auth.Config{Users: users}
		c.Limits.MaxConnections, c.Limits.MaxUserConnections, c.Limits.MaxSubscriptions = 3, 2, 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	login := client.WithUserPassword("app", "pw")
	c1, err := client.Connect(ctx, b.Addr(), login)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := client.Connect(ctx, b.Addr(), login)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := client.Connect(ctx, b.Addr(), login, client.WithReconnect(false, 0)); errCode(err) != protocol.CodeLimitExceeded {
		t.Fatalf("a third connection of the user: %v, want limit_exceeded", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c1.Subscribe(ctx, fmt.Sprintf("lim.%d", i), client.StartNew(), func(*client.Message) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c1.Subscribe(ctx, "lim.x", client.StartNew(), func(*client.Message) {}); errCode(err) != protocol.CodeLimitExceeded {
		t.Fatalf("a third subscription: %v, want limit_exceeded", err)
	}
	// The node's bound: a third socket is accepted (2 connected), a fourth is refused at once.
	third, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	tu.Eventually(t, 10*time.Second, "the refused fourth connection", func() bool {
		c, err := client.Connect(ctx, b.Addr(), login, client.WithReconnect(false, 0))
		if err == nil {
			c.Close()
			return false
		}
		return errCode(err) == protocol.CodeLimitExceeded
	})
	if _, err := c1.Publish(ctx, "lim.0", []byte("still served")); err != nil {
		t.Fatal(err)
	}
	// Headers and idempotency key over 64 KiB together: refused, the connection goes on; at the bound: stored.
	big := map[string]string{"h": strings.Repeat("x", 64<<10)}
	if _, err := c1.Publish(ctx, "lim.0", []byte("x"), client.WithHeaders(big)); errCode(err) != protocol.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "over the maximum 65536") {
		t.Fatalf("a publish with 64 KiB + 1 of headers: %v, want invalid_argument", err)
	}
	fits := map[string]string{"h": strings.Repeat("x", 60<<10-1)} // the name counts too
	if _, err := c1.Publish(ctx, "lim.0", []byte("x"), client.WithHeaders(fits), client.WithIdempotencyKey(strings.Repeat("k", 4<<10))); err != nil {
		t.Fatalf("a publish with 64 KiB of headers and key: %v", err)
	}
	if n := testutil.ToFloat64(b.Metrics.Refused); n < 3 {
		t.Fatalf("sampan_limit_refusals_total %v, want >= 3", n)
	}
}

// Creating channels: a user without the create permission may use channels that exist but not make
// new ones; one with creates_per_minute makes that many and is then refused for a while.
func TestAuthChannelCreation(t *testing.T) {
	no := false
	users := []auth.User{
		{Name: "maker", Password: mustHash(t, "pw"), CreatesPerMinute: 2},
		{Name: "reader", Password: mustHash(t, "pw"), Create: &no},
	}
	b := start(t, func(c *broker.Config) { c.Auth = auth.Config{Users: users} })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	maker, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("maker", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer maker.Close()
	for _, ch := range []string{"made.a", "made.b"} {
		if _, err := maker.Publish(ctx, ch, []byte("x")); err != nil {
			t.Fatalf("create %s: %v", ch, err)
		}
	}
	if _, err := maker.Publish(ctx, "made.c", []byte("x")); errCode(err) != protocol.CodeLimitExceeded {
		t.Fatalf("a third new channel within the minute: %v, want limit_exceeded", err)
	}
	if _, err := maker.Publish(ctx, "made.a", []byte("again")); err != nil {
		t.Fatalf("publishing to a channel it made: %v", err)
	}
	reader, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("reader", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.Publish(ctx, "fresh.channel", []byte("x")); errCode(err) != protocol.CodePermissionDenied {
		t.Fatalf("reader creating by publish: %v, want permission_denied", err)
	}
	if _, err := reader.Subscribe(ctx, "fresh.other", client.StartEarliest(), func(*client.Message) {}); errCode(err) != protocol.CodePermissionDenied {
		t.Fatalf("reader creating by subscribe: %v, want permission_denied", err)
	}
	col := &collector{}
	if _, err := reader.Subscribe(ctx, "made.a", client.StartEarliest(), col.handle); err != nil {
		t.Fatalf("reader subscribing to an existing channel: %v", err)
	}
	tu.Eventually(t, 10*time.Second, "both messages of made.a", func() bool { return col.len() == 2 })
	if _, err := reader.Publish(ctx, "made.b", []byte("y")); err != nil {
		t.Fatalf("reader publishing to an existing channel: %v", err)
	}
}

// A user with max_channels creates that many channels in total, across connections and restarts;
// over it a publish or subscribe to a new channel gets limit_exceeded, and the channels it made stay
// usable on the same connection.
func TestAuthChannelTotal(t *testing.T) {
	users := []auth.User{{Name: "maker", Password: mustHash(t, "pw"), MaxChannels: 2}}
	cfg := tu.Config(t, t.TempDir())
	cfg.Auth = auth.Config{Users: users}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := broker.Start(cfg, tu.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	login := func(b *broker.Broker) *client.Client {
		t.Helper()
		c, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("maker", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := login(b)
	if _, err := c.Publish(ctx, "total.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := login(b).Subscribe(ctx, "total.b", client.StartEarliest(), func(*client.Message) {}); err != nil {
		t.Fatalf("second channel, by subscribe on another connection: %v", err)
	}
	if _, err := c.Publish(ctx, "total.c", []byte("x")); errCode(err) != protocol.CodeLimitExceeded {
		t.Fatalf("a third channel: %v, want limit_exceeded", err)
	}
	if _, err := c.Publish(ctx, "total.b", []byte("y")); err != nil {
		t.Fatalf("publishing to a channel it made, after the refusal: %v", err)
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelClose()
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	b = tu.StartBroker(t, cfg)
	c = login(b)
	if _, err := c.Subscribe(ctx, "total.d", client.StartEarliest(), func(*client.Message) {}); errCode(err) != protocol.CodeLimitExceeded {
		t.Fatalf("a third channel after a restart: %v, want limit_exceeded", err)
	}
	if _, err := c.Publish(ctx, "total.a", []byte("z")); err != nil {
		t.Fatalf("publishing to a channel it made, after the restart: %v", err)
	}
}

// Secrets never reach the logs: failed and successful logins at debug level log no password, token
// or hash.
func TestAuthSecretsNotLogged(t *testing.T) {
	var buf syncBuf
	hash := mustHash(t, "s3cret-pw")
	tokHash := mustHash(t, "s3cret-token")
	cfg := tu.Config(t, t.TempDir())
	cfg.Auth = auth.Config{Users: []auth.User{{Name: "alice", Password: hash}, {Name: "svc", Token: tokHash}}}
	b, err := broker.Start(cfg, zerolog.New(&buf).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, opt := range []client.Option{client.WithUserPassword("alice", "s3cret-wrong"), client.WithToken("s3cret-wrong-token"),
		client.WithUserPassword("alice", "s3cret-pw"), client.WithToken("s3cret-token")} {
		if c, err := client.Connect(ctx, b.Addr(), opt, client.WithReconnect(false, 0)); err == nil {
			c.Close()
		}
	}
	out := buf.String()
	if !strings.Contains(out, "login refused") {
		t.Fatalf("the failed logins were not logged:\n%s", out)
	}
	for _, secret := range []string{"s3cret", hash, tokHash} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log shows %q:\n%s", secret, out)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHostileClientsDoNotHurtOthers: while connections that never say CONNECT, stop in the middle of
// a frame, fail their login, exceed the subscription limit, knock at a full user limit and publish to
// endless new channel names hit one node, a well-behaved client there keeps publishing at a
// comparable rate and its subscriber gets every acked message, in order.
func TestHostileClientsDoNotHurtOthers(t *testing.T) {
	users := []auth.User{{Name: "good", Password: mustHash(t, "pw")}, {Name: "bad", Password: mustHash(t, "pw"), MaxChannels: 20}}
	b := start(t, func(c *broker.Config) {
		c.Auth = auth.Config{Users: users}
		c.Limits.MaxSubscriptions, c.Limits.MaxUserConnections = 4, 2
		c.Limits.HandshakeTimeout = broker.Duration(time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("good", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	col := &collector{}
	if _, err := good.Subscribe(ctx, "good.orders", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	acked := 0
	publishFor := func(d time.Duration) int {
		n := 0
		for end := time.Now().Add(d); time.Now().Before(end); n++ {
			if _, err := good.Publish(ctx, "good.orders", []byte(fmt.Sprint(acked))); err != nil {
				t.Fatalf("the good client's publish failed: %v", err)
			}
			acked++
		}
		return n
	}
	// The attack runs in alternating phases with quiet ones, so that the load of whatever else shares
	// the machine (other test packages under CI) weighs on both counts alike.
	var attacking atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hostile := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !attacking.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				f()
			}
		}()
	}
	hostile(func() { // never says CONNECT
		if c, err := net.Dial("tcp", b.Addr()); err == nil {
			_, _ = io.Copy(io.Discard, c) // until the server closes it
			c.Close()
		}
	})
	hostile(func() { // stops in the middle of a frame
		if c, err := net.Dial("tcp", b.Addr()); err == nil {
			_, _ = c.Write([]byte{0, 0, 0, 90, byte(protocol.TypeConnect)})
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	})
	hostile(func() { // wrong password
		_, _ = client.Connect(ctx, b.Addr(), client.WithUserPassword("bad", "nope"), client.WithReconnect(false, 0))
	})
	bad1, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("bad", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad1.Close()
	bad2, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("bad", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad2.Close()
	hostile(func() { // over the user's connection limit
		if c, err := client.Connect(ctx, b.Addr(), client.WithUserPassword("bad", "pw"), client.WithReconnect(false, 0)); err == nil {
			c.Close()
		}
	})
	var subs atomic.Int64
	hostile(func() { // subscribing past the connection's limit
		if _, err := bad1.Subscribe(ctx, fmt.Sprintf("bad.%d", subs.Add(1)), client.StartNew(), func(*client.Message) {}); err != nil &&
			errCode(err) != protocol.CodeLimitExceeded {
			t.Errorf("hostile subscribe: %v", err)
		}
	})
	var made, creates atomic.Int64
	hostile(func() { // publishing to endless new names: a Raft group each, up to the user's max_channels
		switch _, err := bad2.Publish(ctx, fmt.Sprintf("spam.%d", creates.Add(1)), []byte("x")); {
		case err == nil:
			made.Add(1)
		case errCode(err) != protocol.CodeLimitExceeded:
			t.Errorf("hostile create: %v", err)
		}
	})
	baseline, under := 0, 0
	for phase := 0; phase < 5; phase++ {
		attacking.Store(false)
		baseline += publishFor(300 * time.Millisecond)
		attacking.Store(true)
		under += publishFor(300 * time.Millisecond)
	}
	baseline, under = baseline*2/3, under*2/3 // per second
	close(stop)
	wg.Wait()
	t.Logf("good client: %d publishes/s alone, %d/s under attack; %d subscriptions tried past the limit; %d channels created of %d tried",
		baseline, under, subs.Load(), made.Load(), creates.Load())
	// Its four accepted subscriptions own four channels at most; a SUB refused over max_subscriptions
	// must not create (and count) one.
	if m := made.Load(); m > 20 || (creates.Load() > m && m < 16) {
		t.Fatalf("the hostile user created %d channels of %d tried by publishing; its max_channels is 20", m, creates.Load())
	}
	// The attackers run in this process and share its two cores with the broker, which a real
	// attacker on another machine does not; under the race detector their own client-side work costs
	// several times more, so the rate says more about the detector than about the broker's bounds
	// (measured: 0.41 of the rate alone with -race on an idle machine, 0.29 under CI's load; 0.55-0.78
	// without it). The limits and the pacing below are still checked.
	if under < baseline/3 && !racecheck.Enabled {
		t.Fatalf("the good client did %d publishes/s under attack, against %d alone", under, baseline)
	}
	// The connection looping on a refused SUB is paced (1,000 refusals, then 200 a second): unpaced it
	// made some 60,000 a second.
	if n := subs.Load(); n > 1000+200*3+100 {
		t.Fatalf("%d subscriptions tried past the limit in 1.5 s of attack: the refused connection was not paced", n)
	}
	tu.Eventually(t, 20*time.Second, "every acked message delivered", func() bool { return col.len() == acked })
	if col.bad != nil {
		t.Fatal(col.bad)
	}
	if testutil.ToFloat64(b.Metrics.AuthFailures) == 0 || testutil.ToFloat64(b.Metrics.Refused) == 0 {
		t.Fatal("the hostile clients were not counted")
	}
}
