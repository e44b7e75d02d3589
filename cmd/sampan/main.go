// Command sampan is the Sampan broker and its command-line client:
//
//	sampan serve                 run a broker (defaults: data in ./sampan-data, clients on 127.0.0.1:7420)
//	sampan pub CHANNEL [MESSAGE] publish a message (or each stdin line) and print its seq
//	sampan sub CHANNEL           print a channel's messages
//	sampan bench pub             measure publish throughput and ack latency
package main

import (
	"context"
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
	root.AddCommand(newServe(), newPub(), newSub(), newBench(), newClusterCmd(), newChannelCmd(), newConsumerCmd(), newPasswd())
	addSecurityFlags(root)
	return root
}

// connect connects to the first reachable server of a comma-separated list; the client moves to another
// one of the list if its connection breaks.
func connect(ctx context.Context, servers string, opts ...client.Option) (*client.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sec, err := securityOptions()
	if err != nil {
		return nil, err
	}
	return client.Connect(cctx, servers, append(sec, opts...)...)
}

func addServerFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "server", "s", broker.DefaultListen, "server address host:port, tls://host:port or ws://host:port (the --ws listener); a comma-separated list: the first reachable is used")
}
