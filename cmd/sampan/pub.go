package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

func newPub() *cobra.Command {
	var (
		server  string
		headers []string
		key     string
		window  int
	)
	cmd := &cobra.Command{
		Use:   "pub CHANNEL [MESSAGE]",
		Short: "Publish a message, or each line of stdin, and print its seq once durable",
		Long: `Publish MESSAGE to CHANNEL and print "seq N" once it is durable. With no MESSAGE, publish each
line of stdin (pipelined, up to --window in flight) and print the seq of the last one.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			h, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			var opts []client.PubOption
			if h != nil {
				opts = append(opts, client.WithHeaders(h))
			}
			// A short reconnect window: a one-shot publish should fail, not hang, when no server answers.
			c, err := connect(ctx, server, client.WithMaxInflight(window), client.WithReconnect(true, 10*time.Second))
			if err != nil {
				return err
			}
			defer c.Close()
			channel := args[0]
			if len(args) == 2 {
				if key != "" {
					opts = append(opts, client.WithIdempotencyKey(key))
				}
				seq, err := c.Publish(ctx, channel, []byte(args[1]), opts...)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "seq %d\n", seq)
				return nil
			}
			return pubLines(ctx, cmd, c, channel, opts)
		},
	}
	addServerFlag(cmd, &server)
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "header KEY=VALUE (repeatable)")
	cmd.Flags().StringVarP(&key, "key", "k", "", "idempotency key (single message only)")
	cmd.Flags().IntVar(&window, "window", 256, "publishes in flight when reading stdin")
	return cmd
}

func pubLines(ctx context.Context, cmd *cobra.Command, c *client.Client, channel string, opts []client.PubOption) error {
	in := bufio.NewScanner(cmd.InOrStdin())
	in.Buffer(make([]byte, 64*1024), int(c.Limits().MaxPayload)+1)
	futures := make(chan *client.PubFuture, 4096)
	result := make(chan error, 1)
	var last uint64
	go func() {
		var firstErr error
		for f := range futures {
			a, err := f.Result()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil && a.Seq > last {
				last = a.Seq
			}
		}
		result <- firstErr
	}()
	var sendErr error
	n := 0
	for in.Scan() {
		line := append([]byte(nil), in.Bytes()...)
		f, err := c.PublishAsync(ctx, channel, line, opts...)
		if err != nil {
			sendErr = err
			break
		}
		futures <- f
		n++
	}
	close(futures)
	ackErr := <-result
	if sendErr == nil {
		sendErr = in.Err()
	}
	if sendErr == nil {
		sendErr = ackErr
	}
	if sendErr != nil {
		return sendErr
	}
	if n == 0 {
		return fmt.Errorf("no input lines")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "seq %d\n", last)
	return nil
}

func parseHeaders(hs []string) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("header %q: want KEY=VALUE", h)
		}
		m[k] = v
	}
	return m, nil
}
