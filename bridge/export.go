package bridge

// Export: Sampan channels -> NATS subjects, at least once, in seq order per channel.
//
// Per channel, one exporter subscribes (through the Sampan client) from its cursor + 1 and publishes
// each message to NATS. What counts as accepted by NATS:
//   - core NATS: everything published before a successful Flush (PING/PONG) on the same connection,
//     provided the connection did not reconnect in between (a reconnect may have dropped what was in
//     the socket): the reconnect count is the connection's epoch, checked around the flush;
//   - JetStream: the stream's PubAck for the message (Nats-Msg-Id CHANNEL:SEQ lets the stream drop
//     re-sends).
//
// The confirmed seq only moves forward through accepted messages, in order. Anything that goes wrong (a
// publish fails, NATS reconnects, an ack errs) ends the exporter's run; the next run subscribes again
// from confirmed + 1 once NATS is connected. So a failure re-sends at most what was not confirmed, and
// never skips. Confirmed seqs are written to the metadata group every saveEvery (batched over the rule's
// channels) and when the bridge stops; after a crash the tail since the last write is exported again.

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sampan-io/sampan/client"
)

// exportWindow is the Sampan subscription window per exported channel (what the client may buffer for
// it: 256 measured as fast as 1024 with one channel, and bounds memory with many); jsMaxPending bounds the
// JetStream publishes awaiting a PubAck per channel.
const (
	exportWindow = 256
	jsMaxPending = 512
)

var errReconnected = errors.New("sampan: NATS reconnected; resending what it had not confirmed")

// scanPage is how many channel names one registry listing of a scan returns.
const scanPage = 1000

type exportRule struct {
	b     *Bridge
	cfg   ExportRule
	stats ruleStats
}

// run exports the rule's channels until ctx ends, then confirms and saves what it can.
func (r *exportRule) run(ctx context.Context, s *session) {
	b := r.b
	cursors := r.loadCursors(ctx)
	if cursors == nil {
		return
	}
	exporters := map[string]*exporter{}
	var wg sync.WaitGroup
	// scan starts an exporter for each matching channel that has none: it lists the registry by the
	// rule's prefix, a page at a time, so it reads only the names the rule can match.
	prefix := r.cfg.mapping.From.Prefix()
	scan := func() {
		for after := ""; ; {
			names, next, err := b.host.Channels(ctx, prefix, after, scanPage)
			if err != nil {
				r.stats.fail(err)
				return
			}
			for _, name := range names {
				if exporters[name] != nil {
					continue
				}
				subj, ok := r.cfg.mapping.Map(name)
				if !ok {
					continue
				}
				e := &exporter{r: r, s: s, channel: name, subject: subj, confirmed: cursors[name], saved: cursors[name],
					kick: make(chan struct{}, 1), room: make(chan struct{}, 1)}
				exporters[name] = e
				wg.Add(1)
				go func() { defer wg.Done(); e.run(ctx) }()
			}
			r.stats.channels.Store(int64(len(exporters)))
			if after = next; after == "" {
				return
			}
		}
	}
	scan()
	r.stats.running.Store(true)
	defer r.stats.running.Store(false)
	confirm := time.NewTicker(b.confirmTick)
	defer confirm.Stop()
	lastSave, lastScan := time.Now(), time.Now()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-confirm.C:
		}
		if !r.cfg.JetStream {
			r.confirmCore(s.nc, exporters)
		}
		if time.Since(lastSave) >= b.saveEvery {
			lastSave = time.Now()
			r.save(ctx, exporters)
			r.updateLag(exporters)
		}
		if time.Since(lastScan) >= b.scanEvery {
			lastScan = time.Now()
			scan()
		}
	}
	wg.Wait() // every exporter's subscription has ended: nothing more is sent
	if !r.cfg.JetStream {
		r.confirmCore(s.nc, exporters)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.save(sctx, exporters)
	r.updateLag(exporters)
}

func (r *exportRule) loadCursors(ctx context.Context) map[string]uint64 {
	bo := newBackoff()
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := r.b.host.Cursors(cctx, r.cfg.Name)
		cancel()
		if err == nil {
			return c
		}
		r.stats.fail(err)
		if !bo.wait(ctx) {
			return nil
		}
	}
}

