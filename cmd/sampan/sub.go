package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

func newSub() *cobra.Command {
	var (
		server string
		from   string
		count  int
		asJSON bool
		dur    string
		ack    bool
		copts  consumerFlags
	)
	cmd := &cobra.Command{
		Use:   "sub CHANNEL",
		Short: "Print a channel's messages, one per line",
		Long: `Subscribe to CHANNEL and print each message's payload on its own line (--json: one JSON object per
line with channel, seq, time, headers and payload). --from chooses the start: earliest, latest (new
messages only, the default), a seq number, or an RFC 3339 time. --count N exits after N messages.

--durable NAME reads through the durable consumer NAME instead (created with --from and the consumer
flags if it does not exist): the broker keeps its position, and several 'sub --durable' of the same
name share its messages (--mode shared) or take turns (--mode exclusive). With --ack each message is
acknowledged once printed (the command returns only after the broker recorded it); without, what was
printed comes again after the ack wait.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, err := client.ParseStart(from)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := connect(ctx, server)
			if err != nil {
				return err
			}
			defer c.Close()
			out := bufio.NewWriter(cmd.OutOrStdout())
			var print func(m *client.Message, attempt int) bool
			var mu sync.Mutex
			n := 0
			finished := make(chan struct{})
			var once sync.Once
			enc := json.NewEncoder(out)
			handler := func(m *client.Message) { print(m, 0) }
			print = func(m *client.Message, attempt int) bool {
				mu.Lock()
				defer mu.Unlock()
				if count > 0 && n >= count {
					return false
				}
				if asJSON {
					jm := jsonMsg{Channel: m.Channel, Seq: m.Seq, Time: m.Time.UTC().Format(time.RFC3339Nano), Headers: m.Headers, Attempt: attempt}
					if utf8.Valid(m.Payload) {
						jm.Payload = string(m.Payload)
					} else {
						jm.PayloadB64 = m.Payload // encoding/json writes []byte as base64
					}
					_ = enc.Encode(jm)
				} else {
					out.Write(m.Payload)
					out.WriteByte('\n')
				}
				n++
				// Flush per message so a pipe reader sees it now; bufio only saves syscalls within one write.
				out.Flush()
				if count > 0 && n >= count {
					once.Do(func() { close(finished) })
				}
				return true
			}
			if dur != "" {
				return consumeCLI(ctx, c, args[0], dur, start, copts, ack, count, print, finished)
			}
			sub, err := c.Subscribe(ctx, args[0], start, handler)
			if err != nil {
				return err
			}
			select {
			case <-finished:
			case <-ctx.Done():
			case <-sub.Done():
				return sub.Err()
			case <-c.Done():
				return c.Err()
			}
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = sub.Unsubscribe(uctx)
			return nil
		},
	}
	addServerFlag(cmd, &server)
	cmd.Flags().StringVar(&from, "from", "latest", "start: earliest, latest, SEQ or RFC3339 time")
	cmd.Flags().IntVarP(&count, "count", "n", 0, "exit after this many messages (0: run until interrupted)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	cmd.Flags().StringVar(&dur, "durable", "", "read through this durable consumer of the channel")
	cmd.Flags().BoolVar(&ack, "ack", false, "with --durable: acknowledge each message once printed")
	copts.add(cmd)
	return cmd
}

type jsonMsg struct {
	Channel    string            `json:"channel"`
	Seq        uint64            `json:"seq"`
	Time       string            `json:"time"`
	Headers    map[string]string `json:"headers,omitempty"`
	Payload    string            `json:"payload"`
	PayloadB64 []byte            `json:"payload_base64,omitempty"` // set instead of payload when it is not UTF-8
	Attempt    int               `json:"attempt,omitempty"`        // --durable: the delivery's count
}
