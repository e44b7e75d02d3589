// Package gateway is the client-facing edge of a node: the TCP listener speaking the protocol package's
// frames, one session actor per client connection, and the node's gateway actor that receives each
// committed message of a channel once and fans it out to the local sessions subscribed to it.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/sampan-io/sampan/auth"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/internal/metrics"
	"github.com/sampan-io/sampan/internal/wsframe"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Config holds the listener's settings and the limits advertised to clients in CONNACK.
type Config struct {
	Addr             string // host:port to listen on
	ServerID         string
	MaxFrame         uint32 // largest frame accepted, bytes
	MaxPayload       uint32 // largest PUB payload, bytes
	MaxHeaderBytes   int    // headers + idempotency key of one PUB, bytes
	MaxInflight      uint32 // unacknowledged PUBs per connection; the server stops reading beyond it
	MaxInflightBytes int    // bytes of unacknowledged PUBs (payload + headers) per connection, likewise
	MaxWindow        uint32 // largest per-subscription window
	DefaultWindow    uint32 // window of a SUB that asks for none
	MaxPendingWrite  int    // bytes queued for a socket before the reader pauses
	WriteTimeout     time.Duration
	// HandshakeTimeout bounds the time from accepting a connection to its CONNECT (TLS handshake
	// included): a connection that has not said CONNECT by then is closed.
	HandshakeTimeout time.Duration
	// Keepalive is how long a connection may stay silent before the server sends PING; silent for
	// twice as long, it is closed. 0: never.
	Keepalive time.Duration
	// MaxConnections bounds the node's connections (in handshake or connected), MaxUserConnections
	// one user's, MaxSubscriptions one connection's subscriptions. 0: no bound.
	MaxConnections     int
	MaxUserConnections int
	MaxSubscriptions   int
	// WSAddr, when set, is the host:port of a WebSocket listener carrying the same protocol: one frame
	// per binary message, the same sessions, limits and errors as the TCP listener's (TLS too).
	// WSOrigins bounds the web pages that may connect: browser Origin headers matched against these
	// patterns (path.Match, e.g. "https://*.example.com"); empty: any page. A client that sends no
	// Origin (not a browser) is always let in; logins are checked in CONNECT as on TCP.
	WSAddr    string
	WSOrigins []string
	// TLS, when set, makes the listener speak TLS only: a plain connection fails its handshake and is
	// closed.
	TLS *tls.Config
	// Auth, when set, requires every CONNECT to log in, and checks each PUB and SUB against the user's
	// permissions. AuthFailDelay is how long after its CONNECT a failed login is answered (the same for
	// every failure, so its timing tells nothing about what was wrong).
	Auth          *auth.Authenticator
	AuthFailDelay time.Duration
	// Exists reports whether a channel exists (from this node's copy of the registry), for users
	// who may not create channels or only so many a minute. It may block briefly; the reader calls it.
	Exists func(channel string) (bool, error)
	// CreateOwned registers a new channel for a user with max_channels, counted against limit in the
	// replicated registry; it returns store.ErrOwnerLimit when the user reached it.
	CreateOwned func(channel, owner string, limit int) error
	// Tap, when set, is called with every message the gateway actor receives (decoded, before it is
	// handled), on the actor's goroutine: it must not block. The testkit's probes use it to assert on
	// what channel actors send to gateways; production leaves it nil.
	Tap func(msg any)
}

// DefaultConfig returns the defaults documented in docs/configuration.md.
func DefaultConfig(addr string) Config {
	return Config{
		Addr: addr, MaxFrame: protocol.DefaultMaxFrame, MaxPayload: protocol.DefaultMaxPayload,
		MaxHeaderBytes: 64 << 10, MaxInflight: 4096, MaxInflightBytes: 64 << 20, MaxWindow: 8192, DefaultWindow: 1024,
		MaxPendingWrite: 8 << 20, WriteTimeout: 30 * time.Second, HandshakeTimeout: 10 * time.Second, Keepalive: 30 * time.Second,
	}
}

