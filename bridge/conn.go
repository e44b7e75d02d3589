package bridge

// The NATS connection's options: credentials, TLS, and the reconnect policy the bridge's guarantees
// rest on.

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

func (b *Bridge) natsOptions() ([]nats.Option, error) {
	name := b.cfg.Name
	if name == "" {
		name = fmt.Sprintf("sampan-node-%d", b.nodeID)
	}
	opts := []nats.Option{
		nats.Name(name),
		// NATS down at start must not hold up the broker: Connect returns at once and keeps trying.
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			d := 50 * time.Millisecond << min(attempts, 6) // 50 ms .. 3.2 s
			d = min(d, 2*time.Second)
			return d/2 + rand.N(d/2+1)
		}),
		// No reconnect buffer: a publish while disconnected fails at once instead of being buffered and
		// maybe lost. The exporter then resumes from its cursor, which is what at-least-once rests on.
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
		// Notice a dead server within ~10 s rather than the default 4 minutes.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn().Err(err).Msg("nats bridge: disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.noteAll(fmt.Errorf("sampan: connecting to NATS: %w", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats bridge: connected to NATS")
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats bridge: connected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			// Slow consumer on a core import subscription, permission errors, ... nats.go reports a slow
			// consumer once per dropped batch: log at most one line per 5 s.
			b.errLog.Warn().Err(err).Msg("nats bridge: NATS error (repeats within 5 s not logged)")
			for _, r := range b.imports {
				if sub != nil && sub.Subject == r.cfg.Subject {
					r.stats.fail(err)
				}
			}
		}),
	}
	switch {
	case b.cfg.Token != "":
		opts = append(opts, nats.Token(b.cfg.Token))
	case b.cfg.User != "":
		opts = append(opts, nats.UserInfo(b.cfg.User, b.cfg.Password))
	case b.cfg.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(b.cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("sampan: nats nkey_file: %w", err)
		}
		opts = append(opts, o)
	case b.cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(b.cfg.CredsFile))
	}
	if t := b.cfg.TLS; t.Enabled() {
		if t.Insecure {
			opts = append(opts, nats.Secure(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // opt-in, tests
		} else {
			opts = append(opts, nats.Secure())
		}
		if t.CAFile != "" {
			opts = append(opts, nats.RootCAs(t.CAFile))
		}
		if t.CertFile != "" {
			opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
		}
	}
	return opts, nil
}

// redactURL hides passwords in a URL list for status output.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				parts[i] = u[:scheme+3] + "***" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