// confirmCore flushes the NATS connection and, if no reconnect happened around it, marks everything
// each exporter had published before the flush as accepted.
func (r *exportRule) confirmCore(nc *nats.Conn, exporters map[string]*exporter) {
	type snap struct {
		e           *exporter
		sent, epoch uint64
	}
	var snaps []snap
	for _, e := range exporters {
		e.mu.Lock()
		if e.sent > e.confirmed {
			snaps = append(snaps, snap{e, e.sent, e.epoch})
		}
		e.mu.Unlock()
	}
	if len(snaps) == 0 || !nc.IsConnected() {
		return // a flush while reconnecting would only wait out its timeout and hold up the rule's loop
	}
	ep0 := nc.Stats().Reconnects
	// A run whose unconfirmed publishes went out before a reconnect may have lost them, and if it has
	// nothing more to publish no publish error will end it: end it here, so that it resends from
	// confirmed.
	live := snaps[:0]
	for _, sn := range snaps {
		if sn.epoch != ep0 {
			sn.e.breakRun(errReconnected)
		} else {
			live = append(live, sn)
		}
	}
	if len(live) == 0 {
		return
	}
	err := nc.FlushTimeout(2 * time.Second)
	if err != nil || nc.Stats().Reconnects != ep0 {
		return // the next call ends the runs of the old epoch
	}
	for _, sn := range live {
		sn.e.mu.Lock()
		sn.e.confirmed = max(sn.e.confirmed, sn.sent)
		sn.e.mu.Unlock()
	}
}

// save writes the cursors that moved since the last write, in one metadata proposal.
func (r *exportRule) save(ctx context.Context, exporters map[string]*exporter) {
	batch := map[string]uint64{}
	for name, e := range exporters {
		e.mu.Lock()
		if e.confirmed > e.saved {
			batch[name] = e.confirmed
		}
		e.mu.Unlock()
	}
	if len(batch) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.b.host.SaveCursors(sctx, r.cfg.Name, batch); err != nil {
		r.stats.fail(err)
		return
	}
	for name, seq := range batch {
		e := exporters[name]
		e.mu.Lock()
		e.saved = max(e.saved, seq)
		e.mu.Unlock()
	}
}

// updateLag sums, over the rule's channels, how far the confirmed seq is behind the channel's tip.
func (r *exportRule) updateLag(exporters map[string]*exporter) {
	var lag uint64
	for name, e := range exporters {
		tip, _ := r.b.host.LastSeq(name)
		e.mu.Lock()
		tip = max(tip, e.seen)
		if tip > e.confirmed {
			lag += tip - e.confirmed
		}
		e.mu.Unlock()
	}
	r.stats.lag.Store(lag)
}

// exporter exports one channel.
type exporter struct {
	r                *exportRule
	s                *session
	channel, subject string

	mu        sync.Mutex
	confirmed uint64 // NATS accepted every message up to here (or it needed no export)
	saved     uint64 // the cursor as last written to the metadata group
	sent      uint64 // last seq handed to NATS in this run
	seen      uint64 // highest seq received (for the lag)
	epoch     uint64 // core: the connection's reconnect count when this run started
	pending   []pendingPub
	stopRun   context.CancelCauseFunc

	kick chan struct{} // JetStream: a publish was added to pending
	room chan struct{} // JetStream: pending shrank
}

// pendingPub is a JetStream publish awaiting its PubAck; fut is nil for a message that needs no export
// (it only has to wait for the ones before it).
type pendingPub struct {
	seq uint64
	fut jetstream.PubAckFuture
}

// run repeats runs until ctx ends: wait for NATS, subscribe from confirmed+1, export until something
// breaks.
func (e *exporter) run(ctx context.Context) {
	bo := newBackoff()
	for {
		if !waitConnected(ctx, e.s.nc) {
			return
		}
		started := time.Now()
		runCtx, stop := context.WithCancelCause(ctx)
		e.mu.Lock()
		e.sent, e.pending, e.epoch, e.stopRun = e.confirmed, nil, e.s.nc.Stats().Reconnects, stop
		from := e.confirmed + 1
		e.mu.Unlock()
		sub, err := e.s.sc.Subscribe(runCtx, e.channel, client.StartAtSeq(from), e.handler(runCtx), client.WithWindow(exportWindow))
		if err != nil {
			stop(err)
			if ctx.Err() != nil {
				return
			}
			e.r.stats.fail(err)
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		var ackerDone chan struct{}
		if e.r.cfg.JetStream {
			ackerDone = make(chan struct{})
			go func() { defer close(ackerDone); e.acker(runCtx) }()
		}
		select {
		case <-runCtx.Done():
		case <-sub.Done():
			stop(sub.Err())
		}
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = sub.Unsubscribe(uctx)
		cancel()
		<-sub.Done() // the handler has returned: this run publishes nothing more
		if ackerDone != nil {
			<-ackerDone
		}
		if ctx.Err() != nil {
			return
		}
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			e.r.stats.fail(cause)
			e.r.b.log.Debug().Err(cause).Str("channel", e.channel).Msg("nats bridge: export resumes from its cursor")
		}
		if time.Since(started) > 5*time.Second {
			bo.reset() // a run that worked for a while: the next failure is a new one
		}
		if !bo.wait(ctx) {
			return
		}
	}
}

