// Command sampan is the Sampan broker and its command-line client:
//
//	sampan serve                 run a broker (defaults: data in ./sampan-data, clients on 127.0.0.1:7420)
//	sampan pub CHANNEL [MESSAGE] publish a message (or each stdin line) and print its seq
//	sampan sub CHANNEL           print a channel's messages
//	sampan bench pub             measure publish throughput and ack latency
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sampan:", strings.TrimPrefix(err.Error(), "sampan: "))
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "sampan",
		Short:         "Sampan: a message broker with many strictly ordered, durable channels",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newPub(), newSub(), newBench())
	return root
}

// connect dials the first reachable server of a comma-separated list.
func connect(ctx context.Context, servers string, opts ...client.Option) (*client.Client, error) {
	var errs []error
	for _, s := range strings.Split(servers, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.Connect(cctx, s, opts...)
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no server given")
	}
	return nil, errors.Join(errs...)
}

func addServerFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "server", "s", broker.DefaultListen, "server address host:port (comma-separated list: the first reachable is used)")
}