// Validate checks the limits are usable together.
func (c *Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("sampan: listen address is empty")
	case c.MaxFrame < 1024:
		return fmt.Errorf("sampan: max frame %d is below 1024 bytes", c.MaxFrame)
	case c.MaxPayload == 0 || c.MaxPayload+uint32(c.MaxHeaderBytes)+1024 > c.MaxFrame:
		return fmt.Errorf("sampan: max payload %d plus max headers %d must fit in max frame %d with 1 KiB to spare", c.MaxPayload, c.MaxHeaderBytes, c.MaxFrame)
	case c.MaxInflightBytes < int(c.MaxPayload):
		return errors.New("sampan: max inflight bytes must be at least max payload")
	case c.MaxInflight == 0 || c.MaxWindow == 0 || c.DefaultWindow == 0 || c.DefaultWindow > c.MaxWindow:
		return errors.New("sampan: max inflight, max window and default window must be > 0, default window <= max window")
	case c.MaxPendingWrite < int(c.MaxFrame):
		return errors.New("sampan: max pending write must be at least max frame")
	case c.HandshakeTimeout <= 0:
		return errors.New("sampan: handshake timeout must be > 0")
	}
	for _, o := range c.WSOrigins {
		if _, err := path.Match(o, ""); err != nil {
			return fmt.Errorf("sampan: ws_origins: %q is not a pattern like https://*.example.com: %v", o, err)
		}
	}
	return nil
}

// Server accepts client connections.
type Server struct {
	cfg      Config
	ln       net.Listener
	system   *actor.ActorSystem
	cluster  *pcluster.Cluster
	gateway  *actor.PID
	subs     *subscriberCounts // the gateway actor's, by channel
	metrics  *metrics.Metrics
	log      zerolog.Logger
	draining atomic.Bool

	onNodeLost atomic.Pointer[func(addr string)]
	// routes maps other nodes' actor addresses to what a ROUTE frame tells clients about them; replaced
	// whole by SetRoutes (the broker's member sync), read by session actors.
	routes atomic.Pointer[map[string]NodeRoute]

	// ws serves the WebSocket listener (nil without one); wsUp counts its handlers between their check
	// of draining (under mu) and their session's start, so that Drain waits for them.
	ws        *http.Server
	wsLn      net.Listener
	wsUp      sync.WaitGroup
	wsPending atomic.Int64 // the WebSocket listener's connections not upgraded yet (wsConnState)

	mu       sync.Mutex
	sessions map[*session]struct{}
	perUser  map[string]int           // logged-in connections by user name (mu)
	creates  map[string]*rate.Limiter // channel creations by user name, for creates_per_minute (mu)
	accept   sync.WaitGroup           // the accept loop
	wg       sync.WaitGroup           // session readers
}

// Start listens on cfg.Addr and spawns the node's gateway actor.
func Start(cfg Config, cl *pcluster.Cluster, m *metrics.Metrics, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sampan: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, system: cl.ActorSystem, cluster: cl, metrics: m, subs: &subscriberCounts{n: map[string]int{}},
		log: log.With().Str("component", "gateway").Logger(), sessions: map[*session]struct{}{}, perUser: map[string]int{},
		creates: map[string]*rate.Limiter{}}
	mw := []actor.ReceiverMiddleware{sc.UnwrapMiddleware}
	if cfg.Tap != nil {
		mw = append(mw, tapMiddleware(cfg.Tap))
	}
	gw, err := cl.ActorSystem.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return newGatewayActor(cl, s.subs, s.log)
	}, actor.WithReceiverMiddleware(mw...)), GatewayName)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("sampan: spawn gateway: %w", err)
	}
	s.gateway = gw
	if cfg.WSAddr != "" {
		if err := s.listenWS(); err != nil {
			ln.Close()
			cl.ActorSystem.Root.Stop(gw)
			return nil, err
		}
	}
	s.accept.Add(1)
	go s.acceptLoop()
	return s, nil
}

