package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// The JSON admin API on the HTTP listener: cluster membership and channels as this node sees them.

// NodeStatus is one node in GET /cluster/nodes.
type NodeStatus struct {
	ID          uint64         `json:"id"`
	Raft        string         `json:"raft"`
	Client      string         `json:"client"`
	HTTP        string         `json:"http"`
	Up          bool           `json:"up"`
	State       string         `json:"state"` // active, pending (added, not started), draining (being removed), removed
	Removed     bool           `json:"removed,omitempty"`
	Meta        string         `json:"meta,omitempty"` // role in the metadata group: voter or non-voting
	Replicas    int            `json:"replicas"`       // channel replicas it holds
	ChannelsLed int            `json:"channels_led"`   // among channels whose shard runs on this node
	Drain       *drainProgress `json:"drain,omitempty"`
}

// ClusterStatus is GET /cluster/status.
type ClusterStatus struct {
	NodeID     uint64 `json:"node_id"`
	Ready      bool   `json:"ready"`
	MetaLeader uint64 `json:"meta_leader"` // node id leading the metadata group, 0 if unknown
	// MetaShard is the metadata group this node uses: 2 (the on-disk registry), or 1 (the legacy group
	// of data dirs from older builds) until its migration switches it.
	MetaShard uint64 `json:"meta_shard"`
	// Migration is this node's migration from the legacy group, when it runs one (cluster.MigrationStatus).
	Migration *cluster.MigrationStatus `json:"migration,omitempty"`
	Nodes     int                      `json:"nodes"`
	NodesUp   int                      `json:"nodes_up"`
	Channels  uint64                   `json:"channels"`
	Hot       int                      `json:"hot_channels"` // replica running on this node (hot or warm)
}

// ChannelList is GET /channels: one page of the registry, by name.
type ChannelList struct {
	Channels []ChannelStatus `json:"channels"`
	// Next is the name to pass as ?after= for the next page; empty when this page is the last.
	Next string `json:"next"`
}

// ChannelStatus is one channel in GET /channels and GET /channels/{name}.
type ChannelStatus struct {
	Name     string          `json:"name"`
	ShardID  uint64          `json:"shard_id"`
	Replicas []store.Replica `json:"replicas"`
	Leader   uint64          `json:"leader"` // node id, 0 if unknown here (cold channel)
	// State on this node: hot (the channel's actor runs here), warm (its replica runs here for an actor
	// on another node) or cold (not loaded here).
	State    string `json:"state"`
	FirstSeq uint64 `json:"first_seq,omitempty"` // the oldest stored message's (last_seq+1 when none is)
	LastSeq  uint64 `json:"last_seq,omitempty"`
	Messages uint64 `json:"messages,omitempty"`
	Bytes    uint64 `json:"bytes,omitempty"`
	// Retention is the settings the channel last applied: limits or interest ("" before any).
	Retention string `json:"retention,omitempty"`
	// Subscribers: this node's client connections subscribed to the channel (each node counts its own).
	Subscribers int `json:"subscribers"`
}

func (b *Broker) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cluster/status", b.readable(b.httpStatus))
	mux.HandleFunc("GET /cluster/nodes", b.readable(b.httpNodes))
	mux.HandleFunc("POST /cluster/nodes", b.adminOnly(b.httpAddNode))
	mux.HandleFunc("DELETE /cluster/nodes/{id}", b.adminOnly(b.httpRemoveNode))
	mux.HandleFunc("GET /channels", b.readable(b.httpChannels))
	mux.HandleFunc("GET /channels/{name}", b.readable(b.httpChannel))
	mux.HandleFunc("POST /channels/{name}/transfer-leader", b.adminOnly(b.httpTransfer))
	b.consumerRoutes(mux)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (b *Broker) metaOrErr(w http.ResponseWriter) *cluster.Meta {
	m := b.metaPtr.Load()
	if m == nil || !m.Ready() {
		writeErr(w, http.StatusServiceUnavailable, cluster.ErrNotReady)
		return nil
	}
	return m
}

// leaderNode returns the node leading a shard as this node sees it, when the shard runs here.
func (b *Broker) leaderNode(info *store.ChannelInfo) (uint64, bool) {
	leader, _, ok, err := b.nh.GetLeaderID(info.ShardID)
	if err != nil {
		return 0, false // not running here
	}
	if ok {
		for _, r := range info.Replicas {
			if r.ReplicaID == leader {
				return r.NodeID, true
			}
		}
	}
	return 0, true
}

