package main

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

// consumerFlags are a durable consumer's settings on the command line (consumer add, sub --durable).
type consumerFlags struct {
	mode          string
	ackWait       time.Duration
	maxDeliver    int
	deadLetter    string
	maxAckPending int
}

func (f *consumerFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.mode, "mode", "shared", "consumer mode: shared (work queue) or exclusive (one member at a time, in order)")
	cmd.Flags().DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "a delivery not acknowledged within it is delivered again")
	cmd.Flags().IntVar(&f.maxDeliver, "max-deliver", 0, "deliveries of a message before it is dead-lettered (0: no bound)")
	cmd.Flags().StringVar(&f.deadLetter, "dead-letter", "", "channel the messages that had max-deliver attempts go to (default: dropped)")
	cmd.Flags().IntVar(&f.maxAckPending, "max-ack-pending", 1000, "how far past the oldest unacknowledged message deliveries go")
}

func (f *consumerFlags) options(start client.Start) []client.ConsumerOption {
	return []client.ConsumerOption{client.WithMode(client.Mode(f.mode)), client.WithAckWait(f.ackWait),
		client.WithMaxDeliver(f.maxDeliver), client.WithDeadLetter(f.deadLetter), client.WithMaxAckPending(f.maxAckPending),
		client.WithConsumerStart(start)}
}

// consumeCLI is sub --durable: print each delivery, acknowledge it with ack, until count, ctx or an error.
// With count > 0 it asks for no more than count deliveries at a time, so that it does not take
// messages it will not print (they would count as delivered once more).
func consumeCLI(ctx context.Context, c *client.Client, channel, name string, start client.Start, f consumerFlags, ack bool,
	count int, print func(*client.Message, int) bool, finished <-chan struct{}) error {
	opts := f.options(start)
	if count > 0 {
		opts = append(opts, client.WithConsumerWindow(min(count, 256)))
	}
	cons, err := c.Consumer(ctx, channel, name, opts...)
	if err != nil {
		return err
	}
	defer cons.Close()
	errc := make(chan error, 1)
	var handling sync.WaitGroup // a delivery being printed and acknowledged: --count waits for its ack
	err = cons.Consume(ctx, func(d *client.Delivery) {
		handling.Add(1)
		defer handling.Done()
		if !print(&d.Message, d.Attempt) {
			return // past --count: left unacknowledged, it goes to another member
		}
		if ack {
			if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
				select {
				case errc <- fmt.Errorf("ack of seq %d: %w", d.Seq, err):
				default:
				}
			}
		}
	})
	if err != nil {
		return err
	}
	select {
	case <-finished:
		handling.Wait()
		select {
		case err := <-errc:
			return err
		default:
			return nil
		}
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	case <-cons.Done():
		return c.Err()
	case <-c.Done():
		return c.Err()
	}
}

func newConsumerCmd() *cobra.Command {
	var addr string
	c := &cobra.Command{Use: "consumer", Short: "Manage a channel's durable consumers (via a node's HTTP API)"}
	var f consumerFlags
	var from string
	add := &cobra.Command{Use: "add CHANNEL NAME", Short: "Create a durable consumer (an existing one is kept as it is)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := broker.ConsumerRequest{Name: args[1], Mode: f.mode, AckWait: f.ackWait.String(), MaxDeliver: f.maxDeliver,
				DeadLetter: f.deadLetter, MaxAckPending: f.maxAckPending, From: from}
			out, err := adminCall(addr, "POST", "/channels/"+url.PathEscape(args[0])+"/consumers", req)
			if err != nil {
				return err
			}
			return printer(cmd, out)
		}}
	f.add(add)
	add.Flags().StringVar(&from, "from", "latest", "where a new consumer starts: earliest, latest, SEQ or RFC3339 time")
	ls := &cobra.Command{Use: "ls CHANNEL", Short: "List a channel's consumers", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := adminCall(addr, "GET", "/channels/"+url.PathEscape(args[0])+"/consumers", nil)
			if err != nil {
				return err
			}
			return printer(cmd, out)
		}}
	info := &cobra.Command{Use: "info CHANNEL NAME", Short: "A consumer's ack floor, pending, lag, members", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := adminCall(addr, "GET", "/channels/"+url.PathEscape(args[0])+"/consumers/"+url.PathEscape(args[1]), nil)
			if err != nil {
				return err
			}
			return printer(cmd, out)
		}}
	rm := &cobra.Command{Use: "rm CHANNEL NAME", Short: "Remove a consumer (its members are told)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := adminCall(addr, "DELETE", "/channels/"+url.PathEscape(args[0])+"/consumers/"+url.PathEscape(args[1]), nil)
			if err != nil {
				return err
			}
			return printer(cmd, out)
		}}
	for _, sc := range []*cobra.Command{add, ls, info, rm} {
		addHTTPFlag(sc, &addr)
		c.AddCommand(sc)
	}
	return c
}
