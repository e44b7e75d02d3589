package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

func newBench() *cobra.Command {
	b := &cobra.Command{Use: "bench", Short: "Benchmarks against a running broker"}
	b.AddCommand(newBenchPub(), newBenchFsync(), newBenchFailover(), newBenchChannels(), newBenchNATS(), newBenchJetStream(), newBenchConsume())
	return b
}

type benchPubResult struct {
	Channels   int     `json:"channels"`
	Publishers int     `json:"publishers"`
	Size       int     `json:"size"`
	Window     int     `json:"window"`
	Rate       int     `json:"rate,omitempty"`
	Count      int     `json:"count"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
	P50us      float64 `json:"p50_us"`
	P90us      float64 `json:"p90_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	FirstError string  `json:"first_error,omitempty"`
}

func newBenchPub() *cobra.Command {
	var (
		server                                 string
		channels, publishers, size, count, win int
		rate                                   int
		prefix                                 string
		asJSON                                 bool
		route                                  bool
		ws                                     string
	)
	cmd := &cobra.Command{
		Use:   "pub",
		Short: "Measure durable publish throughput and ack latency",
		Long: `Publish --count messages of --size bytes from --publishers connections (each with up to --window
unacknowledged) spread over --channels channels, and print msgs/s, MB/s and ack latency percentiles
(publish call to durable ack). --rate paces the total to that many msgs/s for latency measurements.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if channels < 1 || publishers < 1 || size < 0 || count < 1 || win < 1 {
				return fmt.Errorf("channels, publishers, count and window must be >= 1, size >= 0")
			}
			if ws != "" {
				if !strings.Contains(ws, "://") {
					ws = "ws://" + ws
				}
				server = ws
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			res, err := benchPub(ctx, server, prefix, channels, publishers, size, count, win, rate, client.WithRouting(route))
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d msgs x %d B, %d publishers, %d channels, window %d: %.0f msgs/s, %.2f MB/s, ack latency p50 %.0fus p90 %.0fus p99 %.0fus max %.0fus, %d errors\n",
				res.Count, res.Size, res.Publishers, res.Channels, res.Window, res.MsgsPerSec, res.MBPerSec, res.P50us, res.P90us, res.P99us, res.MaxUs, res.Errors)
			if res.Errors > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "first error: %s\n", res.FirstError)
			}
			return nil
		},
	}
	addServerFlag(cmd, &server)
	f := cmd.Flags()
	f.IntVar(&channels, "channels", 1, "channels to publish to")
	f.IntVar(&publishers, "publishers", 1, "publishing connections")
	f.IntVar(&size, "size", 128, "payload bytes")
	f.IntVar(&count, "count", 100000, "messages in total")
	f.IntVar(&win, "window", 256, "unacknowledged publishes per publisher")
	f.IntVar(&rate, "rate", 0, "total msgs/s to pace at (0: as fast as possible)")
	f.StringVar(&prefix, "prefix", fmt.Sprintf("bench.%d", time.Now().Unix()), "channel name prefix")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	f.StringVar(&ws, "ws", "", "publish over the server's WebSocket listener at this host:port (or ws:// or wss:// URL) instead of --server")
	f.BoolVar(&route, "route", true, "publish each channel through the node that serves it (false: through --server, which forwards)")
	return cmd
}

func benchPub(ctx context.Context, server, prefix string, channels, publishers, size, count, win, rate int, opts ...client.Option) (*benchPubResult, error) {
	conns := make([]*client.Client, publishers)
	for i := range conns {
		c, err := connect(ctx, server, append([]client.Option{client.WithMaxInflight(win)}, opts...)...)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns[i] = c
	}
	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("%s.c%d", prefix, i)
	}
	// Activate every channel first so the run measures steady state, not shard start-up.
	for _, n := range names {
		if _, err := conns[0].Publish(ctx, n, []byte("warmup")); err != nil {
			return nil, fmt.Errorf("warm up %s: %w", n, err)
		}
	}
	payload := benchPayload(size)
	return runPublishers(channels, publishers, count, win, rate, size, func(p, i int) (func() error, error) {
		f, err := conns[p].PublishAsync(ctx, names[(p+i)%channels], payload)
		if err != nil {
			return nil, err
		}
		return func() error { _, err := f.Result(); return err }, nil
	})
}

func benchPayload(size int) []byte {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	return payload
}

// runPublishers runs publishers goroutines (publishing to channels channels, for the result) that together make count publishes, each with at most win
// unanswered (paced to rate msgs/s in total when rate > 0), and measures each publish from the call to
// its answer. publish(p, i) starts publisher p's i-th publish and returns the wait for its answer.
func runPublishers(channels, publishers, count, win, rate, size int, publish func(p, i int) (func() error, error)) (*benchPubResult, error) {
	lat := make([][]time.Duration, publishers)
	errs := make([]int, publishers)
	var firstErr error
	var errOnce sync.Once
	fail := func(p int, err error) {
		errs[p]++
		errOnce.Do(func() { firstErr = err })
	}
	var wg sync.WaitGroup
	start := time.Now()
	for p := 0; p < publishers; p++ {
		n := count / publishers
		if p < count%publishers {
			n++
		}
		wg.Add(1)
		go func(p, n int) {
			defer wg.Done()
			type inflight struct {
				wait func() error
				t    time.Time
			}
			slots := make(chan struct{}, win) // a slot per unanswered publish
			q := make(chan inflight, win)
			done := make(chan struct{})
			lat[p] = make([]time.Duration, 0, n)
			go func() { // answers arrive in publish order: wait for them in turn
				defer close(done)
				for x := range q {
					err := x.wait()
					<-slots
					if err != nil {
						fail(p, err)
						continue
					}
					lat[p] = append(lat[p], time.Since(x.t))
				}
			}()
			var pace time.Duration
			if rate > 0 {
				pace = time.Duration(float64(time.Second) * float64(publishers) / float64(rate))
			}
			next := time.Now()
			for i := 0; i < n; i++ {
				if pace > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(pace)
				}
				slots <- struct{}{}
				t := time.Now()
				wait, err := publish(p, i)
				if err != nil {
					<-slots
					fail(p, err)
					break
				}
				q <- inflight{wait, t}
			}
			close(q)
			<-done
		}(p, n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	nerr := 0
	for p := range lat {
		all = append(all, lat[p]...)
		nerr += errs[p]
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(q * float64(len(all)-1))
		return float64(all[i].Microseconds())
	}
	r := &benchPubResult{Channels: channels, Publishers: publishers, Size: size, Window: win, Rate: rate, Count: len(all), Errors: nerr,
		Seconds: elapsed.Seconds(), MsgsPerSec: float64(len(all)) / elapsed.Seconds(),
		MBPerSec: float64(len(all)*size) / elapsed.Seconds() / 1e6,
		P50us:    pct(0.50), P90us: pct(0.90), P99us: pct(0.99), MaxUs: pct(1)}
	if nerr > 0 {
		r.FirstError = fmt.Sprint(firstErr)
		if len(all) == 0 {
			return r, fmt.Errorf("all %d publishes failed: %v", nerr, firstErr)
		}
	}
	return r, nil
}

func newBenchFsync() *cobra.Command {
	var (
		dir   string
		count int
		size  int
	)
	cmd := &cobra.Command{
		Use:   "fsync",
		Short: "Measure the disk's write+fsync latency (the floor under every durable ack)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.CreateTemp(dir, "sampan-fsync-*")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			defer f.Close()
			buf := make([]byte, size)
			lat := make([]time.Duration, 0, count)
			for i := 0; i < count; i++ {
				t := time.Now()
				if _, err := f.Write(buf); err != nil {
					return err
				}
				if err := f.Sync(); err != nil {
					return err
				}
				lat = append(lat, time.Since(t))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
			fmt.Fprintf(cmd.OutOrStdout(), "%d x %d B write+fsync in %s: p50 %v p90 %v p99 %v max %v\n",
				count, size, dir, q(.5), q(.9), q(.99), q(1))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory on the disk to measure (use the data dir's disk)")
	cmd.Flags().IntVar(&count, "count", 2000, "writes")
	cmd.Flags().IntVar(&size, "size", 4096, "bytes per write")
	return cmd
}
