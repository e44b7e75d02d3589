// Package broker assembles one Sampan node from its parts: the store (one pebble DB), the Dragonboat
// NodeHost, the actor system with the channel kind, the gateway (client listener, sessions, fan-out) and
// the HTTP listener (health, metrics). cmd/sampan runs it; tests and the testkit start it in-process.
package broker

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/lni/dragonboat/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/gateway"
	"github.com/sampan-io/sampan/internal/metrics"
	"github.com/sampan-io/sampan/store"
)

// Broker is a running node.
type Broker struct {
	cfg     Config
	log     zerolog.Logger
	db      *store.DB
	nh      *dragonboat.NodeHost
	actors  *cluster.ActorNode
	env     *actors.Env
	metaPtr atomic.Pointer[cluster.Meta] // set once the listeners are up (its node info names them)

	stopMembers chan struct{}
	drains      drains
	// replaceWaiting: nodes down past cluster.replace_after that cannot be replaced yet, and why, as
	// the last replace round saw them (the controller goroutine's).
	replaceWaiting map[uint64]string
	live           *cluster.Liveness
	gw             *gateway.Server
	httpLn         net.Listener
	tlsCfg         *tls.Config         // the listeners' TLS (nil: plain); set in Start, read-only after
	nodeTLS        *cluster.NodeTLS    // TLS between nodes (nil: plain); likewise
	auth           *auth.Authenticator // users (nil: no login); set in Start, read-only after
	bridgeToken    string              // the NATS bridge's login with auth (Authenticator.Internal); likewise
	httpSrv        *http.Server
	Registry       *prometheus.Registry
	Metrics        *metrics.Metrics
	bridge         *bridge.Bridge // nil without NATS bridge rules

	closeOnce sync.Once
	closeErr  error
}

