package bridge

// Import: NATS subjects -> Sampan channels.
//
// Core NATS: one subscription on the rule's subject pattern; each message is published to its channel
// with PublishAsync (pipelined, in order on one connection) and the acks are awaited in order by the
// rule's acker. Core NATS is at-most-once on its own side: what NATS drops (slow consumer, bridge not
// running) is not recoverable here; a Nats-Msg-Id header becomes the idempotency key, so a publisher's
// retries are stored once.
//
// JetStream: a durable pull consumer (explicit acks). A message is acked to JetStream only after Sampan
// acked its publish, whose idempotency key is STREAM:SEQ: a replay after a crash (or a redelivery) is
// stored once, within the channel's dedupe window.
//
// Either way a publish that fails with a retryable error (timeout, unavailable, connection lost,
// shutting down) is retried with the same key until it succeeds or the bridge stops (then JetStream
// redelivers it to the next run).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/protocol"
)

// importQueue bounds the publishes in flight per import rule.
const importQueue = 1024

type importRule struct {
	b     *Bridge
	cfg   ImportRule
	stats ruleStats
}

// inflight is one import publish awaiting Sampan's ack.
type inflight struct {
	fut     *client.PubFuture
	channel string
	data    []byte
	headers map[string]string
	key     string
	js      jetstream.Msg // JetStream: acked after Sampan's ack
}

func (r *importRule) run(ctx context.Context, s *session) {
	q := make(chan inflight, importQueue)
	ackerDone := make(chan struct{})
	go func() { defer close(ackerDone); r.acker(ctx, s, q) }()
	if r.cfg.JetStream {
		r.runJetStream(ctx, s, q)
	} else {
		r.runCore(ctx, s, q)
	}
	<-ackerDone
}

func (r *importRule) runCore(ctx context.Context, s *session, q chan<- inflight) {
	// nats.go delivers one subscription's messages on one goroutine, in order.
	sub, err := s.nc.Subscribe(r.cfg.Subject, func(m *nats.Msg) { r.handle(ctx, s, q, m, nil) })
	if err != nil {
		r.stats.fail(err)
		<-ctx.Done()
		return
	}
	_ = sub.SetPendingLimits(64*1024, 64<<20)
	// Once connected, a flush round-trip makes sure the server has the subscription before the rule
	// reports itself running (core NATS delivers only to subscriptions it knows).
	if waitConnected(ctx, s.nc) {
		_ = s.nc.FlushTimeout(5 * time.Second)
	}
	r.stats.running.Store(true)
	<-ctx.Done()
	r.stats.running.Store(false)
	_ = sub.Unsubscribe()
}

func (r *importRule) runJetStream(ctx context.Context, s *session, q chan<- inflight) {
	bo := newBackoff()
	for {
		if !waitConnected(ctx, s.nc) {
			return
		}
		cc, err := r.consume(ctx, s, q)
		if err != nil {
			r.stats.fail(err)
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		bo.reset()
		r.stats.running.Store(true)
		select {
		case <-ctx.Done():
		case <-cc.Closed():
		}
		r.stats.running.Store(false)
		cc.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// consume creates (or updates) the rule's durable consumer and starts consuming it.
func (r *importRule) consume(ctx context.Context, s *session, q chan<- inflight) (jetstream.ConsumeContext, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream := r.cfg.Stream
	if stream == "" {
		var err error
		if stream, err = s.js.StreamNameBySubject(cctx, r.cfg.Subject); err != nil {
			return nil, fmt.Errorf("sampan: import %s: no JetStream stream captures %s: %w", r.cfg.Name, r.cfg.Subject, err)
		}
	}
	cons, err := s.js.CreateOrUpdateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable: r.cfg.Durable, FilterSubject: r.cfg.Subject,
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		// Acks wait for Sampan's durable ack; redeliver what was not acked after 30 s (well inside the
		// default 2 min dedupe window, so a redelivery is recognised).
		AckWait: 30 * time.Second, MaxAckPending: importQueue,
	})
	if err != nil {
		return nil, fmt.Errorf("sampan: import %s: consumer %s on stream %s: %w", r.cfg.Name, r.cfg.Durable, stream, err)
	}
	return cons.Consume(func(m jetstream.Msg) { r.handle(ctx, s, q, nil, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				r.stats.fail(err)
			}
		}),
		jetstream.PullMaxMessages(256))
}

