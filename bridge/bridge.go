package bridge

// The bridge's lifecycle: it watches whether this node should run it (Host.Leader), and while it does,
// runs one session: a Sampan client over loopback, one NATS connection, and a goroutine per rule.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/client"
)

// Headers the bridge sets. They are how loops are prevented: a message carrying HeaderOrigin with
// OriginNATS came from NATS and is never exported; a NATS message carrying HeaderChannel came from
// Sampan and is never imported.
const (
	HeaderChannel = "Sampan-Channel" // export: the channel the message was stored in
	HeaderSeq     = "Sampan-Seq"     // export: its seq there
	HeaderOrigin  = "Sampan-Origin"  // import: OriginNATS
	OriginNATS    = "nats"
	HeaderSubject = "Nats-Subject" // import: the subject the message was published to
	HeaderReply   = "Nats-Reply"   // import (core NATS): the message's reply subject, if any
	HeaderMsgID   = "Nats-Msg-Id"  // NATS's deduplication header
)

// Host is what the bridge needs from the node it runs in. The broker implements it over the metadata
// group; its methods may be called from any goroutine.
type Host interface {
	// Leader reports whether the bridge should run on this node now (it leads the metadata group).
	Leader() bool
	// ClientAddr is this node's client listener: the bridge is a Sampan client like any other.
	ClientAddr() string
	// ClientOptions are what the bridge's client needs to be let in there (TLS, credentials).
	ClientOptions() []client.Option
	// Channels lists one page of the channel registry: the names starting with prefix that sort after
	// after, by name, at most limit; next is the after of the following page, empty after the last.
	Channels(ctx context.Context, prefix, after string, limit int) (names []string, next string, err error)
	// Cursors returns an export rule's replicated cursors (channel -> last exported seq).
	Cursors(ctx context.Context, rule string) (map[string]uint64, error)
	// SaveCursors raises an export rule's cursors (never lowers them) in the replicated state.
	SaveCursors(ctx context.Context, rule string, cursors map[string]uint64) error
	// LastSeq is a channel's last seq as far as this node knows cheaply (for the lag); ok false if not.
	LastSeq(channel string) (seq uint64, ok bool)
}

// Bridge runs the NATS bridge of one node. Create it with New, then Start; Close stops it.
type Bridge struct {
	cfg     Config
	host    Host
	log     zerolog.Logger
	errLog  zerolog.Logger // sampled: NATS async errors can come in floods
	nodeID  uint64
	exports []*exportRule
	imports []*importRule

	// Test hooks and tuning (unexported: set by the package's tests only).
	leaderPoll  time.Duration // how often leadership is checked
	confirmTick time.Duration // core export: flush to confirm what NATS received
	saveEvery   time.Duration // how often changed cursors are written to the metadata group
	scanEvery   time.Duration // how often the channel registry is scanned for new channels

	active atomic.Bool
	nc     atomic.Pointer[nats.Conn]

	startOnce, closeOnce sync.Once
	stop                 chan struct{}
	done                 chan struct{}
}

// New validates cfg (errors wrap ErrInvalidConfig) and returns a bridge that does nothing until
// Start. nodeID names the default NATS connection ("sampan-node-ID").
func New(cfg Config, host Host, nodeID uint64, log zerolog.Logger) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, host: host, nodeID: nodeID, log: log.With().Str("component", "nats-bridge").Logger(),
		leaderPoll: 500 * time.Millisecond, confirmTick: 50 * time.Millisecond, saveEvery: 250 * time.Millisecond,
		scanEvery: 500 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{})}
	b.errLog = b.log.Sample(&zerolog.BurstSampler{Burst: 1, Period: 5 * time.Second})
	for i := range cfg.Export {
		b.exports = append(b.exports, &exportRule{b: b, cfg: cfg.Export[i]})
	}
	for i := range cfg.Import {
		b.imports = append(b.imports, &importRule{b: b, cfg: cfg.Import[i]})
	}
	return b, nil
}

// Start starts watching for leadership in the background; it never blocks on NATS. Call it once.
func (b *Bridge) Start() {
	b.startOnce.Do(func() { go b.run() })
}