// listenWS starts the WebSocket listener. The HTTP upgrade must come within the handshake timeout
// (TLS handshake included); the session then waits for CONNECT as on TCP.
func (s *Server) listenWS() error {
	ln, err := net.Listen("tcp", s.cfg.WSAddr)
	if err != nil {
		return fmt.Errorf("sampan: listen on %s (ws): %w", s.cfg.WSAddr, err)
	}
	s.wsLn = ln
	ln = wsframe.Listener(ln)
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	up := &websocket.Upgrader{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10, HandshakeTimeout: s.cfg.HandshakeTimeout,
		CheckOrigin: s.originAllowed}
	s.ws = &http.Server{ReadHeaderTimeout: s.cfg.HandshakeTimeout, MaxHeaderBytes: 16 << 10,
		ErrorLog:  log.New(io.Discard, "", 0), // a failed upgrade is answered to its client; nothing to log
		ConnState: s.wsConnState,
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveWS(up, w, r) })}
	s.accept.Add(1)
	go func() {
		defer s.accept.Done()
		_ = s.ws.Serve(ln) // returns when Drain closes it
	}()
	return nil
}

// WSAddr is the WebSocket listener's address (nil without one).
func (s *Server) WSAddr() net.Addr {
	if s.wsLn == nil {
		return nil
	}
	return s.wsLn.Addr()
}

// originAllowed is the upgrade's check of a browser page's Origin against WSOrigins.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.WSOrigins) == 0 {
		return true
	}
	for _, p := range s.cfg.WSOrigins {
		if ok, _ := path.Match(p, origin); ok {
			return true
		}
	}
	s.metrics.Refused.Inc()
	s.log.Debug().Str("origin", origin).Msg("WebSocket origin refused")
	return false
}

// serveWS upgrades one request (net/http's goroutine for it) and runs a session on the connection.
func (s *Server) serveWS(up *websocket.Upgrader, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		http.Error(w, "sampan: server is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wsUp.Add(1)
	s.mu.Unlock()
	defer s.wsUp.Done()
	if s.fullWS() {
		s.metrics.Refused.Inc()
		http.Error(w, fmt.Sprintf("sampan: the server holds its maximum of %d connections", s.cfg.MaxConnections), http.StatusServiceUnavailable)
		return
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade answered the request with the reason
	}
	s.startSession(wsframe.New(ws, s.cfg.MaxFrame))
}

// tapMiddleware shows every received message to tap; it runs after UnwrapMiddleware (decoded values).
func tapMiddleware(tap func(any)) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			tap(env.Message)
			next(c, env)
		}
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetOnNodeLost sets what is told that a session saw an activation on the node at that actor address
// terminate because the address died (a faster hint than probing).
func (s *Server) SetOnNodeLost(f func(addr string)) { s.onNodeLost.Store(&f) }

func (s *Server) nodeLost(addr string) {
	if f := s.onNodeLost.Load(); f != nil {
		(*f)(addr)
	}
}

// NodeRoute is how clients reach a node: its id and its client listener address.
type NodeRoute struct {
	ID     uint64
	Client string
}

// SetRoutes sets, by actor address, the nodes that ROUTE frames may point clients to. A node missing
// from it (its client address is unknown or not reachable by clients) is never named in a ROUTE.
func (s *Server) SetRoutes(routes map[string]NodeRoute) { s.routes.Store(&routes) }

// routeTo returns how clients reach the node at actor address addr.
func (s *Server) routeTo(addr string) (NodeRoute, bool) {
	m := s.routes.Load()
	if m == nil {
		return NodeRoute{}, false
	}
	r, ok := (*m)[addr]
	return r, ok
}

// NodeDown tells every session and the gateway actor that the node at actor address addr is gone, so
// they treat its activations as terminated now instead of when protoactor's remote gives up on the
// address (seconds later).
func (s *Server) NodeDown(addr string) {
	s.mu.Lock()
	pids := make([]*actor.PID, 0, len(s.sessions))
	for ss := range s.sessions {
		if ss.pid != nil {
			pids = append(pids, ss.pid)
		}
	}
	s.mu.Unlock()
	msg := &NodeDown{Address: addr}
	for _, pid := range pids {
		s.system.Root.Send(pid, msg)
	}
	s.system.Root.Send(s.gateway, msg)
}

