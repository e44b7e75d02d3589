package client

import (
	"crypto/tls"
	"time"

	"github.com/rs/zerolog"
)

// Option configures Connect.
type Option func(*options)

type options struct {
	name         string
	maxInflight  int
	dialTimeout  time.Duration
	log          zerolog.Logger
	reconnect    bool
	reconnectFor time.Duration
	routing      bool
	tls          *tls.Config // nil: plain TCP
	user, pass   string
	token        string
}

// WithUserPassword logs in as user with password (a server with users requires a login).
func WithUserPassword(user, password string) Option {
	return func(o *options) { o.user, o.pass = user, password }
}

// WithToken logs in with a token.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithRouting sets whether the client publishes each channel through the node that serves it (default
// true): a server that forwards a channel to another node names that node (ROUTE), and the client
// opens a connection to it on demand. Publishes of a channel stay in order when they move. Off, every
// request goes through the one connection, and the servers forward.
func WithRouting(enabled bool) Option { return func(o *options) { o.routing = enabled } }

// WithReconnect sets whether the client reconnects (to any server of its list) when its connection
// breaks, resuming subscriptions where they were; default true. reconnectFor bounds how long it keeps
// trying before the client ends with ErrConnectionLost (0: the default, 2 minutes).
func WithReconnect(enabled bool, reconnectFor time.Duration) Option {
	return func(o *options) {
		o.reconnect = enabled
		if reconnectFor > 0 {
			o.reconnectFor = reconnectFor
		}
	}
}

// WithName names the connection (shown in server logs).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithMaxInflight bounds unacknowledged publishes (the PublishAsync window). The server's own limit,
// announced on connect, caps it. Default 1024.
func WithMaxInflight(n int) Option { return func(o *options) { o.maxInflight = n } }

// WithDialTimeout bounds each connection attempt (TCP connect and handshake). Default 5s.
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithLogger sets where the client logs connection problems. Default: nothing is logged.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// PubOption configures one publish.
type PubOption func(*pubOptions)

type pubOptions struct {
	headers map[string]string
	idemKey string
}

// WithHeaders attaches headers to the message.
func WithHeaders(h map[string]string) PubOption { return func(p *pubOptions) { p.headers = h } }

// WithIdempotencyKey makes the publish idempotent: a repeat with the same key within the channel's
// dedupe window returns the first publish's seq and stores nothing.
func WithIdempotencyKey(k string) PubOption { return func(p *pubOptions) { p.idemKey = k } }

// SubOption configures a subscription.
type SubOption func(*subOptions)

type subOptions struct{ window uint32 }

// WithWindow sets how many messages of this subscription the server may send before the handler has
// consumed them (0: the server default, 1024). The server caps it at its announced maximum. The client
// buffers at most this many messages per subscription.
func WithWindow(n int) SubOption { return func(o *subOptions) { o.window = uint32(n) } }
