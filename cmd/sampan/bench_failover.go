package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

// bench failover runs its own cluster of `sampan serve` processes (this binary) on 127.0.0.1, because it
// has to kill nodes: for each trial it finds the node leading a channel, SIGKILLs it while a client keeps
// publishing, measures kill -> next publish acked, then restarts the node and waits until it is ready.

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
			ns, peerList, err := newBenchNodes(base, nodes)
			if err != nil {
				return err
			}
			defer func() {
				for _, n := range ns {
					n.stop(30 * time.Second)
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