// Close stops the bridge: subscriptions end, what NATS confirmed is written to the cursors, and the
// connections close. ctx bounds the wait. Safe to call more than once, and without Start.
func (b *Bridge) Close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		b.startOnce.Do(func() { close(b.done) }) // never started: nothing to wait for
		select {
		case <-b.done:
		case <-ctx.Done():
			err = errors.New("sampan: nats bridge did not stop in time")
		}
	})
	return err
}

// run starts a session while this node leads and stops it when it no longer does.
func (b *Bridge) run() {
	defer close(b.done)
	t := time.NewTicker(b.leaderPoll)
	defer t.Stop()
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cur *running
	stopSession := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	for {
		lead := b.host.Leader()
		switch {
		case lead && cur == nil:
			b.log.Info().Msg("this node runs the NATS bridge")
			ctx, cancel := context.WithCancel(context.Background())
			cur = &running{cancel: cancel, done: make(chan struct{})}
			go func(done chan struct{}) {
				defer close(done)
				b.session(ctx)
			}(cur.done)
		case !lead && cur != nil:
			b.log.Info().Msg("no longer leading the metadata group: the NATS bridge stops here")
			stopSession()
		}
		select {
		case <-b.stop:
			stopSession()
			return
		case <-t.C:
		}
	}
}

// session runs the bridge until ctx ends: connect to this node and to NATS, then run every rule.
func (b *Bridge) session(ctx context.Context) {
	b.active.Store(true)
	defer b.active.Store(false)
	var sc *client.Client
	bo := newBackoff()
	for {
		var err error
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		opts := append([]client.Option{client.WithName("nats-bridge"), client.WithReconnect(true, 100*365*24*time.Hour),
			client.WithMaxInflight(1024), client.WithLogger(b.log)}, b.host.ClientOptions()...)
		sc, err = client.Connect(cctx, b.host.ClientAddr(), opts...)
		cancel()
		if err == nil {
			break
		}
		b.log.Warn().Err(err).Msg("nats bridge: connecting to this node's client listener")
		if !bo.wait(ctx) {
			return
		}
	}
	defer sc.Close()
	opts, err := b.natsOptions()
	if err != nil { // a credentials file that went bad after Validate
		b.failAll(err)
		b.log.Error().Err(err).Msg("nats bridge: bad connection options")
		<-ctx.Done()
		return
	}
	// RetryOnFailedConnect: Connect returns at once even when NATS is down, and keeps trying.
	nc, err := nats.Connect(b.cfg.URL, opts...)
	if err != nil {
		b.failAll(err)
		b.log.Error().Err(err).Msg("nats bridge: connect")
		<-ctx.Done()
		return
	}
	defer nc.Close()
	b.nc.Store(nc)
	defer b.nc.Store(nil)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		b.failAll(err)
		<-ctx.Done()
		return
	}
	s := &session{b: b, nc: nc, js: js, sc: sc}
	var wg sync.WaitGroup
	for _, r := range b.exports {
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx, s) }()
	}
	for _, r := range b.imports {
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx, s) }()
	}
	wg.Wait()
}

// session is what one leadership term's rules share.
type session struct {
	b  *Bridge
	nc *nats.Conn
	js jetstream.JetStream
	sc *client.Client
}

func (b *Bridge) noteAll(err error) {
	for _, r := range b.exports {
		r.stats.note(err)
	}
	for _, r := range b.imports {
		r.stats.note(err)
	}
}

func (b *Bridge) failAll(err error) {
	for _, r := range b.exports {
		r.stats.fail(err)
	}
	for _, r := range b.imports {
		r.stats.fail(err)
	}
}

// waitConnected waits until nc is connected, or ctx ends (false).
func waitConnected(ctx context.Context, nc *nats.Conn) bool {
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return ctx.Err() == nil
}

// backoff is a doubling pause from 50 ms up to 2 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

func (b *backoff) reset() { b.d = 50 * time.Millisecond }

// wait pauses for the current delay (and doubles it); false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(b.d*2, 2*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
