package broker

// The NATS bridge's place in a node: its Host (the metadata group, this node's client listener and
// store), GET /bridges, and its metrics.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/metrics"
)

// startBridge creates and starts the bridge when the config has rules. It runs only while this node
// leads the metadata group (see package bridge); NATS being down never fails the start.
func (b *Broker) startBridge() error {
	if !b.cfg.NATS.Enabled() {
		return nil
	}
	br, err := bridge.New(b.cfg.NATS, bridgeHost{b}, b.cfg.NodeID, b.log)
	if err != nil {
		return err
	}
	b.bridge = br
	metrics.RegisterBridge(b.Registry, br.MetricsView)
	br.Start()
	return nil
}

// Bridge returns the node's NATS bridge, nil when none is configured.
func (b *Broker) Bridge() *bridge.Bridge { return b.bridge }

func (b *Broker) httpBridges(w http.ResponseWriter, _ *http.Request) {
	if b.bridge == nil {
		writeJSON(w, http.StatusOK, bridge.Status{Rules: []bridge.RuleStatus{}})
		return
	}
	writeJSON(w, http.StatusOK, b.bridge.Status())
}

// bridgeHost implements bridge.Host over this node.
type bridgeHost struct{ b *Broker }

func (h bridgeHost) Leader() bool {
	m := h.b.metaPtr.Load()
	return m != nil && m.Leader()
}

func (h bridgeHost) ClientAddr() string { return h.b.Addr() }

// ClientOptions: over TLS, the bridge trusts exactly this node's own certificate (it connects to
// itself) and presents it as its client certificate (with client_auth, the node's certificate must
// then be signed by ca_file and allow client authentication, as one cluster CA's certificates do).
// With users, it logs in with the token the node made for it (auth.Authenticator.Internal).
func (h bridgeHost) ClientOptions() []client.Option {
	var opts []client.Option
	if h.b.bridgeToken != "" {
		opts = append(opts, client.WithToken(h.b.bridgeToken))
	}
	srv := h.b.tlsCfg
	if srv == nil {
		return opts
	}
	own := srv.Certificates[0]
	return append(opts, client.WithTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       srv.Certificates,
		InsecureSkipVerify: true, // replaced by the pin below: the peer must be this very node
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own.Certificate[0]) {
				return errors.New("sampan: bridge: the client listener presented a certificate other than this node's")
			}
			return nil
		},
	}))
}

func (h bridgeHost) Channels(_ context.Context, prefix, after string, limit int) ([]string, string, error) {
	m := h.b.metaPtr.Load()
	if m == nil {
		return nil, "", nil
	}
	page, err := m.ChannelPage(prefix, after, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]string, len(page.Channels))
	for i := range page.Channels {
		out[i] = page.Channels[i].Name
	}
	return out, page.Next, nil
}

func (h bridgeHost) Cursors(ctx context.Context, rule string) (map[string]uint64, error) {
	return h.b.metaPtr.Load().BridgeCursors(ctx, rule)
}

func (h bridgeHost) SaveCursors(ctx context.Context, rule string, cursors map[string]uint64) error {
	return h.b.metaPtr.Load().SaveBridgeCursors(ctx, rule, cursors)
}

// LastSeq reads this node's replica of the channel, if it has one (in a cluster the node running the
// bridge may not; the lag then counts what the bridge has seen).
func (h bridgeHost) LastSeq(channel string) (uint64, bool) {
	m := h.b.metaPtr.Load()
	if m == nil {
		return 0, false
	}
	info, err := m.Channel(context.Background(), channel, false)
	if err != nil {
		return 0, false
	}
	st, ok, err := h.b.db.ShardState(info.ShardID)
	if err != nil || !ok {
		return 0, false
	}
	return st.LastSeq, true
}
