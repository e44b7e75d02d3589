package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/cluster"
)

// The admin commands are thin wrappers over the JSON API on a node's HTTP listener.

func adminCall(httpAddr, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	tlsCfg, err := clientTLS()
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	hc := &http.Client{Timeout: 15 * time.Second}
	if tlsCfg != nil {
		scheme = "https://"
		hc.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	}
	req, err := http.NewRequest(method, scheme+httpAddr+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	authorize(req)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s", e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return out, nil
}

func addHTTPFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "http", broker.DefaultHTTP, "a node's HTTP address host:port")
}

func printer(cmd *cobra.Command, b []byte) error {
	_, err := cmd.OutOrStdout().Write(b)
	return err
}

func newClusterCmd() *cobra.Command {
	var addr string
	c := &cobra.Command{Use: "cluster", Short: "Inspect and change the cluster (via a node's HTTP API)"}
	status := &cobra.Command{Use: "status", Short: "Cluster status and its nodes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := adminCall(addr, "GET", "/cluster/status", nil)
			if err != nil {
				return err
			}
			nodes, err := adminCall(addr, "GET", "/cluster/nodes", nil)
			if err != nil {
				return err
			}
			if err := printer(cmd, st); err != nil {
				return err
			}
			return printer(cmd, nodes)
		}}
	add := &cobra.Command{Use: "add ID@RAFT_ADDR", Short: "Add a node; then start it with `sampan serve --join --node-id ID --raft RAFT_ADDR ...`",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			peers, err := cluster.ParsePeers(args[0])
			if err != nil || len(peers) != 1 {
				return fmt.Errorf("want ID@RAFT_ADDR, e.g. 4@127.0.0.1:7104")
			}
			b, err := adminCall(addr, "POST", "/cluster/nodes", broker.AddNodeRequest{ID: peers[0].ID, Raft: peers[0].Raft})
			if err != nil {
				return err
			}
			return printer(cmd, b)
		}}
	var wait time.Duration
	remove := &cobra.Command{Use: "remove ID", Short: "Remove a node: its channel replicas are re-created on other nodes first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := adminCall(addr, "DELETE", "/cluster/nodes/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if wait == 0 {
				return printer(cmd, b)
			}
			deadline := time.Now().Add(wait)
			for {
				var st broker.NodeStatus
				if err := json.Unmarshal(b, &st); err == nil && st.State == "removed" {
					return printer(cmd, b)
				}
				if time.Now().After(deadline) {
					_ = printer(cmd, b)
					return fmt.Errorf("node %s not removed after %v (its replicas are still moving; see GET /cluster/nodes)", args[0], wait)
				}
				time.Sleep(500 * time.Millisecond)
				if b, err = nodeJSON(addr, args[0]); err != nil {
					return err
				}
			}
		}}
	remove.Flags().DurationVar(&wait, "wait", 0, "wait up to this long until the node is removed (0: return once the removal started)")
	for _, s := range []*cobra.Command{status, add, remove} {
		addHTTPFlag(s, &addr)
		c.AddCommand(s)
	}
	return c
}

// nodeJSON returns one node's entry of GET /cluster/nodes.
func nodeJSON(addr, id string) ([]byte, error) {
	b, err := adminCall(addr, "GET", "/cluster/nodes", nil)
	if err != nil {
		return nil, err
	}
	var nodes []json.RawMessage
	if err := json.Unmarshal(b, &nodes); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		var st broker.NodeStatus
		if json.Unmarshal(n, &st) == nil && fmt.Sprint(st.ID) == id {
			return append(n, '\n'), nil
		}
	}
	return nil, fmt.Errorf("node %s is not a member", id)
}

func newChannelCmd() *cobra.Command {
	var (
		addr string
		to   uint64
	)
	c := &cobra.Command{Use: "channel", Short: "Inspect channels (via a node's HTTP API)"}
	var (
		prefix, after string
		limit         int
		all           bool
	)
	ls := &cobra.Command{Use: "ls [--prefix P] [--after NAME] [--limit N | --all]",
		Short: "List channels by name, a page at a time: shard, replicas, leader, hot/cold", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && limit != 0 {
				return fmt.Errorf("--all and --limit do not go together")
			}
			var list broker.ChannelList
			for {
				q := url.Values{}
				if prefix != "" {
					q.Set("prefix", prefix)
				}
				if after != "" {
					q.Set("after", after)
				}
				if limit != 0 {
					q.Set("limit", fmt.Sprint(limit))
				}
				b, err := adminCall(addr, "GET", "/channels?"+q.Encode(), nil)
				if err != nil {
					return err
				}
				if !all {
					return printer(cmd, b)
				}
				var page broker.ChannelList
				if err := json.Unmarshal(b, &page); err != nil {
					return fmt.Errorf("GET /channels: %w", err)
				}
				list.Channels = append(list.Channels, page.Channels...)
				if after = page.Next; after == "" {
					break
				}
			}
			b, _ := json.MarshalIndent(list, "", "  ")
			return printer(cmd, append(b, '\n'))
		}}
	ls.Flags().StringVar(&prefix, "prefix", "", "only channels whose name starts with this")
	ls.Flags().StringVar(&after, "after", "", "start after this name (a page's \"next\")")
	ls.Flags().IntVar(&limit, "limit", 0, "at most this many (default: the server's page, 1000)")
	ls.Flags().BoolVar(&all, "all", false, "follow \"next\" and list every matching channel")
	info := &cobra.Command{Use: "info CHANNEL", Short: "One channel: shard, replicas, leader, last seq, messages, bytes", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := adminCall(addr, "GET", "/channels/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			return printer(cmd, b)
		}}
	transfer := &cobra.Command{Use: "transfer-leader CHANNEL --to NODE_ID", Short: "Move a channel's Raft leadership to another replica node", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == 0 {
				return fmt.Errorf("--to NODE_ID is required")
			}
			b, err := adminCall(addr, "POST", "/channels/"+url.PathEscape(args[0])+"/transfer-leader", map[string]uint64{"to": to})
			if err != nil {
				return err
			}
			return printer(cmd, b)
		}}
	transfer.Flags().Uint64Var(&to, "to", 0, "node id to lead the channel")
	for _, s := range []*cobra.Command{ls, info, transfer} {
		addHTTPFlag(s, &addr)
		c.AddCommand(s)
	}
	return c
}
