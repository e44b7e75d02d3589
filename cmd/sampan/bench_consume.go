package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

type benchConsumeResult struct {
	System     string  `json:"system"`
	Replicas   int     `json:"replicas,omitempty"`
	Members    int     `json:"members"`
	Count      int     `json:"count"`
	Size       int     `json:"size"`
	Ack        string  `json:"ack"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	Redeliv    int64   `json:"redelivered"`
}

// newBenchConsume measures durable consumption: --count messages stored first, then consumed by
// --members members of one shared durable consumer, each message acknowledged by its member.
func newBenchConsume() *cobra.Command {
	var (
		server, dir, ack             string
		members, count, size, window int
		js, syncAlways, asJSON       bool
		replicas                     int
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Measure durable consumer throughput (consumed and acked msgs/s), or JetStream's pull consumer",
		Long: `Publish --count messages of --size bytes to a new channel, then consume them with --members members of
one shared durable consumer (each on its own connection, up to --window unacknowledged), acknowledging
each: --ack sync waits for each ack to be durable before the member takes its next message (Sampan:
Delivery.Ack; JetStream: DoubleAck), --ack async sends the ack and goes on (Delivery.AckAsync;
Msg.Ack). Prints consumed+acked msgs/s from the first delivery to the last ack.

--jetstream measures the same on embedded nats-servers (--replicas 1 or 3, --sync-always to fsync
every write) with a durable pull consumer with explicit acks, in the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if members < 1 || count < 1 || size < 0 || window < 1 || (ack != "sync" && ack != "async") {
				return errors.New("members, count and window must be >= 1, size >= 0, ack sync or async")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var res *benchConsumeResult
			var err error
			if js {
				res, err = benchConsumeJS(ctx, dir, replicas, syncAlways, members, count, size, window, ack == "sync")
			} else {
				res, err = benchConsume(ctx, server, members, count, size, window, ack == "sync")
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d msgs x %d B, %d members, ack %s: %.0f msgs/s consumed and acked (%.2fs), %d redelivered\n",
				res.System, res.Count, res.Size, res.Members, res.Ack, res.MsgsPerSec, res.Seconds, res.Redeliv)
			return nil
		},
	}
	addServerFlag(cmd, &server)
	f := cmd.Flags()
	f.IntVar(&members, "members", 4, "consumer members, one connection each")
	f.IntVar(&count, "count", 50000, "messages")
	f.IntVar(&size, "size", 128, "payload bytes")
	f.IntVar(&window, "window", 256, "unacknowledged deliveries per member")
	f.StringVar(&ack, "ack", "sync", "sync: wait for each ack to be durable; async: send it and go on")
	f.BoolVar(&js, "jetstream", false, "measure JetStream's durable pull consumer instead")
	f.IntVar(&replicas, "replicas", 1, "--jetstream: servers and stream replicas, 1 or 3")
	f.BoolVar(&syncAlways, "sync-always", false, "--jetstream: fsync every write")
	f.StringVar(&dir, "dir", "", "--jetstream: parent of the servers' store dirs")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func benchConsume(ctx context.Context, server string, members, count, size, window int, syncAck bool) (*benchConsumeResult, error) {
	channel := fmt.Sprintf("bench.consume.%d", time.Now().UnixNano())
	pub, err := connect(ctx, server)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	payload := benchPayload(size)
	futs := make([]*client.PubFuture, 0, 256)
	for i := 0; i < count; i++ {
		f, err := pub.PublishAsync(ctx, channel, payload)
		if err != nil {
			return nil, err
		}
		if futs = append(futs, f); len(futs) == cap(futs) || i == count-1 {
			for _, f := range futs {
				if _, err := f.Result(); err != nil {
					return nil, err
				}
			}
			futs = futs[:0]
		}
	}
	tally := newConsumeTally(count, members)
	for m := 0; m < members; m++ {
		c, err := connect(ctx, server)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		k, err := c.Consumer(ctx, channel, "bench", client.WithConsumerStart(client.StartEarliest()),
			client.WithConsumerWindow(window), client.WithMaxAckPending(max(1000, members*window*2)))
		if err != nil {
			return nil, err
		}
		defer k.Close()
		if err := k.Consume(ctx, func(d *client.Delivery) {
			var err error
			if syncAck {
				err = d.Ack(ctx)
			} else {
				err = d.AckAsync()
			}
			tally.settled(d.Attempt > 1, err)
		}); err != nil {
			return nil, err
		}
	}
	return tally.wait(ctx, benchConsumeResult{System: "Sampan", Members: members, Count: count, Size: size, Ack: ackName(syncAck)})
}

