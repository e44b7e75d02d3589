package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/internal/natsembed"
)

type benchJSResult struct {
	benchPubResult
	Replicas   int  `json:"replicas"`
	SyncAlways bool `json:"sync_always"`
}

// newBenchJetStream measures JetStream with the workloads of `bench pub`, on embedded nats-servers, so
// that the two can be compared on one machine in one run (scripts/compare-jetstream.sh).
func newBenchJetStream() *cobra.Command {
	var (
		dir                                    string
		replicas                               int
		syncAlways, asJSON, serveOnly          bool
		channels, publishers, size, count, win int
		rate                                   int
	)
	cmd := &cobra.Command{
		Use:   "jetstream",
		Short: "Measure JetStream publish throughput and ack latency on embedded nats-servers, for comparison",
		Long: `Start --replicas embedded nats-servers with JetStream (one, or a cluster of three on loopback),
with their stores under --dir (a temp dir on the same disk as Sampan's by default), create a file
stream of --replicas replicas per channel, and publish as 'sampan bench pub' does: --count messages of
--size bytes from --publishers connections with up to --window unacknowledged each, acked by the
stream's leader (PubAck). --sync-always fsyncs every write (sync_interval: always: the durability of
a Sampan ack); without it JetStream's default applies (fsync every 2 minutes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if replicas != 1 && replicas != 3 {
				return errors.New("--replicas must be 1 or 3")
			}
			if channels < 1 || publishers < 1 || size < 0 || count < 1 || win < 1 {
				return errors.New("channels, publishers, count and window must be >= 1, size >= 0")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if serveOnly {
				return serveJetStream(ctx, cmd.OutOrStdout(), dir, replicas, syncAlways)
			}
			res, err := benchJetStream(ctx, dir, replicas, syncAlways, channels, publishers, size, count, win, rate)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			mode := "default sync"
			if syncAlways {
				mode = "sync always"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "JetStream R=%d %s: %d msgs x %d B, %d publishers, %d channels, window %d: %.0f msgs/s, ack latency p50 %.0fus p90 %.0fus p99 %.0fus max %.0fus, %d errors\n",
				replicas, mode, res.Count, res.Size, res.Publishers, res.Channels, res.Window, res.MsgsPerSec, res.P50us, res.P90us, res.P99us, res.MaxUs, res.Errors)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "parent of the servers' store dirs (default: a temp dir)")
	f.IntVar(&replicas, "replicas", 1, "servers and stream replicas: 1 or 3")
	f.BoolVar(&syncAlways, "sync-always", false, "fsync every write (sync_interval: always)")
	f.IntVar(&channels, "channels", 1, "streams (one subject each) to publish to")
	f.IntVar(&publishers, "publishers", 1, "publishing connections")
	f.IntVar(&size, "size", 128, "payload bytes")
	f.IntVar(&count, "count", 100000, "messages in total")
	f.IntVar(&win, "window", 256, "unacknowledged publishes per publisher")
	f.IntVar(&rate, "rate", 0, "total msgs/s to pace at (0: as fast as possible)")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	f.BoolVar(&serveOnly, "serve-only", false, "run the servers only, print their client URLs, stop on SIGTERM")
	_ = f.MarkHidden("serve-only")
	return cmd
}

// serveJetStream runs the servers in this process until ctx ends. The benchmark runs them in a child
// process, as Sampan's server runs in its own: a server inside the client's process would share its
// Go runtime and skip the cross-process wake-ups a real client pays.
func serveJetStream(ctx context.Context, out io.Writer, parent string, replicas int, syncAlways bool) error {
	dir, err := os.MkdirTemp(parent, "sampan-bench-jetstream")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	servers, err := startJetStreamServers(dir, replicas, syncAlways)
	if err != nil {
		return err
	}
	urls := make([]string, len(servers))
	for i, ns := range servers {
		urls[i] = ns.ClientURL()
	}
	fmt.Fprintln(out, strings.Join(urls, ","))
	<-ctx.Done()
	for _, ns := range servers {
		natsembed.Stop(ns)
	}
	return nil
}

// spawnJetStream starts `sampan bench jetstream --serve-only` as a child process and returns its
// servers' URLs and a stop function.
func spawnJetStream(parent string, replicas int, syncAlways bool) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	args := []string{"bench", "jetstream", "--serve-only", "--replicas", strconv.Itoa(replicas)}
	if parent != "" {
		args = append(args, "--dir", parent)
	}
	if syncAlways {
		args = append(args, "--sync-always")
	}
	child := exec.Command(exe, args...)
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := child.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("sampan: the JetStream server process did not start: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

func benchJetStream(ctx context.Context, parent string, replicas int, syncAlways bool, channels, publishers, size, count, win, rate int) (*benchJSResult, error) {
	urls, stopServers, err := spawnJetStream(parent, replicas, syncAlways)
	if err != nil {
		return nil, err
	}
	defer stopServers()
	conns := make([]jetstream.JetStream, publishers)
	for i := range conns {
		nc, err := nats.Connect(urls)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		if conns[i], err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(win)); err != nil {
			return nil, err
		}
	}
	subjects := make([]string, channels)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("bench.c%d", i)
		// A cluster's meta leader may still be being elected: retry the create for a while.
		deadline := time.Now().Add(30 * time.Second)
		for {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = conns[0].CreateStream(cctx, jetstream.StreamConfig{Name: fmt.Sprintf("BENCH%d", i),
				Subjects: []string{subjects[i]}, Storage: jetstream.FileStorage, Replicas: replicas})
			if err == nil {
				_, err = conns[0].Publish(cctx, subjects[i], []byte("warmup"))
			}
			cancel()
			if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return nil, fmt.Errorf("create stream for %s: %w", subjects[i], err)
		}
	}
	payload := benchPayload(size)
	r, err := runPublishers(channels, publishers, count, win, rate, size, func(p, i int) (func() error, error) {
		fut, err := conns[p].PublishAsync(subjects[(p+i)%channels], payload)
		if err != nil {
			return nil, err
		}
		return func() error {
			select {
			case <-fut.Ok():
				return nil
			case err := <-fut.Err():
				return err
			}
		}, nil
	})
	if r == nil {
		return nil, err
	}
	return &benchJSResult{benchPubResult: *r, Replicas: replicas, SyncAlways: syncAlways}, err
}

// startJetStreamServers starts one JetStream server, or a cluster of three routed on loopback.
func startJetStreamServers(dir string, n int, syncAlways bool) ([]*natsserver.Server, error) {
	opts := make([]*natsserver.Options, n)
	var routes []string
	for i := range opts {
		o := &natsserver.Options{StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i)), SyncAlways: syncAlways}
		if syncAlways {
			o.SyncInterval = 2 * time.Minute // what nats-server sets with sync_interval: always
		}
		if n > 1 {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			o.ServerName = fmt.Sprintf("js%d", i)
			o.Cluster = natsserver.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: port}
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", port))
		}
		opts[i] = o
	}
	servers := make([]*natsserver.Server, n)
	starts := make(chan error, n)
	for i, o := range opts {
		if n > 1 {
			o.Routes = natsserver.RoutesFromStr(strings.Join(routes, ","))
		}
		go func() { // a cluster member waits for its peers: start them together
			ns, err := natsembed.StartWith(o)
			servers[i] = ns // nil on an error
			starts <- err
		}()
	}
	var errs []error
	for range opts {
		errs = append(errs, <-starts)
	}
	if err := errors.Join(errs...); err != nil {
		for _, ns := range servers {
			if ns != nil {
				natsembed.Stop(ns)
			}
		}
		return nil, err
	}
	return servers, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