// handle maps one NATS message (core: cm; JetStream: jm) and queues its publish.
func (r *importRule) handle(ctx context.Context, s *session, q chan<- inflight, cm *nats.Msg, jm jetstream.Msg) {
	var (
		subject string
		hdr     nats.Header
		data    []byte
		key     string
	)
	if jm != nil {
		subject, hdr, data = jm.Subject(), jm.Headers(), jm.Data()
		md, err := jm.Metadata()
		if err != nil {
			r.stats.fail(err)
			_ = jm.Term()
			return
		}
		key = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	} else {
		subject, hdr, data = cm.Subject, cm.Header, cm.Data
		key = hdr.Get(HeaderMsgID)
	}
	if _, ok := hdr[HeaderChannel]; ok {
		// Exported by a Sampan bridge: never import it back (loop prevention).
		r.stats.skipped.Add(1)
		if jm != nil {
			_ = jm.Ack()
		}
		return
	}
	channel, ok := r.cfg.mapping.Map(subject)
	err := protocol.ValidateChannel(channel)
	if !ok || err != nil {
		r.stats.fail(fmt.Errorf("sampan: import %s: subject %q gives no valid channel name: %v", r.cfg.Name, subject, err))
		if jm != nil {
			_ = jm.Term() // redelivering it would fail the same way forever
		}
		return
	}
	headers := make(map[string]string, len(hdr)+3)
	for k, v := range hdr {
		if len(v) > 0 {
			headers[k] = v[0] // Sampan headers hold one value per key
		}
	}
	headers[HeaderOrigin] = OriginNATS
	headers[HeaderSubject] = subject
	if cm != nil && cm.Reply != "" {
		headers[HeaderReply] = cm.Reply
	}
	it := inflight{channel: channel, data: data, headers: headers, key: key, js: jm}
	fut, err := s.sc.PublishAsync(ctx, channel, data, client.WithHeaders(headers), client.WithIdempotencyKey(key))
	if err != nil {
		if ctx.Err() != nil {
			return // stopping; JetStream redelivers to the next run
		}
		if !retryable(err) {
			r.permanent(it, err)
			return
		}
		// Let the acker retry it in order.
	}
	it.fut = fut
	select {
	case q <- it:
	case <-ctx.Done():
	}
}

// acker waits for the queued publishes in order, retries what failed for a transient reason, and acks
// JetStream messages once stored.
func (r *importRule) acker(ctx context.Context, s *session, q <-chan inflight) {
	for {
		var it inflight
		select {
		case it = <-q:
		case <-ctx.Done():
			return
		}
		var err error
		if it.fut != nil {
			select {
			case <-it.fut.Done():
				_, err = it.fut.Result()
			case <-ctx.Done():
				return
			}
		} else {
			err = client.ErrConnectionLost // never sent: retry below
		}
		bo := newBackoff()
		for err != nil && retryable(err) {
			r.stats.fail(err)
			if !bo.wait(ctx) {
				return
			}
			_, err = s.sc.Publish(ctx, it.channel, it.data, client.WithHeaders(it.headers), client.WithIdempotencyKey(it.key))
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.permanent(it, err)
			continue
		}
		r.stats.imported.Add(1)
		if it.js != nil {
			_ = it.js.Ack()
		}
	}
}

// permanent records a message Sampan will never take (payload too large, ...). JetStream is told not to
// redeliver it.
func (r *importRule) permanent(it inflight, err error) {
	r.stats.fail(fmt.Errorf("sampan: import %s: %s: %w", r.cfg.Name, it.channel, err))
	if it.js != nil {
		_ = it.js.TermWithReason(err.Error())
	}
}

func retryable(err error) bool {
	for _, e := range []error{client.ErrTimeout, client.ErrUnavailable, client.ErrConnectionLost, client.ErrShuttingDown,
		client.ErrTooManyInflight, client.ErrInternal} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
