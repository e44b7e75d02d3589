package main

import (
	"context"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/broker"
)

func newServe() *cobra.Command {
	var (
		file                   string
		flg                    = broker.DefaultConfig()
		natsExport, natsImport []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a Sampan broker. With no flags and no config file it keeps its data in ./sampan-data and listens
for clients on 127.0.0.1:7420 and for HTTP (/healthz, /readyz, /metrics) on 127.0.0.1:7480.
Settings come from the defaults, then the YAML file given with --config, then the flags (flags win).
SIGINT or SIGTERM shut it down cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := broker.DefaultConfig()
			if file != "" {
				if err := cfg.LoadFile(file); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			set := func(name string, dst *string, v string) {
				if f.Changed(name) {
					*dst = v
				}
			}
			set("data", &cfg.Data, flg.Data)
			set("listen", &cfg.Listen, flg.Listen)
			set("advertise", &cfg.Advertise, flg.Advertise)
			set("http", &cfg.HTTP, flg.HTTP)
			set("ws", &cfg.WS, flg.WS)
			set("raft", &cfg.Raft, flg.Raft)
			set("actor", &cfg.Actor, flg.Actor)
			set("log-level", &cfg.LogLevel, flg.LogLevel)
			set("peers", &cfg.Peers, flg.Peers)
			if f.Changed("node-id") {
				cfg.NodeID = flg.NodeID
			}
			if f.Changed("replicas") {
				cfg.Replicas = flg.Replicas
			}
			if f.Changed("join") {
				cfg.Join = flg.Join
			}
			if f.Changed("pprof") {
				cfg.PProf = flg.PProf
			}
			if f.Changed("log-json") {
				cfg.LogJSON = flg.LogJSON
			}
			if f.Changed("idle-timeout") {
				cfg.Channels.IdleTimeout = flg.Channels.IdleTimeout
			}
			if f.Changed("max-active") {
				cfg.Channels.MaxActive = flg.Channels.MaxActive
			}
			set("nats", &cfg.NATS.URL, flg.NATS.URL)
			set("tls-cert", &cfg.TLS.CertFile, flg.TLS.CertFile)
			set("tls-key", &cfg.TLS.KeyFile, flg.TLS.KeyFile)
			set("tls-ca", &cfg.TLS.CAFile, flg.TLS.CAFile)
			if f.Changed("tls-client-auth") {
				cfg.TLS.ClientAuth = flg.TLS.ClientAuth
			}
			set("cluster-tls-cert", &cfg.Cluster.TLS.CertFile, flg.Cluster.TLS.CertFile)
			set("cluster-tls-key", &cfg.Cluster.TLS.KeyFile, flg.Cluster.TLS.KeyFile)
			set("cluster-tls-ca", &cfg.Cluster.TLS.CAFile, flg.Cluster.TLS.CAFile)
			// Flag rules add to the file's rules.
			for _, s := range natsExport {
				r, err := bridge.ParseExportFlag(s)
				if err != nil {
					return err
				}
				cfg.NATS.Export = append(cfg.NATS.Export, r)
			}
			for _, s := range natsImport {
				r, err := bridge.ParseImportFlag(s)
				if err != nil {
					return err
				}
				cfg.NATS.Import = append(cfg.NATS.Import, r)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			lg := newLogger(cfg)
			b, err := broker.Start(cfg, lg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			lg.Info().Msg("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return b.Close(sctx)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&file, "config", "c", "", "YAML config file (same keys as the flags; flags win)")
	fs.Uint64Var(&flg.NodeID, "node-id", flg.NodeID, "this node's id in the cluster (>= 1)")
	fs.StringVar(&flg.Peers, "peers", "", "every node of the cluster: ID@RAFT_HOST:PORT,... (empty: a single node)")
	fs.IntVar(&flg.Replicas, "replicas", flg.Replicas, "replicas per channel (capped at the node count)")
	fs.BoolVar(&flg.Join, "join", false, "join a running cluster this node was added to (sampan cluster add ID@RAFT); --peers may be empty")
	fs.StringVar(&flg.Data, "data", flg.Data, "data directory")
	fs.StringVar(&flg.Listen, "listen", flg.Listen, "client listener host:port")
	fs.StringVar(&flg.Advertise, "advertise", "", "host:port clients reach the client listener at, when not --listen's (other nodes route clients here)")
	fs.StringVar(&flg.HTTP, "http", flg.HTTP, "HTTP listener host:port (/healthz, /readyz, /metrics, admin API, web console)")
	fs.StringVar(&flg.WS, "ws", "", "WebSocket listener host:port (the client protocol for web pages and the console; empty: none)")
	fs.StringVar(&flg.Raft, "raft", flg.Raft, "Raft address host:port (the node's identity: keep it stable for a data dir)")
	fs.StringVar(&flg.Actor, "actor", flg.Actor, "actor remote host:port (port 0: any free port)")
	fs.StringVar(&flg.LogLevel, "log-level", flg.LogLevel, "log level: debug, info, warn, error")
	fs.BoolVar(&flg.PProf, "pprof", false, "serve Go's profiler at /debug/pprof/ on the HTTP listener")
	flg.LogJSON = new(bool)
	fs.BoolVar(flg.LogJSON, "log-json", false, "JSON logs even on a terminal (default: JSON unless stderr is a terminal)")
	fs.Var((*durationFlag)(&flg.Channels.IdleTimeout), "idle-timeout", "passivate a channel after this long without traffic")
	fs.IntVar(&flg.Channels.MaxActive, "max-active", flg.Channels.MaxActive, "channel shard replicas resident on this node (followers too); the least recently used passivate beyond it")
	fs.StringVar(&flg.TLS.CertFile, "tls-cert", "", "PEM certificate of this node: the client and HTTP listeners speak TLS only")
	fs.StringVar(&flg.TLS.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&flg.TLS.CAFile, "tls-ca", "", "PEM CA certificates that client certificates are checked against")
	fs.BoolVar(&flg.TLS.ClientAuth, "tls-client-auth", false, "require every client to present a certificate signed by --tls-ca")
	fs.StringVar(&flg.Cluster.TLS.CertFile, "cluster-tls-cert", "", "PEM certificate of this node between nodes (Raft and actor remote over mutual TLS)")
	fs.StringVar(&flg.Cluster.TLS.KeyFile, "cluster-tls-key", "", "PEM private key of --cluster-tls-cert")
	fs.StringVar(&flg.Cluster.TLS.CAFile, "cluster-tls-ca", "", "PEM cluster CA: only nodes with a certificate it signed are let in")
	fs.StringVar(&flg.NATS.URL, "nats", "", "NATS server URL[,URL...] for the NATS bridge")
	fs.StringArrayVar(&natsExport, "nats-export", nil, "export rule CHANNEL_PATTERN=SUBJECT, e.g. 'orders.*=sampan.orders.*' (repeatable)")
	fs.StringArrayVar(&natsImport, "nats-import", nil, "import rule SUBJECT=CHANNEL, e.g. 'ext.*=fromnats.*' (repeatable)")
	return cmd
}

type durationFlag broker.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	*d = durationFlag(v)
	return err
}
func (d *durationFlag) Type() string { return "duration" }

// newLogger logs human-readable lines on a terminal and JSON otherwise.
func newLogger(cfg broker.Config) zerolog.Logger {
	var w io.Writer = os.Stderr
	jsonOut := !isatty.IsTerminal(os.Stderr.Fd())
	if cfg.LogJSON != nil && *cfg.LogJSON {
		jsonOut = true
	}
	if !jsonOut {
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}
	}
	lvl, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano // failovers and elections happen within a second
	lg := zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	// Pebble (inside Dragonboat's LogDB) logs through the standard library logger.
	log.SetFlags(0)
	log.SetOutput(stdLogWriter{lg})
	return lg
}

type stdLogWriter struct{ lg zerolog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	w.lg.Debug().Str("component", "pebble").Msg(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