// NodeDown is sent to sessions and the gateway actor when a node is detected dead.
type NodeDown struct{ Address string }

// Subscribers is how many of this node's client connections subscribe to channel (durable consumer
// members included).
func (s *Server) Subscribers(channel string) int { return s.subs.get(channel) }

// GatewayPID is the node's gateway actor.
func (s *Server) GatewayPID() *actor.PID { return s.gateway }

func (s *Server) acceptLoop() {
	defer s.accept.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.draining.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn().Err(err).Msg("accept")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if s.full() {
			s.refuse(conn)
			continue
		}
		if s.cfg.TLS != nil {
			conn = tls.Server(conn, s.cfg.TLS) // the handshake runs on the session's reader (readLoop)
		}
		s.startSession(conn)
	}
}

// full reports whether the node holds its maximum of connections: sessions and WebSocket
// connections not upgraded yet.
func (s *Server) full() bool { return s.holding(0) }

// fullWS is full for a WebSocket connection being upgraded, not counting itself.
func (s *Server) fullWS() bool { return s.holding(1) }

// holding reports whether the node's connections, less self of them, are at its maximum.
func (s *Server) holding(self int) bool {
	if s.cfg.MaxConnections <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)+int(s.wsPending.Load())-self >= s.cfg.MaxConnections
}

// wsConnState counts the WebSocket listener's connections until their upgrade (net/http's serving
// goroutine of each), and closes a new one at once over the node's bound: a flood of connections
// that never upgrade holds no more than the bound, each for the handshake timeout at most.
func (s *Server) wsConnState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		if s.full() {
			// Answered like the TCP listener's refusal: why, when there is no TLS handshake to pay for.
			s.metrics.Refused.Inc()
			if s.cfg.TLS == nil {
				msg := fmt.Sprintf("sampan: the server holds its maximum of %d connections\n", s.cfg.MaxConnections)
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
			}
			_ = c.Close() // net/http then reports it closed
		}
		s.wsPending.Add(1)
	case http.StateHijacked, http.StateClosed:
		s.wsPending.Add(-1)
	}
}

// refuse closes a connection over the node's bound; a plain one is told why first (a TLS one would
// need a handshake the node does not spend on it).
func (s *Server) refuse(conn net.Conn) {
	s.metrics.Refused.Inc()
	if s.cfg.TLS == nil {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		e := protocol.NewError(protocol.CodeLimitExceeded, "the server holds its maximum of %d connections", s.cfg.MaxConnections)
		e.Fatal = true
		_ = protocol.WriteFrame(conn, e.Frame(0, 0))
	}
	_ = conn.Close()
}

// admitUser counts a logged-in connection of user, refusing it over the user's bound.
func (s *Server) admitUser(ss *session, user string) *protocol.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.cfg.MaxUserConnections; max > 0 && s.perUser[user] >= max {
		return protocol.NewError(protocol.CodeLimitExceeded, "user %q holds its maximum of %d connections", user, max)
	}
	s.perUser[user]++
	ss.user = user
	return nil
}