func (b *Broker) channelStatus(info *store.ChannelInfo) ChannelStatus {
	cs := ChannelStatus{Name: info.Name, ShardID: info.ShardID, Replicas: info.Replicas, State: "cold", Subscribers: b.gw.Subscribers(info.Name)}
	if leader, running := b.leaderNode(info); running {
		cs.State, cs.Leader = "warm", leader
		if b.env.Hot(info.Name) {
			cs.State = "hot"
		}
	}
	if st, ok, err := b.db.ShardState(info.ShardID); err == nil && ok {
		cs.FirstSeq, cs.LastSeq, cs.Messages, cs.Bytes = st.FirstSeq, st.LastSeq, st.Msgs, st.Bytes
		if st.Configured {
			cs.Retention = "limits"
			if st.Config.Interest {
				cs.Retention = "interest"
			}
		}
	}
	return cs
}

func (b *Broker) httpStatus(w http.ResponseWriter, _ *http.Request) {
	m := b.metaPtr.Load()
	st := ClusterStatus{NodeID: b.cfg.NodeID, Ready: b.Ready()}
	if m == nil {
		writeJSON(w, http.StatusOK, st)
		return
	}
	st.MetaShard = m.ShardID()
	if mig, ok := m.Migration(); ok {
		st.Migration = &mig
	}
	if leader, _, ok, err := b.nh.GetLeaderID(st.MetaShard); err == nil && ok {
		st.MetaLeader = leader // metadata replica ids are node ids
	}
	if nodes, err := m.Nodes(); err == nil {
		for _, n := range nodes {
			if !n.Removed {
				st.Nodes++
				if b.up(n.ID) {
					st.NodesUp++
				}
			}
		}
	}
	if stats, err := m.Stats(); err == nil {
		st.Channels = stats.Channels
	}
	st.Hot = len(b.channelShards())
	writeJSON(w, http.StatusOK, st)
}

func (b *Broker) httpNodes(w http.ResponseWriter, _ *http.Request) {
	if m := b.metaOrErr(w); m != nil {
		writeJSON(w, http.StatusOK, b.nodeStatuses(m))
	}
}