// consumeTally counts what the members of either system settled, from the first delivery on, until
// count are acked or one ack fails.
type consumeTally struct {
	count                int64
	first, done, redeliv atomic.Int64
	finished             chan struct{}
	once                 sync.Once
	errc                 chan error
}

func newConsumeTally(count, members int) *consumeTally {
	return &consumeTally{count: int64(count), finished: make(chan struct{}), errc: make(chan error, members)}
}

// settled records one delivery (redelivered: its attempt was not the first) and its ack's outcome.
func (t *consumeTally) settled(redelivered bool, err error) {
	t.first.CompareAndSwap(0, time.Now().UnixNano())
	if redelivered {
		t.redeliv.Add(1)
	}
	if err != nil {
		select {
		case t.errc <- err:
		default:
		}
		return
	}
	if t.done.Add(1) == t.count {
		t.once.Do(func() { close(t.finished) })
	}
}

// wait waits for count acks and fills in r's figures.
func (t *consumeTally) wait(ctx context.Context, r benchConsumeResult) (*benchConsumeResult, error) {
	select {
	case <-t.finished:
	case err := <-t.errc:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.Seconds = time.Since(time.Unix(0, t.first.Load())).Seconds()
	r.MsgsPerSec, r.Redeliv = float64(t.count)/r.Seconds, t.redeliv.Load()
	return &r, nil
}

func ackName(sync bool) string {
	if sync {
		return "sync"
	}
	return "async"
}

func benchConsumeJS(ctx context.Context, parent string, replicas int, syncAlways bool, members, count, size, window int, syncAck bool) (*benchConsumeResult, error) {
	if replicas != 1 && replicas != 3 {
		return nil, errors.New("--replicas must be 1 or 3")
	}
	urls, stopServers, err := spawnJetStream(parent, replicas, syncAlways)
	if err != nil {
		return nil, err
	}
	defer stopServers()
	nc, err := nats.Connect(urls)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return nil, err
	}
	var stream jetstream.Stream
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stream, err = js.CreateStream(cctx, jetstream.StreamConfig{Name: "CONSUME", Subjects: []string{"consume"},
			Storage: jetstream.FileStorage, Replicas: replicas})
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	payload := benchPayload(size)
	for i := 0; i < count; i++ {
		if _, err := js.PublishAsync("consume", payload); err != nil {
			return nil, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	_, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: max(1000, members*window*2), AckWait: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	tally := newConsumeTally(count, members)
	for m := 0; m < members; m++ {
		mc, err := nats.Connect(urls)
		if err != nil {
			return nil, err
		}
		defer mc.Close()
		mjs, err := jetstream.New(mc)
		if err != nil {
			return nil, err
		}
		mcons, err := mjs.Consumer(ctx, "CONSUME", "bench")
		if err != nil {
			return nil, err
		}
		cc, err := mcons.Consume(func(msg jetstream.Msg) {
			md, mdErr := msg.Metadata()
			var err error
			if syncAck {
				err = msg.DoubleAck(ctx)
			} else {
				err = msg.Ack()
			}
			tally.settled(mdErr == nil && md.NumDelivered > 1, err)
		}, jetstream.PullMaxMessages(window))
		if err != nil {
			return nil, err
		}
		defer cc.Stop()
	}
	return tally.wait(ctx, benchConsumeResult{System: "JetStream", Replicas: replicas, Members: members, Count: count, Size: size, Ack: ackName(syncAck)})
}
