package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/natsembed"
)

type benchNATSResult struct {
	Direction  string  `json:"direction"`
	JetStream  bool    `json:"jetstream"`
	Count      int     `json:"count"`
	Size       int     `json:"size"`
	Received   int     `json:"received"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// FeedPerSec: how fast the source side was filled (Sampan publishes for export, NATS publishes for
	// import); the bridged rate cannot exceed it.
	FeedPerSec float64 `json:"feed_msgs_per_sec"`
}

func newBenchNATS() *cobra.Command {
	var (
		direction   string
		count, size int
		useJS       bool
		natsURL     string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Measure NATS bridge throughput (export or import), with its own broker and nats-server",
		Long: `Start a broker on a temp dir with one bridge rule and (unless --nats is given) an embedded
nats-server with JetStream, then move --count messages of --size bytes through the bridge and print
the bridged rate: from the first message fed in to the last one out on the other side.
  export: publish to Sampan channel bench.x; count on NATS subject sampan.bench.x (a core subscriber,
          or with --jetstream the stream BENCH's message count).
  import: publish to NATS subject ext.bench (core, or with --jetstream into stream BENCHIN); count on a
          Sampan subscriber of channel fromnats.bench.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if direction != "export" && direction != "import" {
				return errors.New("--direction must be export or import")
			}
			if count < 1 || size < 0 {
				return errors.New("--count must be >= 1 and --size >= 0")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			res, err := benchNATS(ctx, direction, natsURL, useJS, count, size)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			mode := "core NATS"
			if useJS {
				mode = "JetStream"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %d of %d msgs x %d B in %.2fs: %.0f msgs/s bridged (fed at %.0f msgs/s)\n",
				direction, mode, res.Received, res.Count, res.Size, res.Seconds, res.MsgsPerSec, res.FeedPerSec)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&direction, "direction", "export", "export (Sampan -> NATS) or import (NATS -> Sampan)")
	f.IntVar(&count, "count", 100000, "messages")
	f.IntVar(&size, "size", 128, "payload bytes")
	f.BoolVar(&useJS, "jetstream", false, "JetStream mode (export: PubAck + Nats-Msg-Id; import: durable consumer)")
	f.StringVar(&natsURL, "nats", "", "use this NATS server instead of an embedded one (needs JetStream for --jetstream)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchNATS(ctx context.Context, direction, natsURL string, useJS bool, count, size int) (*benchNATSResult, error) {
	dir, err := os.MkdirTemp("", "sampan-bench-nats")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if natsURL == "" {
		ns, err := natsembed.Start(filepath.Join(dir, "nats"), 0)
		if err != nil {
			return nil, err
		}
		defer natsembed.Stop(ns)
		natsURL = ns.ClientURL()
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var rule bridge.Config
	rule.URL = natsURL
	stream := "BENCH"
	if direction == "export" {
		rule.Export = []bridge.ExportRule{{Name: "bench", Channels: "bench.*", Subject: "sampan.bench.*", JetStream: useJS}}
	} else {
		stream = "BENCHIN"
		rule.Import = []bridge.ImportRule{{Name: "bench", Subject: "ext.*", Channel: "fromnats.*", JetStream: useJS}}
	}
	if useJS {
		subj := map[string]string{"BENCH": "sampan.bench.>", "BENCHIN": "ext.>"}[stream]
		_ = js.DeleteStream(ctx, stream) // an external server may keep one from an earlier run
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subj}}); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", stream, err)
		}
		defer js.DeleteStream(context.Background(), stream) //nolint:errcheck
	}
	raft, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := broker.DefaultConfig()
	cfg.Data, cfg.Listen, cfg.HTTP, cfg.Raft = filepath.Join(dir, "sampan"), "127.0.0.1:0", "127.0.0.1:0", raft
	cfg.NATS = rule
	lg := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	b, err := broker.Start(cfg, lg)
	if err != nil {
		return nil, err
	}
	defer b.Close(context.Background()) //nolint:errcheck
	// Wait for the rule to run (and, for a core import, to be subscribed) before feeding it.
	for !b.Bridge().Status().Rules[0].Connected {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	c, err := client.Connect(ctx, b.Addr(), client.WithMaxInflight(1024))
	if err != nil {
		return nil, err
	}
	defer c.Close()

	var received atomic.Int64
	done := func() bool { return received.Load() >= int64(count) }
	payload := make([]byte, size)
	res := &benchNATSResult{Direction: direction, JetStream: useJS, Count: count, Size: size}
	var start time.Time
	var fed time.Duration
	if direction == "export" {
		if useJS {
			go pollStream(ctx, js, stream, &received, count)
		} else {
			sub, err := nc.Subscribe("sampan.bench.x", func(*nats.Msg) { received.Add(1) })
			if err != nil {
				return nil, err
			}
			_ = sub.SetPendingLimits(-1, -1)
			if err := nc.Flush(); err != nil {
				return nil, err
			}
		}
		start = time.Now()
		futs := make(chan *client.PubFuture, 1024)
		errc := make(chan error, 1)
		go func() {
			var first error
			for f := range futs {
				if _, err := f.Wait(ctx); err != nil && first == nil {
					first = err
				}
			}
			errc <- first
		}()
		for i := 0; i < count; i++ {
			f, err := c.PublishAsync(ctx, "bench.x", payload)
			if err != nil {
				close(futs)
				return nil, err
			}
			futs <- f
		}
		close(futs)
		if err := <-errc; err != nil {
			return nil, err
		}
		fed = time.Since(start)
	} else {
		if _, err := c.Subscribe(ctx, "fromnats.bench", client.StartEarliest(), func(*client.Message) { received.Add(1) }, client.WithWindow(8192)); err != nil {
			return nil, err
		}
		start = time.Now()
		if useJS {
			for i := 0; i < count; i++ {
				if _, err := js.PublishAsync("ext.bench", payload); err != nil {
					return nil, err
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		} else {
			// Core NATS drops what a slow consumer cannot take: keep at most 20,000 messages between
			// NATS and Sampan so the figure is the rate sustained without loss.
			for i := 0; i < count; i++ {
				for int64(i)-received.Load() > 20000 {
					if err := nc.Flush(); err != nil {
						return nil, err
					}
					time.Sleep(100 * time.Microsecond)
				}
				if err := nc.Publish("ext.bench", payload); err != nil {
					return nil, err
				}
			}
			if err := nc.Flush(); err != nil {
				return nil, err
			}
		}
		fed = time.Since(start)
	}
	// Wait for the last message; stop when nothing arrives for 10 s (core NATS may drop under overload).
	last, lastN := time.Now(), received.Load()
	for !done() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if n := received.Load(); n != lastN {
			last, lastN = time.Now(), n
		} else if time.Since(last) > 10*time.Second {
			break
		}
	}
	elapsed := time.Since(start)
	if !done() {
		elapsed = last.Sub(start)
	}
	res.Received = int(received.Load())
	res.Seconds = elapsed.Seconds()
	res.MsgsPerSec = float64(res.Received) / elapsed.Seconds()
	res.FeedPerSec = float64(count) / fed.Seconds()
	return res, nil
}

// pollStream sets n to the stream's message count until it reaches count or ctx ends.
func pollStream(ctx context.Context, js jetstream.JetStream, name string, n *atomic.Int64, count int) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return
	}
	for ctx.Err() == nil && n.Load() < int64(count) {
		if info, err := st.Info(ctx); err == nil {
			n.Store(int64(info.State.Msgs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