// httpChannels: GET /channels?prefix=P&after=NAME&limit=N, one page of the channels whose name starts
// with P, by name, after NAME (the previous page's next), at most N (default 1000, at most 10,000).
func (b *Broker) httpChannels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := store.DefaultChannelPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxChannelPage {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a number from 1 to %d", v, store.MaxChannelPage))
			return
		}
		limit = n
	}
	for _, k := range []string{"prefix", "after"} {
		if v := q.Get(k); len(v) > protocol.MaxChannelLen {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("%s is %d bytes: channel names have at most %d", k, len(v), protocol.MaxChannelLen))
			return
		}
	}
	m := b.metaOrErr(w)
	if m == nil {
		return
	}
	page, err := m.ChannelPage(q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	out := ChannelList{Channels: make([]ChannelStatus, 0, len(page.Channels)), Next: page.Next}
	for i := range page.Channels {
		out.Channels = append(out.Channels, b.channelStatus(&page.Channels[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// channelShards lists the channel shards whose replica runs on this node.
func (b *Broker) channelShards() []dragonboat.ShardInfo {
	info := b.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
	if info == nil {
		return nil
	}
	out := info.ShardInfoList[:0]
	for _, si := range info.ShardInfoList {
		if si.ShardID >= store.FirstChannelShardID {
			out = append(out, si)
		}
	}
	return out
}

func (b *Broker) channelInfo(w http.ResponseWriter, r *http.Request) *store.ChannelInfo {
	m := b.metaOrErr(w)
	if m == nil {
		return nil
	}
	info, err := m.Channel(r.Context(), r.PathValue("name"), false)
	if errors.Is(err, store.ErrChannelNotFound) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("channel %q not found", r.PathValue("name")))
		return nil
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return nil
	}
	return info
}

func (b *Broker) httpChannel(w http.ResponseWriter, r *http.Request) {
	if info := b.channelInfo(w, r); info != nil {
		writeJSON(w, http.StatusOK, b.channelStatus(info))
	}
}

// httpTransfer moves a channel's leadership to another replica node: {"to": NODE_ID}. It goes through
// the channel's actor (activating the channel if cold), which holds new proposals while the transfer
// runs, so no publish is dropped by it, and leaves the leadership there for a minute before it pulls it
// back to its own node (leaders follow the evenly spread actors).
func (b *Broker) httpTransfer(w http.ResponseWriter, r *http.Request) {
	info := b.channelInfo(w, r)
	if info == nil {
		return
	}
	var req struct {
		To uint64 `json:"to"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.To == 0 {
		writeErr(w, http.StatusBadRequest, errors.New(`body must be {"to": NODE_ID}`))
		return
	}
	if info.ReplicaOn(req.To) == 0 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("node %d holds no replica of %s", req.To, info.Name))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for {
		// Best effort in Raft: ask again until it happens or the deadline passes.
		leader, err := b.transferLeader(ctx, info.Name, req.To)
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, err)
			return
		}
		if leader == req.To {
			cs := b.channelStatus(info)
			cs.Leader = leader
			writeJSON(w, http.StatusOK, cs)
			return
		}
		select {
		case <-ctx.Done():
			writeErr(w, http.StatusGatewayTimeout, fmt.Errorf("leadership of %s did not move to node %d", info.Name, req.To))
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// transferLeader asks the channel's actor to move the leadership to node to and returns the leader node.
func (b *Broker) transferLeader(ctx context.Context, name string, to uint64) (uint64, error) {
	pid := b.actors.Cluster.Get(name, actors.Kind)
	if pid == nil {
		return 0, fmt.Errorf("channel %s could not be activated", name)
	}
	d := time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	res, err := b.actors.System.Root.RequestFuture(pid, cluster.WrapOrSelf(&actors.TransferLeader{Channel: name, To: to}), d).Result()
	if err != nil {
		return 0, err
	}
	v, err := cluster.Unwrap(res)
	if err != nil {
		return 0, err
	}
	lt, ok := v.(*actors.LeaderTransferred)
	if !ok {
		return 0, fmt.Errorf("unexpected answer %T", v)
	}
	if lt.Err != "" {
		return 0, errors.New(lt.Err)
	}
	return lt.Leader, nil
}

// ReplicaMessages reads this node's replica of channel, from seq from on (at most max messages), straight
// from the node's store: what the replica holds as of its last apply, whether or not the channel is
// active. ok is false when the channel is unknown or has no replica on this node. The testkit's checkers
// compare replicas with it.
func (b *Broker) ReplicaMessages(ctx context.Context, channel string, from uint64, max int) (msgs []store.Message, ok bool, err error) {
	m := b.metaPtr.Load()
	if m == nil {
		return nil, false, cluster.ErrNotReady
	}
	info, err := m.Channel(ctx, channel, false)
	if errors.Is(err, store.ErrChannelNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	here := false
	for _, r := range info.Replicas {
		here = here || r.NodeID == b.cfg.NodeID
	}
	if !here {
		return nil, false, nil
	}
	msgs, err = b.db.ShardMessages(info.ShardID, from, max)
	return msgs, err == nil, err
}

// authFailDelay is how long after it arrived a failed login is answered, on the client listener and
// the admin API alike: the same for every failure, so its timing tells nothing about what was wrong.
const authFailDelay = 500 * time.Millisecond

// adminOnly lets a request through when the node has no users, or when it carries the credentials of
// an admin user: HTTP basic auth (user and password) or "Authorization: Bearer TOKEN".
func (b *Broker) adminOnly(h http.HandlerFunc) http.HandlerFunc { return b.requireLogin(true, h) }

// readable lets a read through unless auth.protect_reads asks for a login (any user's).
func (b *Broker) readable(h http.HandlerFunc) http.HandlerFunc {
	if !b.cfg.Auth.ProtectReads {
		return h
	}
	return b.requireLogin(false, h)
}

func (b *Broker) requireLogin(admin bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if b.auth == nil {
			h(w, r)
			return
		}
		began := time.Now()
		user, pass, basic := r.BasicAuth()
		var token string
		if !basic {
			token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		id, err := b.auth.Login(user, pass, token)
		if err != nil {
			b.Metrics.AuthFailures.Inc()
			time.Sleep(time.Until(began.Add(authFailDelay))) // net/http's goroutine for this request
			w.Header().Set("WWW-Authenticate", `Basic realm="sampan"`)
			writeErr(w, http.StatusUnauthorized, errors.New("authentication failed: a user's credentials are required"))
			return
		}
		if admin && !id.Admin {
			b.Metrics.Denied.Inc()
			writeErr(w, http.StatusForbidden, fmt.Errorf("user %q is not an admin", id.Name))
			return
		}
		h(w, r)
	}
}
