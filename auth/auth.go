// Package auth decides who may connect to a node and what each user may do: users from the config
// file with bcrypt-hashed passwords or tokens, publish and subscribe allow/deny lists of channel
// patterns, and whether a user may change the cluster through the admin API. No I/O and no clocks
// (the constant delay after a failed login is the caller's). bcrypt is slow on purpose, so logins
// are bounded: at most half the CPUs compare hashes at once (a flood of logins cannot take the
// node's CPU from its traffic), and a login that succeeded is remembered (keyed by a keyed hash of
// name and secret, never the secret) so that reconnects do not pay for bcrypt again.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/sampan-io/sampan/bridge"
)

// Config is the `auth` section of a node's config. No users: authentication is off and every
// connection may do everything (the default, for local development).
type Config struct {
	Users []User `yaml:"users"`
	// ProtectReads makes the HTTP listener's reads (/metrics, /cluster/*, /channels, /bridges, the
	// profiler) need a user's login too; /healthz and /readyz stay open for orchestrators.
	ProtectReads bool `yaml:"protect_reads"`
}

// User is one identity. Exactly one of Password and Token is set, each a bcrypt hash (`sampan passwd`
// prints one); a user logs in with its name and password, or with its token alone.
type User struct {
	Name      string `yaml:"name"`
	Password  string `yaml:"password,omitempty"`
	Token     string `yaml:"token,omitempty"`
	Publish   Rules  `yaml:"publish"`
	Subscribe Rules  `yaml:"subscribe"`
	// Admin lets the user call the admin API's changing endpoints (add/remove node, transfer leader).
	Admin bool `yaml:"admin"`
	// Create: whether publishing or subscribing to a channel that does not exist may create it (nil:
	// yes). CreatesPerMinute bounds how many the user creates a minute, over all its connections to a
	// node (0: no bound). MaxChannels bounds how many the user creates in total, over the whole cluster
	// and its lifetime (0: no bound): the count is kept in the replicated channel registry, so it
	// survives restarts and holds across nodes.
	Create           *bool `yaml:"create,omitempty"`
	CreatesPerMinute int   `yaml:"creates_per_minute,omitempty"`
	MaxChannels      int   `yaml:"max_channels,omitempty"`
}