// mayCreate decides whether user may send its first request for channel on a connection: always
// when the channel exists; else only with the create permission, within the user's creations a
// minute on this node and, for a user with max_channels, after registering the channel against its
// total (the connection's reader waits for that one proposal). It asks Exists once per channel per
// connection (known).
func (s *Server) mayCreate(user *auth.Identity, channel string, known permCache) *protocol.Error {
	if (user.CanCreate && user.CreatesPerMinute == 0 && user.MaxChannels == 0) || s.cfg.Exists == nil || known[channel] {
		return nil
	}
	exists, err := s.cfg.Exists(channel)
	if err != nil {
		return protocol.NewError(protocol.CodeUnavailable, "channel registry: %v", err)
	}
	if !exists {
		if !user.CanCreate {
			s.metrics.Denied.Inc()
			return protocol.NewError(protocol.CodePermissionDenied, "user %q may not create channel %s", user.Name, channel)
		}
		if n := user.CreatesPerMinute; n > 0 {
			s.mu.Lock()
			lim := s.creates[user.Name]
			if lim == nil {
				lim = rate.NewLimiter(rate.Limit(float64(n)/60), n)
				s.creates[user.Name] = lim
			}
			ok := lim.Allow()
			s.mu.Unlock()
			if !ok {
				s.metrics.Refused.Inc()
				return protocol.NewError(protocol.CodeLimitExceeded, "user %q may create at most %d channels a minute", user.Name, n)
			}
		}
		if user.MaxChannels > 0 && s.cfg.CreateOwned != nil {
			switch err := s.cfg.CreateOwned(channel, user.Name, user.MaxChannels); {
			case errors.Is(err, store.ErrOwnerLimit):
				s.metrics.Refused.Inc()
				return protocol.NewError(protocol.CodeLimitExceeded, "user %q may create at most %d channels", user.Name, user.MaxChannels)
			case err != nil:
				return protocol.NewError(protocol.CodeUnavailable, "creating channel %s: %v", channel, err)
			}
		}
	}
	if len(known) >= permCacheMax {
		clear(known)
	}
	known[channel] = true
	return nil
}

func (s *Server) startSession(conn net.Conn) {
	id := sessionIDs.Add(1)
	ss := &session{srv: s, id: id, conn: conn, budget: newBudget(int(s.cfg.MaxInflight), s.cfg.MaxInflightBytes),
		w:   newWriter(conn, s.cfg.WriteTimeout),
		log: s.log.With().Uint64("session", id).Str("remote", conn.RemoteAddr().String()).Logger()}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	pid := s.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return ss },
		actor.WithReceiverMiddleware(sc.UnwrapMiddleware)))
	s.mu.Lock()
	ss.pid = pid
	s.mu.Unlock()
	s.metrics.Sessions.Inc()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ss.readLoop(pid, s.system.Root)
	}()
}

func (s *Server) sessionDone(ss *session) {
	s.mu.Lock()
	_, ok := s.sessions[ss]
	delete(s.sessions, ss)
	if ss.user != "" {
		if s.perUser[ss.user]--; s.perUser[ss.user] <= 0 {
			delete(s.perUser, ss.user)
		}
		ss.user = ""
	}
	s.mu.Unlock()
	if ok {
		s.metrics.Sessions.Dec()
	}
}

// Drain stops accepting connections and new publishes, waits (until ctx is done) for every in-flight
// publish to be answered and written, then closes all connections. Publishes arriving meanwhile get
// ERR shutting_down. When ctx ends first, connections are closed anyway and the error says how many
// publishes were still unanswered (their outcome is unknown to their clients).
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
	s.ln.Close()
	if s.ws != nil {
		_ = s.ws.Close() // its listener; upgraded connections are sessions, drained below
	}
	s.accept.Wait() // no session is being set up any more
	s.wsUp.Wait()
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	var err error
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for _, ss := range list {
		for ss.budget.inflight() > 0 && err == nil {
			select {
			case <-ctx.Done():
				err = fmt.Errorf("sampan: drain: publishes still in flight: %w", ctx.Err())
			case <-tick.C:
			}
		}
		ss.w.closeAfterFlush()
	}
	for _, ss := range list {
		select {
		case <-ss.w.done:
		case <-ctx.Done():
			ss.w.close()
		}
	}
	readers := make(chan struct{})
	go func() { s.wg.Wait(); close(readers) }()
	select {
	case <-readers:
	case <-ctx.Done():
		for _, ss := range list {
			ss.budget.close() // a reader waiting for publish room gives up
			ss.w.close()
		}
		<-readers
	}
	return err
}
