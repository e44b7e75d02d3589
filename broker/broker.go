// Package broker assembles one Sampan node from its parts: the store (one pebble DB), the Dragonboat
// NodeHost, the actor system with the channel kind, the gateway (client listener, sessions, fan-out) and
// the HTTP listener (health, metrics). cmd/sampan runs it; tests and the testkit start it in-process.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/lni/dragonboat/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/gateway"
	"github.com/sampan-io/sampan/internal/metrics"
	"github.com/sampan-io/sampan/store"
)

// Broker is a running node.
type Broker struct {
	cfg      Config
	log      zerolog.Logger
	db       *store.DB
	nh       *dragonboat.NodeHost
	actors   *cluster.ActorNode
	env      *actors.Env
	gw       *gateway.Server
	httpLn   net.Listener
	httpSrv  *http.Server
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics

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
		store.DBOptions{Logger: pebbleLogger{log.With().Str("component", "store").Logger()}}); err != nil {
		return b, err
	}
	hc := cluster.DefaultHostConfig(filepath.Join(cfg.Data, "raft"), cfg.Raft)
	hc.RTTMillisecond, hc.LogDBShards, hc.ExecShards = cfg.Tuning.RTTMillisecond, cfg.Tuning.LogDBShards, cfg.Tuning.ExecShards
	hc.LogDBMemory = cfg.Tuning.LogDBMemory
	hc.Logger = log
	if b.nh, err = cluster.StartNodeHost(hc); err != nil {
		return b, err
	}
	var gwPID *actor.PID
	env := &actors.Env{
		NodeHost: b.nh, Registry: b.db, DB: b.db, ReplicaID: 1, RaftAddr: cfg.Raft,
		ShardConfig: cluster.ShardConfig,
		Defaults: store.ChannelConfig{MaxMsgs: cfg.Channels.MaxMsgs, MaxBytes: cfg.Channels.MaxBytes,
			MaxAge: int64(cfg.Channels.MaxAge), DedupeWindow: int64(cfg.Channels.DedupeWindow)},
		IdleTimeout:     time.Duration(cfg.Channels.IdleTimeout),
		ProposalTimeout: time.Duration(cfg.Tuning.ProposalTimeout),
		Gateways:        func() []*actor.PID { return []*actor.PID{gwPID} },
		Metrics:         b.Metrics,
		Log:             log.With().Str("component", "channel").Logger(),
	}
	b.env = env
	if b.actors, err = cluster.StartActorNode(cluster.ActorConfig{Name: "sampan", Addr: cfg.Actor,
		Kinds: []*pcluster.Kind{actors.NewKind(env)}, Logger: log}); err != nil {
		return b, err
	}
	gc := cfg.gatewayConfig()
	gc.ServerID = cfg.Raft
	if b.gw, err = gateway.Start(gc, b.actors.Cluster, b.Metrics, log); err != nil {
		return b, err
	}
	gwPID = b.gw.GatewayPID()
	if b.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return b, fmt.Errorf("sampan: http listen on %s: %w", cfg.HTTP, err)
	}
	b.httpSrv = &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.httpSrv.Serve(b.httpLn) }()
	log.Info().Str("listen", b.Addr()).Str("http", b.HTTPAddr()).Str("data", cfg.Data).Msg("sampan serving")
	return b, nil
}

func (b *Broker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.Registry, promhttp.HandlerOpts{Registry: b.Registry}))
	return mux
}

// Addr is the client listener's address.
func (b *Broker) Addr() string { return b.gw.Addr().String() }

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