// Rules are channel patterns ('*' one token, '>' the rest). A channel is allowed when it matches an
// allow pattern (no allow list: every channel) and no deny pattern.
type Rules struct {
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

// ErrAuthFailed is returned for any failed login, without saying which part was wrong.
var ErrAuthFailed = errors.New("authentication failed")

// Enabled reports whether connections must log in.
func (c *Config) Enabled() bool { return len(c.Users) > 0 }

// Compile checks the config and returns what answers logins and permission checks.
func (c *Config) Compile() (*Authenticator, error) {
	a := &Authenticator{byName: map[string]*Identity{}, sem: make(chan struct{}, max(1, runtime.NumCPU()/2)),
		key: make([]byte, 32), verified: map[[32]byte]*Identity{}}
	_, _ = rand.Read(a.key) // crypto/rand.Read never fails
	for i := range c.Users {
		u := &c.Users[i]
		where := fmt.Sprintf("auth.users[%d] (%q)", i, u.Name)
		if u.Name == "" {
			return nil, fmt.Errorf("sampan: auth.users[%d]: name is empty", i)
		}
		if _, dup := a.byName[u.Name]; dup {
			return nil, fmt.Errorf("sampan: %s: a second user with that name", where)
		}
		if (u.Password == "") == (u.Token == "") {
			return nil, fmt.Errorf("sampan: %s: set exactly one of password and token", where)
		}
		secret := u.Password + u.Token
		if _, err := bcrypt.Cost([]byte(secret)); err != nil {
			return nil, fmt.Errorf("sampan: %s: password or token must be a bcrypt hash (make one with `sampan passwd`): %v", where, err)
		}
		if u.CreatesPerMinute < 0 {
			return nil, fmt.Errorf("sampan: %s: creates_per_minute %d is negative", where, u.CreatesPerMinute)
		}
		if u.MaxChannels < 0 {
			return nil, fmt.Errorf("sampan: %s: max_channels %d is negative", where, u.MaxChannels)
		}
		id := &Identity{Name: u.Name, Admin: u.Admin, hash: []byte(secret), token: u.Token != "",
			CanCreate: u.Create == nil || *u.Create, CreatesPerMinute: u.CreatesPerMinute, MaxChannels: u.MaxChannels}
		var err error
		if id.pub, err = compile(u.Publish); err != nil {
			return nil, fmt.Errorf("sampan: %s publish: %w", where, err)
		}
		if id.sub, err = compile(u.Subscribe); err != nil {
			return nil, fmt.Errorf("sampan: %s subscribe: %w", where, err)
		}
		a.byName[u.Name] = id
		if id.token {
			a.tokens = append(a.tokens, id)
		}
	}
	return a, nil
}

// Authenticator answers logins; safe for any number of goroutines (users and rules are read-only
// after Compile; the verified cache is under mu).
type Authenticator struct {
	byName map[string]*Identity
	tokens []*Identity
	sem    chan struct{} // bounds the bcrypt comparisons running at once
	key    []byte        // HMAC key of the verified cache, random per process

	mu       sync.Mutex
	verified map[[32]byte]*Identity // logins that succeeded, by HMAC(key, name, secret); bounded
	// internal: the node's own clients (its NATS bridge), each with a random token made at start
	// (Internal); set before the authenticator is shared, read-only after.
	internal []internalToken
}

type internalToken struct {
	token []byte
	id    *Identity
}

// Internal registers a client of the node itself (name, with every permission) and returns the
// random token it logs in with. It is never written anywhere; a restart makes a new one. Call it
// before sharing the authenticator.
func (a *Authenticator) Internal(name string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	tok := hex.EncodeToString(b)
	a.internal = append(a.internal, internalToken{token: []byte(tok), id: &Identity{Name: name, CanCreate: true}})
	return tok
}

// Identity is a logged-in user and what it may do.
type Identity struct {
	Name  string
	Admin bool
	// CanCreate: the user may create channels (by publishing or subscribing to one that does not
	// exist); CreatesPerMinute bounds how many a minute (0: no bound), MaxChannels how many in total
	// (0: no bound).
	CanCreate        bool
	CreatesPerMinute int
	MaxChannels      int
	hash             []byte
	token            bool
	pub              rules
	sub              rules
}

// Login checks a user name and password, or a token (user empty). It costs a bcrypt comparison per
// candidate: one for a name, one per token user for a token.
func (a *Authenticator) Login(user, password, token string) (*Identity, error) {
	switch {
	case user != "" && token == "":
		id := a.byName[user]
		if id == nil || id.token {
			return nil, ErrAuthFailed
		}
		if a.remembered(user, password) == id {
			return id, nil
		}
		if !a.compare(id.hash, password) {
			return nil, ErrAuthFailed
		}
		a.remember(user, password, id)
		return id, nil
	case user == "" && password == "" && token != "":
		for _, it := range a.internal {
			if subtle.ConstantTimeCompare(it.token, []byte(token)) == 1 {
				return it.id, nil
			}
		}
		if id := a.remembered("", token); id != nil {
			return id, nil
		}
		for _, id := range a.tokens {
			if a.compare(id.hash, token) {
				a.remember("", token, id)
				return id, nil
			}
		}
	}
	return nil, ErrAuthFailed
}

// compare is a bcrypt comparison, waiting for its turn among the bounded few.
func (a *Authenticator) compare(hash []byte, secret string) bool {
	a.sem <- struct{}{}
	defer func() { <-a.sem }()
	return bcrypt.CompareHashAndPassword(hash, []byte(secret)) == nil
}

const verifiedMax = 4096

func (a *Authenticator) cacheKey(user, secret string) [32]byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (a *Authenticator) remembered(user, secret string) *Identity {
	k := a.cacheKey(user, secret)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.verified[k]
}

func (a *Authenticator) remember(user, secret string, id *Identity) {
	k := a.cacheKey(user, secret)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= verifiedMax {
		clear(a.verified)
	}
	a.verified[k] = id
}

// CanPublish reports whether the identity may publish to channel.
func (id *Identity) CanPublish(channel string) bool { return id.pub.allows(channel) }

// CanSubscribe reports whether the identity may subscribe to channel.
func (id *Identity) CanSubscribe(channel string) bool { return id.sub.allows(channel) }

type rules struct {
	allow, deny []bridge.Pattern // allow nil: every channel
}

func compile(r Rules) (rules, error) {
	var out rules
	for _, list := range []struct {
		src []string
		dst *[]bridge.Pattern
	}{{r.Allow, &out.allow}, {r.Deny, &out.deny}} {
		for _, s := range list.src {
			p, err := bridge.ParsePattern(strings.TrimSpace(s), bridge.KindChannel)
			if err != nil {
				return rules{}, err
			}
			*list.dst = append(*list.dst, p)
		}
	}
	return out, nil
}

func (r *rules) allows(channel string) bool {
	for _, p := range r.deny {
		if _, ok := p.Match(channel); ok {
			return false
		}
	}
	if r.allow == nil {
		return true
	}
	for _, p := range r.allow {
		if _, ok := p.Match(channel); ok {
			return true
		}
	}
	return false
}

// Hash returns the bcrypt hash of a password or token, for the config file.
func Hash(secret string) (string, error) {
	if secret == "" {
		return "", errors.New("sampan: an empty password or token")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.DefaultCost)
	return string(h), err
}