// Start opens the data dir and starts every part. On error everything already started is stopped.
func Start(cfg Config, log zerolog.Logger) (b *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b = &Broker{cfg: cfg, log: log, Registry: prometheus.NewRegistry()}
	b.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.Metrics = metrics.New(b.Registry)
	defer func() {
		if err != nil {
			b.stop(context.Background())
			b = nil
		}
	}()
	if b.db, err = store.OpenDB(filepath.Join(cfg.Data, "store"),
		store.DBOptions{FS: cfg.Hooks.StoreFS, Logger: pebbleLogger{log.With().Str("component", "store").Logger()},
			MemTableSize: uint64(cfg.Tuning.StoreMemTableMB) << 20}); err != nil {
		return b, err
	}
	hc := cluster.DefaultHostConfig(filepath.Join(cfg.Data, "raft"), cfg.Raft)
	hc.RTTMillisecond, hc.LogDBShards, hc.ExecShards = cfg.Tuning.RTTMillisecond, cfg.Tuning.LogDBShards, cfg.Tuning.ExecShards
	hc.LogDBMemory = cfg.Tuning.LogDBMemory
	leaders := actors.NewLeaderEvents()
	hc.Events = leaders
	hc.Logger = log
	hc.Transport, hc.FS = cfg.Hooks.RaftTransport, cfg.Hooks.RaftFS
	nodeTLS, err := cfg.Cluster.nodeTLS()
	if err != nil {
		return b, err
	}
	hc.TLS, b.nodeTLS = nodeTLS, nodeTLS
	elector := cluster.NewElector()
	hc.Elector = elector
	hostStarted := time.Now()
	if b.nh, err = cluster.StartNodeHost(hc); err != nil {
		return b, err
	}
	peers, err := cfg.PeerList()
	if err != nil {
		return b, err
	}
	settings, err := cfg.Channels.settings()
	if err != nil {
		return b, err
	}
	consumerSeries, err := cfg.Metrics.consumerSeries(b.Metrics, b.log)
	if err != nil {
		return b, err
	}
	var gwPID *actor.PID
	env := &actors.Env{
		NodeHost: b.nh, DB: b.db, NodeID: cfg.NodeID, Registry: registry{b},
		ShardConfig:     cluster.ShardConfigFor(cfg.Tuning.RTTMillisecond),
		Settings:        settings,
		IdleTimeout:     time.Duration(cfg.Channels.IdleTimeout),
		MaxActive:       cfg.Channels.MaxActive,
		ProposalTimeout: time.Duration(cfg.Tuning.ProposalTimeout),
		Gateways:        func() []*actor.PID { return b.gateways(gwPID) },
		Up:              b.up,
		UpSince:         b.upSince,
		Preferred:       b.preferred,
		Leaders:         leaders,
		Campaign:        elector.Campaign,
		Probe:           b.probe,
		HostStarted:     hostStarted,
		Tick:            time.Duration(cfg.Tuning.RTTMillisecond) * time.Millisecond,
		Mover:           registry{b},
		Metrics:         b.Metrics,
		ConsumerSeries:  consumerSeries,
		Log:             log.With().Str("component", "channel").Logger(),
	}
	b.env = env
	// Created before anything can call placeActor or up (sessions, channel actors); started later.
	b.live = cluster.NewLiveness(b.peerActorAddrs, func(id uint64, addr string) {
		log.Warn().Uint64("node", id).Str("actor", addr).Msg("node down")
		b.gw.NodeDown(addr)
	})
	b.live.Dial = b.probeDial
	lookup := &cluster.PlacementLookup{Target: b.placeActor}
	if b.actors, err = cluster.StartActorNode(cluster.ActorConfig{Name: "sampan", Addr: cfg.Actor,
		ID: fmt.Sprintf("node-%d", cfg.NodeID), Lookup: lookup,
		Kinds: []*pcluster.Kind{actors.NewKind(env)}, Logger: log, Dial: cfg.Hooks.DialActor, TLS: nodeTLS}); err != nil {
		return b, err
	}
	leaders.SetSystem(b.actors.System)
	if _, err = b.actors.System.Root.SpawnNamed(actors.NewShardManager(env), actors.ShardsName); err != nil {
		return b, fmt.Errorf("sampan: spawn shard manager: %w", err)
	}
	gc := cfg.gatewayConfig()
	gc.ServerID = fmt.Sprintf("node-%d", cfg.NodeID)
	tlsCfg, err := cfg.TLS.server()
	if err != nil {
		return b, err
	}
	gc.TLS, b.tlsCfg = tlsCfg, tlsCfg
	if cfg.Auth.Enabled() {
		if b.auth, err = cfg.Auth.Compile(); err != nil {
			return b, err
		}
		b.bridgeToken = b.auth.Internal("nats-bridge")
		gc.Auth, gc.AuthFailDelay, gc.Exists, gc.CreateOwned = b.auth, authFailDelay, b.channelExists, b.createOwned
	}
	if b.gw, err = gateway.Start(gc, b.actors.Cluster, b.Metrics, log); err != nil {
		return b, err
	}
	gwPID = b.gw.GatewayPID()
	if b.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return b, fmt.Errorf("sampan: http listen on %s: %w", cfg.HTTP, err)
	}
	b.httpSrv = &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second}
	if tlsCfg != nil {
		b.httpLn = tls.NewListener(b.httpLn, tlsCfg)
	}
	srv, ln := b.httpSrv, b.httpLn // not b: a failed Start sets its named result to nil
	go func() { _ = srv.Serve(ln) }()
	self := store.NodeInfo{ID: cfg.NodeID, Raft: cfg.Raft, Client: b.clientAdvertise(), Actor: b.actors.System.Address(), HTTP: b.HTTPAddr()}
	meta, err := cluster.StartMeta(b.nh, cluster.MetaConfig{Self: self, Peers: peers, Replicas: cfg.Replicas,
		Join: cfg.Join, DB: b.db, Dir: cfg.Data, Up: b.up, Log: log,
		Legacy: cfg.Hooks.LegacyMetadata, Hook: cfg.Hooks.MigrationStep, ExportBytes: cfg.Hooks.MigrationChunkBytes})
	if err != nil {
		return b, err
	}
	b.metaPtr.Store(meta)
	b.stopMembers = make(chan struct{})
	go b.syncMembers()
	go b.controller()
	b.live.Start() // after b.gw and the metadata are set: its goroutine reads them
	b.gw.SetOnNodeLost(b.live.Suspect)
	if len(peers) == 1 && !cfg.Join {
		// A single node always reaches its own quorum: serve only once it has.
		if err = waitReadyAlone(meta, 30*time.Second); err != nil {
			return b, fmt.Errorf("sampan: metadata group did not become ready: %w", err)
		}
	}
	if err = b.startBridge(); err != nil {
		return b, err
	}
	ev := log.Info().Str("listen", b.Addr()).Str("http", b.HTTPAddr())
	if ws := b.WSAddr(); ws != "" {
		ev = ev.Str("ws", ws)
	}
	ev.Str("data", cfg.Data).Msg("sampan serving")
	return b, nil
}

