package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

// bench failover runs its own cluster of `sampan serve` processes (this binary) on 127.0.0.1, because it
// has to kill nodes: for each trial it finds the node leading a channel, SIGKILLs it while a client keeps
// publishing, measures kill -> next publish acked, then restarts the node and waits until it is ready.

type benchNode struct {
	id                    int
	dir, raft, listen, hp string
	cmd                   *exec.Cmd
	exited                chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (n *benchNode) start(peers string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	n.cmd = exec.Command(self, "serve", "--node-id", fmt.Sprint(n.id), "--peers", peers, "--raft", n.raft,
		"--listen", n.listen, "--http", n.hp, "--data", n.dir, "--log-level", logLevel())
	// The nodes log errors about the peer just killed; keep the report readable (SAMPAN_BENCH_LOGS=DIR
	// keeps each node's log there instead, at SAMPAN_BENCH_LOG_LEVEL, info by default).
	if dir := os.Getenv("SAMPAN_BENCH_LOGS"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("node%d.log", n.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		n.cmd.Stdout, n.cmd.Stderr = f, f
	}
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	return nil
}

func (n *benchNode) ready(ctx context.Context) error {
	for {
		r, err := http.Get("http://" + n.hp + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d not ready: %w", n.id, ctx.Err())
		case <-n.exited:
			return fmt.Errorf("node %d exited", n.id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func newBenchFailover() *cobra.Command {
	var (
		trials, nodes int
		dir           string
		asJSON        bool
		verbose       bool
	)
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure failover: leader node SIGKILLed -> next publish acked, over many trials",
		Long: `Start a cluster of --nodes sampan processes on 127.0.0.1 (temp data dirs), then for each trial: publish
to a channel, SIGKILL the node leading it, time how long until the next publish (retried with the same
idempotency key through a client that knows every node) is acked, restart the node and wait until it is
ready and has caught up (its replica of the channel running again), so that every trial is a single
failure. Prints p50/p90/p99/max.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trials < 1 || nodes < 3 {
				return fmt.Errorf("need --trials >= 1 and --nodes >= 3")
			}
			base, err := os.MkdirTemp(dir, "sampan-failover-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(base)
			ns := make([]*benchNode, nodes)
			var peers []string
			for i := range ns {
				n := &benchNode{id: i + 1, dir: filepath.Join(base, fmt.Sprint(i+1))}
				for _, p := range []*string{&n.raft, &n.listen, &n.hp} {
					if *p, err = freeAddr(); err != nil {
						return err
					}
				}
				ns[i] = n
				peers = append(peers, fmt.Sprintf("%d@%s", n.id, n.raft))
			}
			peerList := strings.Join(peers, ",")
			defer func() {
				for _, n := range ns {
					if n.cmd != nil && n.cmd.Process != nil {
						_ = n.cmd.Process.Signal(syscall.SIGTERM)
						<-n.exited
					}
				}
			}()
			ctx, stop := context.WithTimeout(context.Background(), time.Duration(trials)*time.Minute)
			defer stop()
			for _, n := range ns {
				if err := n.start(peerList); err != nil {
					return err
				}
			}
			var servers []string
			for _, n := range ns {
				if err := n.ready(ctx); err != nil {
					return err
				}
				servers = append(servers, n.listen)
			}
			c, err := client.Connect(ctx, strings.Join(servers, ","))
			if err != nil {
				return err
			}
			defer c.Close()
			const channel = "bench.failover"
			seq := 0
			var attempts []string
			publish := func() error {
				seq++
				key := fmt.Sprint(seq)
				attempts = attempts[:0]
				t0 := time.Now()
				for {
					pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := c.Publish(pctx, channel, []byte(key), client.WithIdempotencyKey(key))
					cancel()
					if err == nil {
						return nil
					}
					attempts = append(attempts, fmt.Sprintf("%v: %v", time.Since(t0).Round(time.Millisecond), err))
					if ctx.Err() != nil {
						return err
					}
				}
			}
			var lat []time.Duration
			for trial := 0; trial < trials; trial++ {
				for i := 0; i < 20; i++ {
					if err := publish(); err != nil {
						return err
					}
				}
				var victim *benchNode
				for _, n := range ns {
					if cs, ok := benchChannelStatus(n.hp, channel); ok && cs.Leader != 0 {
						victim = ns[cs.Leader-1]
						break
					}
				}
				if victim == nil {
					return fmt.Errorf("trial %d: no node knows the leader of %s", trial+1, channel)
				}
				t0 := time.Now()
				_ = victim.cmd.Process.Signal(syscall.SIGKILL)
				<-victim.exited
				if err := publish(); err != nil {
					return err
				}
				d := time.Since(t0)
				lat = append(lat, d)
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "trial %d: killed node %d, next publish acked after %v\n", trial+1, victim.id, d.Round(time.Millisecond))
					if verbose {
						for _, a := range attempts {
							fmt.Fprintf(cmd.OutOrStdout(), "  failed attempt at %s\n", a)
						}
					}
				}
				if err := victim.start(peerList); err != nil {
					return err
				}
				if err := victim.ready(ctx); err != nil {
					return err
				}
				// Wait until the returned node runs its replica again and has caught up: killing another
				// node before that would be a double failure (two of three replicas down), not a failover.
				for {
					if err := publish(); err != nil {
						return err
					}
					if cs, ok := benchChannelStatus(victim.hp, channel); ok && cs.State != "cold" && cs.LastSeq >= uint64(seq) {
						break
					}
					select {
					case <-ctx.Done():
						return fmt.Errorf("node %d did not catch up: %w", victim.id, ctx.Err())
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			res := map[string]any{"trials": len(lat), "nodes": nodes, "p50_ms": q(.5), "p90_ms": q(.9), "p99_ms": q(.99), "max_ms": q(1)}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "failover over %d trials (%d nodes): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
				len(lat), nodes, q(.5), q(.9), q(.99), q(1))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&trials, "trials", 20, "kills to measure")
	f.IntVar(&nodes, "nodes", 3, "cluster size")
	f.StringVar(&dir, "dir", "", "where to put the temporary data dirs (default: the system temp dir)")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	f.BoolVar(&verbose, "verbose", false, "print the publish attempts that failed during each failover")
	return cmd
}

func benchChannelStatus(httpAddr, name string) (broker.ChannelStatus, bool) {
	hc := &http.Client{Timeout: 2 * time.Second}
	r, err := hc.Get("http://" + httpAddr + "/channels/" + name)
	if err != nil {
		return broker.ChannelStatus{}, false
	}
	defer r.Body.Close()
	var cs broker.ChannelStatus
	if r.StatusCode != 200 || json.NewDecoder(r.Body).Decode(&cs) != nil {
		return cs, false
	}
	return cs, true
}

func logLevel() string {
	if os.Getenv("SAMPAN_BENCH_LOGS") == "" {
		return "error"
	}
	if l := os.Getenv("SAMPAN_BENCH_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}