func (e *exporter) breakRun(err error) {
	e.mu.Lock()
	stop := e.stopRun
	e.mu.Unlock()
	if stop != nil {
		stop(err)
	}
}

func (e *exporter) handler(runCtx context.Context) client.Handler {
	return func(m *client.Message) {
		if runCtx.Err() != nil {
			return
		}
		e.mu.Lock()
		if m.Seq <= e.sent {
			e.mu.Unlock()
			return
		}
		e.seen = max(e.seen, m.Seq)
		e.mu.Unlock()
		if m.Headers[HeaderOrigin] == OriginNATS {
			// Came from NATS: never back (loop prevention); the cursor moves past it all the same.
			e.r.stats.skipped.Add(1)
			e.mu.Lock()
			if e.r.cfg.JetStream && len(e.pending) > 0 {
				e.pending = append(e.pending, pendingPub{seq: m.Seq})
			} else if !e.r.cfg.JetStream && e.confirmed < e.sent {
				// Wait for the flush that confirms the publishes before it.
			} else {
				e.confirmed = m.Seq
			}
			e.sent = m.Seq
			e.mu.Unlock()
			return
		}
		msg := e.natsMsg(m)
		// e.epoch is written by run before it subscribes, never during a run: no lock needed. A run
		// never publishes across a reconnect: what was in flight on the old connection may be lost, and
		// publishing later messages on the new one would store them ahead of it (in JetStream mode too).
		if e.s.nc.Stats().Reconnects != e.epoch {
			e.breakRun(errReconnected)
			return
		}
		if e.r.cfg.JetStream {
			e.publishJS(runCtx, m.Seq, msg)
			return
		}
		if err := e.s.nc.PublishMsg(msg); err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				e.skipTooLarge(m.Seq, err)
				return
			}
			e.breakRun(err)
			return
		}
		e.r.stats.exported.Add(1)
		e.mu.Lock()
		e.sent = m.Seq
		e.mu.Unlock()
	}
}

// skipTooLarge gives up on a message NATS will never take (over its max_payload): blocking the channel
// forever would be worse. It is counted as an error with the seq in the message.
func (e *exporter) skipTooLarge(seq uint64, err error) {
	e.r.stats.fail(errors.New("sampan: " + e.channel + " seq " + strconv.FormatUint(seq, 10) + " not exported: " + err.Error()))
	e.mu.Lock()
	if e.r.cfg.JetStream && len(e.pending) > 0 {
		e.pending = append(e.pending, pendingPub{seq: seq})
	} else if e.r.cfg.JetStream || e.confirmed == e.sent {
		e.confirmed = seq
	}
	e.sent = seq
	e.mu.Unlock()
}

func (e *exporter) natsMsg(m *client.Message) *nats.Msg {
	h := make(nats.Header, len(m.Headers)+2)
	for k, v := range m.Headers {
		h[k] = []string{v}
	}
	h[HeaderChannel] = []string{m.Channel}
	h[HeaderSeq] = []string{strconv.FormatUint(m.Seq, 10)}
	return &nats.Msg{Subject: e.subject, Data: m.Payload, Header: h}
}

// publishJS publishes asynchronously with a Nats-Msg-Id, after waiting for room in pending (which
// holds back the Sampan subscription through its window: memory stays bounded).
func (e *exporter) publishJS(runCtx context.Context, seq uint64, msg *nats.Msg) {
	for {
		e.mu.Lock()
		n := len(e.pending)
		e.mu.Unlock()
		if n < jsMaxPending {
			break
		}
		select {
		case <-e.room:
		case <-runCtx.Done():
			return
		}
	}
	fut, err := e.s.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.channel+":"+strconv.FormatUint(seq, 10)))
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			e.skipTooLarge(seq, err)
			return
		}
		e.breakRun(err)
		return
	}
	e.mu.Lock()
	e.pending = append(e.pending, pendingPub{seq: seq, fut: fut})
	e.sent = seq
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// acker confirms JetStream publishes in seq order as their PubAcks arrive; an error ends the run.
func (e *exporter) acker(runCtx context.Context) {
	for {
		e.mu.Lock()
		var head pendingPub
		has := len(e.pending) > 0
		if has {
			head = e.pending[0]
		}
		e.mu.Unlock()
		if !has {
			select {
			case <-e.kick:
				continue
			case <-runCtx.Done():
				return
			}
		}
		if head.fut != nil {
			select {
			case <-head.fut.Ok():
				e.r.stats.exported.Add(1)
			case err := <-head.fut.Err():
				e.breakRun(err)
				return
			case <-runCtx.Done():
				return
			}
		}
		e.mu.Lock()
		e.pending = e.pending[1:]
		e.confirmed = max(e.confirmed, head.seq)
		e.mu.Unlock()
		select {
		case e.room <- struct{}{}:
		default:
		}
	}
}
