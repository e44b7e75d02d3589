package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func hash(t *testing.T, s string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestCompileRejects(t *testing.T) {
	h := hash(t, "pw")
	for _, tc := range []struct {
		name string
		u    []User
		want string
	}{
		{"no name", []User{{Password: h}}, "name is empty"},
		{"duplicate", []User{{Name: "a", Password: h}, {Name: "a", Password: h}}, "second user"},
		{"no secret", []User{{Name: "a"}}, "exactly one of password and token"},
		{"both secrets", []User{{Name: "a", Password: h, Token: h}}, "exactly one of password and token"},
		{"plain text password", []User{{Name: "a", Password: "hunter2"}}, "bcrypt hash"},
		{"bad pattern", []User{{Name: "a", Password: h, Publish: Rules{Allow: []string{"a.>.b"}}}}, "publish"},
		{"negative rate", []User{{Name: "a", Password: h, CreatesPerMinute: -1}}, "creates_per_minute"},
		{"negative total", []User{{Name: "a", Password: h, MaxChannels: -1}}, "max_channels"},
	} {
		_, err := (&Config{Users: tc.u}).Compile()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}

func TestLoginAndPermissions(t *testing.T) {
	a, err := (&Config{Users: []User{
		{Name: "alice", Password: hash(t, "alice-pw"), Publish: Rules{Allow: []string{"orders.>"}, Deny: []string{"orders.secret"}},
			Subscribe: Rules{Allow: []string{"orders.*", "news"}}},
		{Name: "svc", Token: hash(t, "svc-token"), Admin: true},
	}}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	logins := []struct {
		user, pass, token, want string
	}{
		{"alice", "alice-pw", "", "alice"},
		{"alice", "wrong", "", ""},
		{"alice", "", "", ""},
		{"bob", "alice-pw", "", ""},
		{"", "", "svc-token", "svc"},
		{"", "", "alice-pw", ""},
		{"svc", "svc-token", "", ""}, // a token user has no password login
		{"alice", "alice-pw", "svc-token", ""},
		{"", "", "", ""},
	}
	for _, l := range logins {
		id, err := a.Login(l.user, l.pass, l.token)
		got := ""
		if err == nil {
			got = id.Name
		}
		if got != l.want {
			t.Errorf("Login(%q, %q, %q) = %q, %v; want %q", l.user, l.pass, l.token, got, err, l.want)
		}
	}
	alice, _ := a.Login("alice", "alice-pw", "")
	for ch, want := range map[string]bool{"orders.eu": true, "orders.eu.x": true, "orders.secret": false, "orders": false, "news": false} {
		if alice.CanPublish(ch) != want {
			t.Errorf("alice publish %s: want %t", ch, want)
		}
	}
	for ch, want := range map[string]bool{"orders.eu": true, "orders.eu.x": false, "news": true, "other": false} {
		if alice.CanSubscribe(ch) != want {
			t.Errorf("alice subscribe %s: want %t", ch, want)
		}
	}
	svc, _ := a.Login("", "", "svc-token")
	if !svc.Admin || !svc.CanPublish("anything") || !svc.CanSubscribe("x.y") || alice.Admin {
		t.Error("no rules must allow everything; admin only where set")
	}
	// Logins that succeeded are remembered: again they succeed, and a wrong secret still fails.
	for i := 0; i < 2; i++ {
		if id, err := a.Login("alice", "alice-pw", ""); err != nil || id.Name != "alice" {
			t.Fatalf("repeated login %d: %v", i, err)
		}
		if id, err := a.Login("", "", "svc-token"); err != nil || id.Name != "svc" {
			t.Fatalf("repeated token login %d: %v", i, err)
		}
		if _, err := a.Login("alice", "alice-pw2", ""); err == nil {
			t.Fatal("a wrong password after a remembered login succeeded")
		}
		if _, err := a.Login("svc", "svc-token", ""); err == nil {
			t.Fatal("a token used as a password succeeded after a remembered token login")
		}
	}
	tok := a.Internal("nats-bridge")
	if id, err := a.Login("", "", tok); err != nil || id.Name != "nats-bridge" || id.Admin || !id.CanPublish("a") {
		t.Errorf("internal token: %v %v", id, err)
	}
	if tok2 := a.Internal("other"); tok2 == tok {
		t.Error("internal tokens repeat")
	}
}