// waitReadyAlone waits for a single node's metadata to be ready: within d, or for as long as a
// migration to the on-disk registry keeps importing (a large registry takes longer than d).
func waitReadyAlone(meta *cluster.Meta, d time.Duration) error {
	for {
		before, _ := meta.Migration()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		err := meta.WaitReady(ctx)
		cancel()
		after, migrating := meta.Migration()
		if err == nil || !migrating || after.Halted || after.Imported == before.Imported {
			return err
		}
	}
}

func (b *Broker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !b.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"not ready","reason":"cluster metadata not caught up"}` + "\n"))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	mux.HandleFunc("GET /metrics", b.readable(promhttp.HandlerFor(b.Registry, promhttp.HandlerOpts{Registry: b.Registry}).ServeHTTP))
	b.adminRoutes(mux)
	mux.HandleFunc("GET /bridges", b.readable(b.httpBridges))
	b.consoleRoutes(mux)
	if b.cfg.PProf {
		// Off by default: profiles expose internals and cost CPU while taken; the HTTP listener is
		// meant for operators (127.0.0.1 by default).
		mux.HandleFunc("GET /debug/pprof/", b.readable(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", b.readable(pprof.Cmdline))
		mux.HandleFunc("GET /debug/pprof/profile", b.readable(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", b.readable(pprof.Symbol))
		mux.HandleFunc("GET /debug/pprof/trace", b.readable(pprof.Trace))
	}
	return mux
}

// Ready reports whether the node has joined the cluster metadata and caught up with it (/readyz).
func (b *Broker) Ready() bool {
	m := b.metaPtr.Load()
	return m != nil && m.Ready()
}

// WaitReady waits until Ready or ctx ends. The metadata handle is set before Start returns.
func (b *Broker) WaitReady(ctx context.Context) error { return b.metaPtr.Load().WaitReady(ctx) }

// registry is the channel actors' view of the metadata group; it answers ErrNotReady until the group
// is started.
type registry struct{ b *Broker }

func (r registry) Channel(ctx context.Context, name string, create bool) (*store.ChannelInfo, error) {
	m := r.b.metaPtr.Load()
	if m == nil {
		return nil, cluster.ErrNotReady
	}
	return m.Channel(ctx, name, create)
}

func (r registry) AddReplica(ctx context.Context, channel string, from uint64) (*store.ChannelInfo, error) {
	m := r.b.metaPtr.Load()
	if m == nil {
		return nil, cluster.ErrNotReady
	}
	// Not onto a node that looks down: the new replica has to catch up now. Liveness is passed in the
	// command, so the metadata state machine stays deterministic.
	var avoid []uint64
	if nodes, err := m.Nodes(); err == nil {
		for _, n := range nodes {
			if !r.b.up(n.ID) {
				avoid = append(avoid, n.ID)
			}
		}
	}
	return m.AddReplica(ctx, channel, from, avoid)
}

func (r registry) FinishMove(ctx context.Context, channel string, removed, joined uint64) (*store.ChannelInfo, error) {
	m := r.b.metaPtr.Load()
	if m == nil {
		return nil, cluster.ErrNotReady
	}
	return m.FinishMove(ctx, channel, removed, joined)
}

func (r registry) Node(id uint64) (store.NodeInfo, bool) {
	m := r.b.metaPtr.Load()
	if m == nil {
		return store.NodeInfo{}, false
	}
	return m.Node(id)
}

// placeActor chooses the node that runs a channel's actor: among the replica nodes that are up, the one
// ranking first for this channel by rendezvous hashing. Every node computes the same answer from the same
// registry entry and liveness, so one activation serves everyone; channels spread evenly over their
// replica nodes (so do leaders: an activation pulls its shard's leadership to itself), and when a node
// dies only its channels move. Choosing "the current leader" instead would let nodes that see different
// leaders start a second activation, whose commits the first one's subscribers would not hear about.
func (b *Broker) placeActor(identity, _ string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := registry{b}.Channel(ctx, identity, true)
	if err != nil {
		return "", err
	}
	// The first replica node by rendezvous rank that is up and, if remote, accepts a connection now (a
	// node that died a moment ago may not be flagged by the probes yet, and asking its activator would
	// cost the whole activation timeout).
	fallback := ""
	for _, r := range byRank(identity, b.actorCandidates(info.Replicas)) {
		if !b.up(r.NodeID) {
			continue
		}
		if r.NodeID == b.cfg.NodeID {
			return b.actors.System.Address(), nil
		}
		n, ok := registry{b}.Node(r.NodeID)
		if !ok {
			continue
		}
		switch b.reach(n.Actor, 100*time.Millisecond) {
		case reached:
			return n.Actor, nil
		case slow:
			if fallback == "" {
				fallback = n.Actor // slow, not refused: the choice when no candidate answers in time
			}
		}
	}
	if fallback != "" {
		return fallback, nil
	}
	return "", fmt.Errorf("sampan: no replica node of %s is up", identity)
}

// probe dials node id's actor address now. A node that refuses the connection (its process is gone)
// is marked down (Liveness.Suspect) until its next successful periodic probe, and probe reports false.
// A dial that only times out proves nothing on a loaded machine: the node counts as up (the periodic
// probes and Raft's election timeout handle a node that hangs or is cut off).
func (b *Broker) probe(id uint64) bool {
	if id == b.cfg.NodeID {
		return true
	}
	n, ok := registry{b}.Node(id)
	if !ok {
		return true // unknown: nothing to say
	}
	return b.reach(n.Actor, 300*time.Millisecond) != refused
}

type reachability int

const (
	reached reachability = iota
	refused              // the connection was refused or failed at once: the node is suspected down
	slow                 // no answer within the timeout: a loaded machine as often as a dead one
)

// reach dials a node's actor address. Only a refused connection marks the node suspect: a dial that
// timed out says nothing (on a loaded machine live nodes miss 100 ms dials, and suspecting them made
// creates fail "node lost").
func (b *Broker) reach(addr string, timeout time.Duration) reachability {
	c, err := b.dialActor(addr, timeout)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return slow
		}
		b.live.Suspect(addr)
		return refused
	}
	c.Close()
	return reached
}

func (b *Broker) dialActor(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return b.probeDial(ctx, addr)
}

// probeDial opens a connection to a node's actor address to see whether it is up: with TLS between
// nodes, up means it completes a handshake with a certificate of the cluster CA (a port that only
// accepts TCP, such as a node with the wrong certificate, is no use to anyone).
func (b *Broker) probeDial(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	if b.cfg.Hooks.DialActor != nil {
		conn, err = b.cfg.Hooks.DialActor(ctx, addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil || b.nodeTLS == nil {
		return conn, err
	}
	return client.TLSHandshake(ctx, conn, b.nodeTLS.Client, addr)
}

// preferred is the rendezvous-first replica node that has been up for a while: an actor hands its channel
// to that node (see actors.Env.Preferred). The stability requirement keeps a flapping probe on a loaded
// machine from moving channels back and forth.
func (b *Broker) preferred(channel string, replicas []store.Replica) uint64 {
	for _, r := range byRank(channel, b.actorCandidates(replicas)) {
		if r.NodeID == b.cfg.NodeID || b.live.UpFor(r.NodeID, 5*time.Second) {
			return r.NodeID
		}
	}
	return 0
}

// actorCandidates returns the replicas whose node may run the channel's actor: not one still joining
// (it may lag behind), and not one on a node being removed, unless no other is left.
func (b *Broker) actorCandidates(replicas []store.Replica) []store.Replica {
	draining := map[uint64]bool{}
	if m := b.metaPtr.Load(); m != nil {
		if nodes, err := m.Nodes(); err == nil {
			for _, n := range nodes {
				draining[n.ID] = n.Draining || n.Removed
			}
		}
	}
	var out, fallback []store.Replica
	for _, r := range replicas {
		switch {
		case r.Joining:
		case draining[r.NodeID]:
			fallback = append(fallback, r)
		default:
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return fallback
	}
	return out
}

// byRank returns the replicas ordered by rendezvous score for the channel, best first: the order of
// preference every node agrees on.
func byRank(channel string, replicas []store.Replica) []store.Replica {
	out := append([]store.Replica(nil), replicas...)
	sort.Slice(out, func(i, j int) bool { return rendezvous(channel, out[i].NodeID) > rendezvous(channel, out[j].NodeID) })
	return out
}

// up reports whether a node is believed alive (this node always is).
func (b *Broker) up(id uint64) bool {
	return id == b.cfg.NodeID || b.live == nil || b.live.Up(id)
}

// upSince is when node id was last seen coming up (zero while down or before probing).
func (b *Broker) upSince(id uint64) time.Time {
	if b.live == nil {
		return time.Time{}
	}
	return b.live.UpSince(id)
}

// peerActorAddrs lists the other nodes' actor addresses, for the liveness probes.
func (b *Broker) peerActorAddrs() map[uint64]string {
	out := map[uint64]string{}
	m := b.metaPtr.Load()
	if m == nil {
		return out
	}
	nodes, _ := m.Nodes()
	for _, n := range nodes {
		if n.ID != b.cfg.NodeID && !n.Removed && n.Actor != "" {
			out[n.ID] = n.Actor
		}
	}
	return out
}

// gateways lists every live node's gateway actor (channel actors announce activations to them).
func (b *Broker) gateways(local *actor.PID) []*actor.PID {
	m := b.metaPtr.Load()
	if m == nil {
		return []*actor.PID{local}
	}
	nodes, err := m.Nodes()
	if err != nil {
		return []*actor.PID{local}
	}
	out := make([]*actor.PID, 0, len(nodes))
	for _, n := range nodes {
		switch {
		case n.Removed:
		case n.ID == b.cfg.NodeID:
			out = append(out, local)
		case !b.up(n.ID):
		default:
			out = append(out, actor.NewPID(n.Actor, gateway.GatewayName))
		}
	}
	return out
}

// syncMembers feeds the actor cluster's member list from the metadata group, its source of truth.
func (b *Broker) syncMembers() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last string
	for {
		if nodes, err := b.metaPtr.Load().Nodes(); err == nil {
			var members []*pcluster.Member
			routes := map[string]gateway.NodeRoute{}
			for _, n := range nodes {
				if host, _, err := net.SplitHostPort(n.Client); err == nil && !n.Removed && !isWildcard(host) && n.Actor != "" {
					routes[n.Actor] = gateway.NodeRoute{ID: n.ID, Client: n.Client}
				}
				host, portStr, err := net.SplitHostPort(n.Actor)
				port, perr := strconv.Atoi(portStr)
				if n.Removed || !b.up(n.ID) || err != nil || perr != nil {
					continue // gossiping with a dead member only produces timeouts
				}
				members = append(members, &pcluster.Member{Id: fmt.Sprintf("node-%d", n.ID), Host: host, Port: int32(port), Kinds: []string{actors.Kind}})
			}
			b.gw.SetRoutes(routes)
			if key := fmt.Sprint(members); key != last && len(members) > 0 {
				last = key
				b.actors.Provider.SetMembers(members)
			}
		}
		select {
		case <-b.stopMembers:
			return
		case <-t.C:
		}
	}
}

// Addr is the client listener's address.
func (b *Broker) Addr() string { return b.gw.Addr().String() }

// WSAddr is the WebSocket listener's address, "" without one.
func (b *Broker) WSAddr() string {
	if a := b.gw.WSAddr(); a != nil {
		return a.String()
	}
	return ""
}

// channelExists reports whether the channel is in this node's copy of the registry (a local read: a
// channel created on another node a moment ago may not be there yet).
func (b *Broker) channelExists(name string) (bool, error) {
	m := b.metaPtr.Load()
	if m == nil {
		return false, cluster.ErrNotReady
	}
	_, err := m.Channel(context.Background(), name, false)
	switch {
	case errors.Is(err, store.ErrChannelNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// createOwned registers a new channel for a user with a total channel limit (gateway.Config.CreateOwned).
func (b *Broker) createOwned(name, owner string, limit int) error {
	m := b.metaPtr.Load()
	if m == nil {
		return cluster.ErrNotReady
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := m.CreateOwned(ctx, name, owner, limit)
	return err
}

// RaftAddr is the node's Raft address (its identity between nodes).
func (b *Broker) RaftAddr() string { return b.cfg.Raft }

// clientAdvertise is the client address this node registers for others to route clients to: the
// configured advertise address, else the listener's.
func (b *Broker) clientAdvertise() string {
	if b.cfg.Advertise != "" {
		return b.cfg.Advertise
	}
	return b.Addr()
}

// ActorAddr is the actor remote (gRPC) address other nodes reach this node's actors on.
func (b *Broker) ActorAddr() string { return b.actors.System.Address() }

// HTTPAddr is the HTTP listener's address.
func (b *Broker) HTTPAddr() string { return b.httpLn.Addr().String() }

// Close shuts the node down cleanly: no new connections or publishes, every in-flight publish answered
// (acked or errored) and written, channel actors stopped (each stops its shard), the NodeHost and the
// store closed. ctx bounds the wait for in-flight publishes. Safe to call more than once.
func (b *Broker) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.stop(ctx) })
	return b.closeErr
}

func (b *Broker) stop(ctx context.Context) error {
	var errs []error
	if b.bridge != nil { // first: it saves its cursors through the metadata group and uses the listener
		if err := b.bridge.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if b.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = b.httpSrv.Shutdown(sctx)
		cancel()
	} else if b.httpLn != nil {
		b.httpLn.Close()
	}
	if b.gw != nil {
		if err := b.gw.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if b.stopMembers != nil {
		close(b.stopMembers)
	}
	if b.live != nil {
		b.live.Stop()
	}
	if m := b.metaPtr.Load(); m != nil {
		m.Close()
	}
	if b.actors != nil {
		b.actors.Stop() // poisons channel actors: each answers what it accepted and stops its shard
		// protoactor waits for them at most 10 s; Raft and the store must outlive every one of them.
		if err := b.env.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sampan: channel actors still stopping: %w", err))
		}
	}
	if b.nh != nil {
		b.nh.Close()
	}
	if b.db != nil {
		if err := b.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		b.log.Info().Msg("sampan stopped")
	}
	return errors.Join(errs...)
}

// rendezvous is the highest-random-weight score of node for key (FNV-1a over key and node id).
func rendezvous(key string, node uint64) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], node)
	_, _ = h.Write(b[:])
	// FNV's low bits mix poorly for short inputs: finish with a 64-bit mixer (splitmix64).
	z := h.Sum64() + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
