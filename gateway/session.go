package gateway

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/auth"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// A session is one client connection: a reader goroutine that parses frames and batches publishes, the
// session actor that owns the connection's state (publish pipelines, subscriptions, requests to channel
// actors), and a writer goroutine. Only Receive touches the actor's state.
//
// Channel activations can stop at any moment (passivation), and a stopping actor drops what is left in
// its mailbox without a dead letter. So the session watches every activation it talks to and, on its
// Terminated, redoes whatever that activation left unanswered: publish batches (publish.go) and
// Resolve/Fetch requests (below).

// Messages from the reader goroutine.
type pubBatch struct{ pubs []*actors.Publish }
type subFrame struct{ sub *protocol.Sub }
type unsubFrame struct{ sid uint64 }
type creditFrame struct {
	sid uint64
	n   uint32
}
type connClosed struct{ err error }

// Messages to self.
type resendFor struct {
	pid  *actor.PID
	lost bool // the activation's node is gone: what it was given may or may not have been proposed
}
type retryReq struct{ id uint64 }
type keepaliveTick struct{}

// reqTick makes the session resend Resolves and Fetches left unanswered for reqResendAfter. Messages
// between nodes are at-most-once: one lost to a broken connection while its target lives on (nothing
// reports it terminated) would otherwise hold its subscription forever, since a subscription waiting
// on a fetch takes no live messages. Both requests are reads, safe to repeat; a late second answer
// finds no request and is dropped. Otherwise a subscriber on a node isolated for 0.7 s right after
// subscribing never receives a message.
type reqTick struct{}

const reqResendAfter = 2 * time.Second

// maxAckBatch bounds the ACK frames the reader hands to the session at once.
const maxAckBatch = 256

type retryPub struct{ channel string }

type subscription struct {
	sid     uint64
	channel string
	cur     *cursor
	acked   bool // its SUBACK was sent
}

// request is a Resolve or Fetch in flight to a channel actor.
type request struct {
	sub  *subscription
	pid  *actor.PID // where it was sent; nil while waiting to be retried
	msg  any
	sent time.Time
}

type session struct {
	srv    *Server
	id     uint64
	pid    *actor.PID // set under srv.mu after spawn
	conn   net.Conn
	w      *writer
	log    zerolog.Logger
	budget *budget // unanswered publishes; the reader acquires, the actor releases
	// routing: the client asked for ROUTE frames in CONNECT. Set by the reader before it hands the
	// actor any frame, read by the actor.
	routing atomic.Bool
	// frames counts the frames the reader completed (written by the reader, read by the actor's
	// keepalive ticks); alive is the actor's keepalive state.
	frames atomic.Uint64
	alive  keepalive
	// paused: the reader is not reading, on purpose (waiting for publish budget or for the writer to
	// drain): the connection's silence is the server's doing. Written by the reader, read by the actor.
	paused atomic.Bool
	// refusals counts the requests refused as bad or not allowed (written by the reader and the
	// actor, read by the reader, which paces a connection refused over and over: refusalPace).
	refusals atomic.Uint64
	user     string // the logged-in user counted in srv.perUser (srv.mu)

	pids      map[string]*actor.PID  // channel -> activation last resolved, until it terminates
	resolving map[string]bool        // channels whose activation is being looked up (pidFor)
	watched   map[string]*watchedPID // by cluster.PIDKey: the activations this session watches
	pubs      map[string]*pubPipe    // by channel
	subs      map[uint64]*subscription
	// nsubs is len(subs), written by the session actor; the reader reads it to refuse a SUB over
	// limits.max_subscriptions before mayCreate registers its channel against the user's total.
	nsubs     atomic.Int64
	byChannel map[string]map[uint64]*subscription
	reqs      map[uint64]*request
	routed    map[string]string       // channel -> client address last sent in a ROUTE (routing sessions only)
	consumers map[uint64]*consumerSub // durable consumer subscriptions by sid (consumer.go)
	// interest: the channels this session told the gateway it wants live messages of (addSub): those
	// it subscribes to and those it has a parked consumer member on (syncInterest); true: passive
	// (only parked members, the gateway was asked not to register).
	interest map[string]bool
	acks     map[uint64]ackWait // ACKs with a request id, unanswered, by request id
	// reqTickArmed: a reqTick is scheduled (one at a time, only while requests are pending).
	reqTickArmed bool
	nextReq      uint64
	closed       bool
}

// watchedPID is an activation a session watches and the channels it is cached for in session.pids,
// so that its termination forgets them without scanning every cached channel.
type watchedPID struct {
	pid      *actor.PID
	channels []string
}

func (s *session) Receive(ctx actor.Context) {
	defer func() {
		// A bug in handling one message must not take the process down, nor leave a session restarted
		// with its state wiped (protoactor's default supervision): end this connection cleanly instead.
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Type("message", ctx.Message()).Msg("session failed; closing connection")
			s.close(ctx)
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.pids = map[string]*actor.PID{}
		s.resolving = map[string]bool{}
		s.watched = map[string]*watchedPID{}
		s.pubs = map[string]*pubPipe{}
		s.subs = map[uint64]*subscription{}
		s.byChannel = map[string]map[uint64]*subscription{}
		s.reqs = map[uint64]*request{}
		s.routed = map[string]string{}
		s.consumers = map[uint64]*consumerSub{}
		s.interest = map[string]bool{}
		s.acks = map[uint64]ackWait{}
		s.armKeepalive(ctx)
	case *keepaliveTick:
		s.onKeepalive(ctx)
	case *pubBatch:
		for _, p := range m.pubs {
			s.publish(ctx, p)
		}
	case *actors.PublishResult:
		s.onPublishResult(m)
	case *actor.Terminated:
		s.terminated(ctx, m.Who, m.Why == actor.TerminatedReason_AddressTerminated)
	case *NodeDown:
		for _, w := range s.watched {
			if w.pid.Address == m.Address {
				s.terminated(ctx, w.pid, true)
			}
		}
	case *resendFor:
		s.resend(ctx, m.pid, m.lost)
		s.retryReqsTo(ctx, m.pid)
		s.consumersLost(ctx, m.pid)
	case *consumeFrame:
		s.consume(ctx, m.f)
	case *ackFrames:
		s.settle(ctx, m.fs)
	case *rejoinConsume:
		if cs := s.consumers[m.sid]; cs != nil && cs.pid == nil && !cs.parked && !s.closed {
			s.sendJoin(ctx, cs)
		}
	case *actors.ConsumerJoined:
		s.onConsumerJoined(ctx, m)
	case *actors.ConsumerDeliver:
		s.onConsumerDeliver(ctx, m)
	case *actors.ConsumerParked:
		s.onConsumerParked(ctx, m)
	case *actors.ConsumerAcked:
		s.onConsumerAcked(m)
	case *actor.DeadLetterResponse:
		s.retryReqsTo(ctx, m.Target)
	case *pidResolved:
		s.onPidResolved(ctx, m)
	case *retryPub:
		s.retry(ctx, m.channel)
	case *retryReq:
		if r := s.reqs[m.id]; r != nil && r.pid == nil {
			s.sendReq(ctx, m.id, r)
		}
	case *reqTick:
		s.reqTickArmed = false
		for id, r := range s.reqs {
			if r.pid != nil && time.Since(r.sent) > reqResendAfter {
				s.sendReq(ctx, id, r)
			}
		}
		s.armReqTick(ctx)
	case *subFrame:
		s.subscribe(ctx, m.sub)
	case *unsubFrame:
		s.unsubscribe(ctx, m.sid)
	case *creditFrame:
		if sub := s.subs[m.sid]; sub != nil {
			sub.cur.creditBack(int(m.n))
			s.maybeFetch(ctx, sub)
		}
	case *actors.Resolved:
		s.onResolved(ctx, m)
	case *actors.Fetched:
		s.onFetched(ctx, m)
	case *actors.Deliver:
		for _, sub := range s.byChannel[m.Channel] {
			s.emit(sub, sub.cur.live(m.Msgs, m.LastSeq))
			s.maybeFetch(ctx, sub)
		}
		s.unpark(ctx, m.Channel, m.LastSeq)
	case *Tip:
		for _, sub := range s.byChannel[m.Channel] {
			sub.cur.seeTip(m.LastSeq)
			s.maybeFetch(ctx, sub)
		}
		s.unpark(ctx, m.Channel, m.LastSeq)
	case *connClosed:
		s.close(ctx)
	}
}

// terminated forgets an activation that stopped (or whose node died) and redoes what it left unanswered.
func (s *session) terminated(ctx actor.Context, who *actor.PID, lost bool) {
	if lost {
		s.srv.nodeLost(who.Address)
	}
	s.forget(who)
	delete(s.watched, sc.PIDKey(who))
	// Handled after the answers the activation sent before stopping, which are already queued in our
	// mailbox ahead of this self-message (Terminated itself is a system message and jumps the queue).
	ctx.Send(ctx.Self(), &resendFor{pid: who, lost: lost})
}

// forget drops an activation from the per-channel cache, so the next request resolves a new one.
func (s *session) forget(pid *actor.PID) {
	w := s.watched[sc.PIDKey(pid)]
	if w == nil {
		return
	}
	for _, ch := range w.channels {
		if p := s.pids[ch]; p != nil && p.Equal(pid) {
			delete(s.pids, ch)
			delete(s.routed, ch)
		}
	}
	w.channels = w.channels[:0]
}

// pidFor returns the channel's activation when one is known. Otherwise it starts looking one up beside
// the actor and returns nil: the lookup goes through placement, which registers a new channel in the
// metadata group (a Raft proposal) and asks the chosen node to activate it, so done in the mailbox it
// made every other channel of this connection wait behind each create. The answer comes back as
// pidResolved, which sends whatever waited for it (held publishes, requests). Known activations are
// reused until they terminate.
func (s *session) pidFor(ctx actor.Context, channel string) *actor.PID {
	if pid := s.pids[channel]; pid != nil {
		return pid
	}
	if !s.resolving[channel] {
		s.resolving[channel] = true
		self, root, cl := ctx.Self(), ctx.ActorSystem().Root, s.srv.cluster
		go func() { root.Send(self, &pidResolved{channel: channel, pid: cl.Get(channel, actors.Kind)}) }()
	}
	return nil
}

// pidResolved is the answer of pidFor's lookup (pid nil: no activation could be had).
type pidResolved struct {
	channel string
	pid     *actor.PID
}

func (s *session) onPidResolved(ctx actor.Context, m *pidResolved) {
	delete(s.resolving, m.channel)
	if s.closed {
		return
	}
	if m.pid != nil && s.pids[m.channel] == nil {
		s.pids[m.channel] = m.pid
		key := sc.PIDKey(m.pid)
		w := s.watched[key]
		if w == nil {
			w = &watchedPID{pid: m.pid}
			s.watched[key] = w
			ctx.Watch(m.pid)
		}
		w.channels = append(w.channels, m.channel)
		s.route(ctx, m.channel, m.pid)
	}
	if p := s.pubs[m.channel]; p != nil && len(p.held) > 0 {
		if m.pid != nil {
			s.retry(ctx, m.channel)
		} else {
			s.scheduleRetry(ctx, p, m.channel)
		}
	}
	for id, r := range s.reqs {
		if r.pid == nil && r.sub.channel == m.channel {
			if m.pid != nil {
				s.sendReq(ctx, id, r)
			} else {
				s.retryReqLater(ctx, id)
			}
		}
	}
	s.joinWaiting(ctx, m.channel, m.pid)
}

// route tells a client that asked for routes which node serves channel, when that is another node
// than this one (the client then saves the hop between nodes by going there). Sent once per activation
// resolved (or at the first request forwarded after the node's client address became known), again
// when the serving node changes.
func (s *session) route(ctx actor.Context, channel string, pid *actor.PID) {
	if !s.routing.Load() || s.routed[channel] != "" || pid.Address == ctx.Self().Address {
		return // told already for this activation (forget clears it when the activation goes)
	}
	r, ok := s.srv.routeTo(pid.Address)
	if !ok {
		return
	}
	s.routed[channel] = r.Client
	s.w.send(&protocol.Route{Channel: channel, Node: r.ID, Addr: r.Client})
}

// tooManySubs refuses a SUB or CONSUME over limits.max_subscriptions.
func tooManySubs(max int) *protocol.Error {
	return protocol.NewError(protocol.CodeLimitExceeded, "the connection holds its maximum of %d subscriptions", max)
}

func (s *session) subscribe(ctx actor.Context, f *protocol.Sub) {
	if _, dup := s.subs[f.Sid]; dup || f.Sid == 0 {
		s.protoErr(protocol.NewError(protocol.CodeInvalidArgument, "subscription id %d is zero or already in use", f.Sid), 0, f.Sid)
		return
	}
	if max := s.srv.cfg.MaxSubscriptions; max > 0 && len(s.subs) >= max {
		s.srv.metrics.Refused.Inc()
		s.protoErr(tooManySubs(max), 0, f.Sid)
		return
	}
	win := int(f.Window)
	if win == 0 {
		win = int(s.srv.cfg.DefaultWindow)
	}
	win = min(win, int(s.srv.cfg.MaxWindow))
	sub := &subscription{sid: f.Sid, channel: f.Channel, cur: newCursor(win)}
	s.subs[f.Sid] = sub
	s.nsubs.Store(int64(len(s.subs)))
	if s.byChannel[f.Channel] == nil {
		s.byChannel[f.Channel] = map[uint64]*subscription{}
	}
	s.byChannel[f.Channel][f.Sid] = sub
	s.syncInterest(ctx, f.Channel)
	s.newReq(ctx, sub, &actors.Resolve{Channel: f.Channel, Start: f.Start, Seq: f.Seq, Time: f.Time})
}

func (s *session) unsubscribe(ctx actor.Context, sid uint64) {
	if cs := s.consumers[sid]; cs != nil {
		if !cs.acked {
			s.protoErr(protocol.NewError(protocol.CodeInvalidArgument, "subscription %d was unsubscribed before it started", sid), 0, sid)
		}
		s.dropConsumer(ctx, cs, true)
		s.w.send(&protocol.UnsubAck{Sid: sid})
		return
	}
	sub := s.subs[sid]
	if sub == nil {
		s.protoErr(protocol.NewError(protocol.CodeUnknownSubscription, "no subscription %d", sid), 0, sid)
		return
	}
	if !sub.acked {
		// The SUB is still being resolved: it is answered now, with an ERR, so that every SUB gets
		// its SUBACK or ERR before the UNSUBACK and the sid is free at once (its late answer is
		// dropped with the request).
		s.protoErr(protocol.NewError(protocol.CodeInvalidArgument, "subscription %d was unsubscribed before it started", sid), 0, sid)
	}
	s.dropSub(ctx, sub)
	s.w.send(&protocol.UnsubAck{Sid: sid})
}

func (s *session) dropSub(ctx actor.Context, sub *subscription) {
	delete(s.subs, sub.sid)
	s.nsubs.Store(int64(len(s.subs)))
	for id, r := range s.reqs {
		if r.sub == sub {
			delete(s.reqs, id) // a late answer must not reach a new subscription reusing the sid
		}
	}
	bc := s.byChannel[sub.channel]
	delete(bc, sub.sid)
	if len(bc) == 0 {
		delete(s.byChannel, sub.channel)
		s.syncInterest(ctx, sub.channel)
	}
}

func (s *session) onResolved(ctx actor.Context, m *actors.Resolved) {
	r := s.reqs[m.ID]
	if r == nil {
		return
	}
	delete(s.reqs, m.ID)
	sub := r.sub
	if m.Err != nil {
		s.protoErr(m.Err, 0, sub.sid)
		s.dropSub(ctx, sub)
		return
	}
	s.w.send(&protocol.SubAck{Sid: sub.sid, StartSeq: m.StartSeq, LastSeq: m.LastSeq, Window: uint32(sub.cur.window)})
	sub.acked = true
	sub.cur.resolve(m.StartSeq, m.LastSeq)
	s.maybeFetch(ctx, sub)
}

func (s *session) maybeFetch(ctx actor.Context, sub *subscription) {
	ok, n := sub.cur.wantFetch()
	if !ok {
		return
	}
	sub.cur.fetching = true
	s.newReq(ctx, sub, &actors.Fetch{Channel: sub.channel, From: sub.cur.next, MaxMsgs: min(n, 512), MaxBytes: 1 << 20})
}

func (s *session) onFetched(ctx actor.Context, m *actors.Fetched) {
	r := s.reqs[m.ID]
	if r == nil {
		return
	}
	delete(s.reqs, m.ID)
	sub := r.sub
	if m.Err != nil {
		// Transient (the channel is restarting): read again shortly rather than fail the subscription.
		s.log.Debug().Err(m.Err).Str("channel", sub.channel).Msg("fetch failed; retrying")
		sub.cur.fetching = false
		self, root, ch := ctx.Self(), ctx.ActorSystem().Root, sub.channel
		time.AfterFunc(20*time.Millisecond, func() { root.Send(self, &Tip{Channel: ch}) })
		return
	}
	s.emit(sub, sub.cur.fetched(m.Msgs, m.FirstSeq, m.LastSeq))
	s.maybeFetch(ctx, sub)
}

func (s *session) emit(sub *subscription, msgs []store.Message) {
	if len(msgs) == 0 {
		return
	}
	s.srv.metrics.Deliveries.Add(float64(len(msgs)))
	for i := range msgs {
		m := &msgs[i]
		s.w.send(&protocol.Msg{Sid: sub.sid, Channel: sub.channel, Seq: m.Seq, Time: m.Time, Headers: m.Headers, Payload: m.Payload})
	}
}

// newReq sends a Resolve or Fetch for sub, tracked so that it is redone if its target stops.
func (s *session) newReq(ctx actor.Context, sub *subscription, msg any) {
	s.nextReq++
	id := s.nextReq
	switch m := msg.(type) {
	case *actors.Resolve:
		m.ID = id
	case *actors.Fetch:
		m.ID = id
	}
	r := &request{sub: sub, msg: msg}
	s.reqs[id] = r
	s.sendReq(ctx, id, r)
}

func (s *session) sendReq(ctx actor.Context, id uint64, r *request) {
	pid := s.pidFor(ctx, r.sub.channel)
	if pid == nil {
		r.pid = nil // sent by onPidResolved
		return
	}
	r.pid, r.sent = pid, time.Now()
	s.route(ctx, r.sub.channel, pid) // if not told yet (the node's address was not known when it resolved)
	sc.Request(ctx, pid, r.msg)
	s.armReqTick(ctx)
}

func (s *session) armReqTick(ctx actor.Context) {
	if s.reqTickArmed || len(s.reqs) == 0 || s.closed {
		return
	}
	s.reqTickArmed = true
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(reqResendAfter/2, func() { root.Send(self, &reqTick{}) })
}

func (s *session) retryReqLater(ctx actor.Context, id uint64) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(20*time.Millisecond, func() { root.Send(self, &retryReq{id: id}) })
}

// retryReqsTo redoes the requests an activation will never answer.
func (s *session) retryReqsTo(ctx actor.Context, target *actor.PID) {
	s.forget(target)
	for id, r := range s.reqs {
		if r.pid != nil && r.pid.Equal(target) {
			r.pid = nil
			s.retryReqLater(ctx, id)
		}
	}
}

func (s *session) armKeepalive(ctx actor.Context) {
	if d := s.srv.cfg.Keepalive; d > 0 && !s.closed {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(d, func() { root.Send(self, &keepaliveTick{}) }) // a dead letter once stopped
	}
}

func (s *session) onKeepalive(ctx actor.Context) {
	if s.closed {
		return
	}
	frames := s.frames.Load()
	if s.paused.Load() {
		s.alive = keepalive{seen: frames} // not silent: the server is not reading
		s.armKeepalive(ctx)
		return
	}
	switch s.alive.tick(frames) {
	case keepalivePing:
		s.w.send(&protocol.Ping{})
	case keepaliveClose:
		s.log.Debug().Dur("silent", 2*s.srv.cfg.Keepalive).Msg("keepalive: closing a silent connection")
		s.fatal(protocol.NewError(protocol.CodeTimeout, "no frame for %s (PING unanswered)", 2*s.srv.cfg.Keepalive))
		return
	}
	s.armKeepalive(ctx)
}

func (s *session) protoErr(e *protocol.Error, req, sid uint64) {
	s.srv.metrics.ProtocolErrors.Inc()
	s.refuse(e.Frame(req, sid))
}

// refuse answers a request refused as bad or not allowed, counting it for the reader's pacing.
func (s *session) refuse(f protocol.Frame) {
	s.refusals.Add(1)
	s.w.send(f)
}

// Past refusalBurst refused requests, a connection is answered at most refusalRate refusals a
// second: a client looping on a request that is refused costs the node little.
const (
	refusalBurst = 1000
	refusalRate  = 200
)

// refusalPace is the reader's pacing of a connection whose requests keep being refused: a token
// bucket over the refusals counted so far, with the time passed in. Owned by the reader goroutine.
type refusalPace struct {
	lim  *rate.Limiter
	seen uint64 // refusals already paid for
}

func newRefusalPace() *refusalPace {
	return &refusalPace{lim: rate.NewLimiter(refusalRate, refusalBurst)}
}

// delay pays for the refusals counted up to total and returns how long the reader waits before
// it reads the next frame.
func (p *refusalPace) delay(now time.Time, total uint64) time.Duration {
	n := total - p.seen
	if n == 0 {
		return 0
	}
	p.seen = total
	return p.lim.ReserveN(now, int(min(n, refusalBurst))).DelayFrom(now)
}

func (s *session) close(ctx actor.Context) {
	if s.closed {
		return
	}
	s.closed = true
	for _, cs := range s.consumers {
		s.dropConsumer(ctx, cs, true)
	}
	for ch := range s.interest {
		ctx.Send(s.srv.gateway, &removeSub{channel: ch, session: ctx.Self()})
	}
	for _, w := range s.watched {
		ctx.Unwatch(w.pid)
	}
	// Unanswered publishes will never be answered to this connection: free the reader (if it is blocked)
	// and tell Drain not to wait for them.
	s.budget.close()
	// Flush what is queued (e.g. the ERR explaining a fatal error); the write deadline bounds it.
	s.w.closeAfterFlush()
	s.srv.sessionDone(s)
	ctx.Stop(ctx.Self())
}

// Batches handed to a channel actor are cut at this many messages or bytes: one Raft entry each.
const (
	maxBatchMsgs  = 1024
	maxBatchBytes = 4 << 20
)

// readLoop runs on its own goroutine: it parses frames, answers what needs no actor (CONNECT, PING,
// bad input) and hands publishes and subscriptions to the session actor.
func (s *session) readLoop(self *actor.PID, root *actor.RootContext) {
	cfg := &s.srv.cfg
	r := protocol.NewReader(s.conn, cfg.MaxFrame)
	connected := false
	var user *auth.Identity // logged in (nil: the server has no users)
	perms := permCache{}
	known := permCache{} // channels known to exist, or created, on this connection (mayCreate)
	var batch []*actors.Publish
	byCh := map[string]*actors.Publish{}
	batchBytes := map[*actors.Publish]int{}
	var nextBatch uint64
	var acks []*protocol.Ack // ACK frames read and not yet handed to the session
	flush := func() {
		if len(acks) > 0 {
			root.Send(self, &ackFrames{fs: acks})
			acks = nil
		}
		if len(batch) == 0 {
			return
		}
		root.Send(self, &pubBatch{pubs: batch})
		batch = nil
		clear(byCh)
		clear(batchBytes)
	}
	var closeErr error
	defer func() { root.Send(self, &connClosed{err: closeErr}) }()
	// CONNECT (after the TLS handshake, on a TLS listener) must come within the handshake timeout.
	_ = s.conn.SetReadDeadline(time.Now().Add(cfg.HandshakeTimeout))
	pace := newRefusalPace()
	for {
		if d := pace.delay(time.Now(), s.refusals.Load()); d > 0 {
			flush()
			s.paused.Store(true) // the silence is ours: keepalive must not count it
			time.Sleep(d)        // the reader's own goroutine: only this connection waits
			s.paused.Store(false)
		}
		if s.w.pending() >= cfg.MaxPendingWrite {
			flush()
			s.paused.Store(true)
			s.w.waitBelow(cfg.MaxPendingWrite)
			s.paused.Store(false)
		}
		if !r.FrameBuffered() {
			flush() // the next frame is not here yet: don't hold back the ones that are
		}
		f, err := r.Next()
		s.frames.Add(1) // a frame (or a bad one) completed: the connection is alive
		if err != nil {
			flush()
			var pe *protocol.Error
			if errors.As(err, &pe) && !connected && !pe.Fatal {
				// Before CONNECT nothing is answered as if connected: a bad frame is "not connected".
				s.fatal(protocol.NewError(protocol.CodeNotConnected, "%s before CONNECT", pe.Message))
				closeErr = pe
				return
			}
			if errors.As(err, &pe) {
				s.srv.metrics.ProtocolErrors.Inc()
				s.refuse(pe.Frame(pe.Req, 0))
				if pe.Fatal {
					s.w.closeAfterFlush()
					closeErr = pe
					return
				}
				continue
			}
			var ne net.Error
			if tc, ok := s.conn.(*tls.Conn); ok && !tc.ConnectionState().HandshakeComplete {
				s.log.Debug().Err(err).Msg("TLS handshake")
				s.w.close() // nothing can be said to a peer without a TLS session
			} else if !connected && errors.As(err, &ne) && ne.Timeout() {
				s.fatal(protocol.NewError(protocol.CodeNotConnected, "no CONNECT within %s", cfg.HandshakeTimeout))
			} else if !errors.Is(err, io.EOF) && !s.srv.draining.Load() {
				s.log.Debug().Err(err).Msg("read")
			}
			closeErr = err
			return
		}
		if !connected {
			c, ok := f.(*protocol.Connect)
			if !ok {
				s.fatal(protocol.NewError(protocol.CodeNotConnected, "%s before CONNECT", f.Type()))
				closeErr = errors.New("not connected")
				return
			}
			if c.Version != protocol.Version {
				s.fatal(protocol.NewError(protocol.CodeUnsupportedVersion, "client version %d, server speaks %d", c.Version, protocol.Version))
				closeErr = errors.New("version")
				return
			}
			if cfg.Auth != nil {
				began := time.Now()
				id, err := cfg.Auth.Login(c.User, c.Password, c.Token)
				if err != nil {
					s.srv.metrics.AuthFailures.Inc()
					s.log.Warn().Str("user", c.User).Bool("token", c.Token != "").Msg("login refused")
					time.Sleep(time.Until(began.Add(cfg.AuthFailDelay))) // the reader's own goroutine
					s.fatal(protocol.NewError(protocol.CodeAuthFailed, "authentication failed"))
					closeErr = err
					return
				}
				if e := s.srv.admitUser(s, id.Name); e != nil {
					s.srv.metrics.Refused.Inc()
					// Answered as late as a failed login: a client reconnecting in a loop over its
					// limit costs the node little.
					time.Sleep(time.Until(began.Add(cfg.AuthFailDelay)))
					s.fatal(e)
					closeErr = e
					return
				}
				user = id
			}
			connected = true
			_ = s.conn.SetReadDeadline(time.Time{})
			s.routing.Store(c.Routes)
			s.w.send(&protocol.ConnAck{Version: protocol.Version, ServerID: cfg.ServerID, MaxFrame: cfg.MaxFrame,
				MaxPayload: cfg.MaxPayload, MaxInflight: cfg.MaxInflight, MaxWindow: cfg.MaxWindow, MaxHeaders: uint32(cfg.MaxHeaderBytes)})
			continue
		}
		switch f := f.(type) {
		case *protocol.Pub:
			if e := s.checkPub(f); e != nil {
				s.srv.metrics.ProtocolErrors.Inc()
				s.refuse(e.Frame(f.Req, 0))
				continue
			}
			if user != nil && !perms.allowed(f.Channel, user.CanPublish) {
				s.srv.metrics.Denied.Inc()
				s.refuse(protocol.NewError(protocol.CodePermissionDenied, "user %q may not publish to %s", user.Name, f.Channel).Frame(f.Req, 0))
				continue
			}
			if user != nil {
				if e := s.srv.mayCreate(user, f.Channel, known); e != nil {
					s.refuse(e.Frame(f.Req, 0))
					continue
				}
			}
			if s.srv.draining.Load() {
				s.w.send(protocol.NewError(protocol.CodeShuttingDown, "server is shutting down").Frame(f.Req, 0))
				continue
			}
			if !s.budget.claim(f.Req) {
				// An ERR naming the id would read as the answer to the publish in flight: the
				// connection's request ids can no longer be trusted.
				flush()
				s.fatal(protocol.NewError(protocol.CodeInvalidArgument, "request id %d reused while its publish is unanswered", f.Req))
				closeErr = errors.New("request id reused")
				return
			}
			size := pubSize(f.Payload, f.Headers, f.IdemKey)
			if !s.budget.tryAcquire(size) {
				flush() // what we hold must be able to complete before we wait for room
				s.paused.Store(true)
				ok := s.budget.acquire(size)
				s.paused.Store(false)
				if !ok {
					return // session closed
				}
			}
			s.srv.metrics.Publishes.Inc()
			p := byCh[f.Channel]
			if p == nil || len(p.Items) >= maxBatchMsgs || batchBytes[p]+size > maxBatchBytes {
				nextBatch++
				p = &actors.Publish{Channel: f.Channel, Batch: nextBatch}
				byCh[f.Channel] = p
				batch = append(batch, p)
			}
			batchBytes[p] += size
			p.Reqs = append(p.Reqs, f.Req)
			p.Items = append(p.Items, store.PublishItem{IdemKey: f.IdemKey, Headers: f.Headers, Payload: f.Payload})
		case *protocol.Sub:
			flush()
			if err := protocol.ValidateChannel(f.Channel); err != nil {
				s.srv.metrics.ProtocolErrors.Inc()
				s.refuse(asError(err).Frame(0, f.Sid))
				continue
			}
			if user != nil && !user.CanSubscribe(f.Channel) {
				s.srv.metrics.Denied.Inc()
				s.refuse(protocol.NewError(protocol.CodePermissionDenied, "user %q may not subscribe to %s", user.Name, f.Channel).Frame(0, f.Sid))
				continue
			}
			if user != nil {
				if max := s.srv.cfg.MaxSubscriptions; max > 0 && s.nsubs.Load() >= int64(max) {
					// The session actor refuses it too; refused here, it creates no channel.
					s.srv.metrics.Refused.Inc()
					s.refuse(tooManySubs(max).Frame(0, f.Sid))
					continue
				}
				if e := s.srv.mayCreate(user, f.Channel, known); e != nil {
					s.refuse(e.Frame(0, f.Sid))
					continue
				}
			}
			root.Send(self, &subFrame{sub: f})
		case *protocol.Consume:
			flush()
			if err := f.Validate(); err != nil {
				s.srv.metrics.ProtocolErrors.Inc()
				s.refuse(asError(err).Frame(0, f.Sid))
				continue
			}
			if user != nil && !user.CanSubscribe(f.Channel) {
				s.srv.metrics.Denied.Inc()
				s.refuse(protocol.NewError(protocol.CodePermissionDenied, "user %q may not subscribe to %s", user.Name, f.Channel).Frame(0, f.Sid))
				continue
			}
			if user != nil && f.DeadLetter != "" && !perms.allowed(f.DeadLetter, user.CanPublish) {
				s.srv.metrics.Denied.Inc()
				s.refuse(protocol.NewError(protocol.CodePermissionDenied, "user %q may not publish to the dead-letter channel %s", user.Name, f.DeadLetter).Frame(0, f.Sid))
				continue
			}
			if user != nil {
				if e := s.srv.mayCreate(user, f.Channel, known); e != nil {
					s.refuse(e.Frame(0, f.Sid))
					continue
				}
			}
			root.Send(self, &consumeFrame{f: f})
		case *protocol.Ack:
			if f.Req != 0 && !s.budget.claim(f.Req) {
				flush()
				s.fatal(protocol.NewError(protocol.CodeInvalidArgument, "request id %d reused while its request is unanswered", f.Req))
				closeErr = errors.New("request id reused")
				return
			}
			if acks = append(acks, f); len(acks) >= maxAckBatch {
				flush()
			}
		case *protocol.Unsub:
			flush()
			root.Send(self, &unsubFrame{sid: f.Sid})
		case *protocol.Credit:
			flush()
			root.Send(self, &creditFrame{sid: f.Sid, n: f.N})
		case *protocol.Ping:
			s.w.send(&protocol.Pong{})
		case *protocol.Pong:
		case *protocol.Connect:
			s.srv.metrics.ProtocolErrors.Inc()
			s.refuse(protocol.NewError(protocol.CodeInvalidArgument, "already connected").Frame(0, 0))
		default:
			s.srv.metrics.ProtocolErrors.Inc()
			s.refuse(protocol.NewError(protocol.CodeUnknownFrame, "%s is a server frame", f.Type()).Frame(0, 0))
		}
	}
}

// permCache remembers a connection's publish decisions by channel (a publisher sends to few channels,
// often), bounded: it is cleared when full. Owned by the reader goroutine.
type permCache map[string]bool

const permCacheMax = 1024

func (c permCache) allowed(channel string, check func(string) bool) bool {
	ok, seen := c[channel]
	if !seen {
		if len(c) >= permCacheMax {
			clear(c)
		}
		ok = check(channel)
		c[channel] = ok
	}
	return ok
}

func (s *session) checkPub(f *protocol.Pub) *protocol.Error {
	if f.Req == 0 {
		return protocol.NewError(protocol.CodeInvalidArgument, "request id 0 is reserved")
	}
	if err := protocol.ValidateChannel(f.Channel); err != nil {
		return asError(err)
	}
	if uint32(len(f.Payload)) > s.srv.cfg.MaxPayload {
		return protocol.NewError(protocol.CodePayloadTooLarge, "payload %d bytes over the maximum %d", len(f.Payload), s.srv.cfg.MaxPayload)
	}
	if hb := pubSize(nil, f.Headers, f.IdemKey); hb > s.srv.cfg.MaxHeaderBytes {
		return protocol.NewError(protocol.CodeInvalidArgument, "headers and idempotency key are %d bytes, over the maximum %d", hb, s.srv.cfg.MaxHeaderBytes)
	}
	return nil
}

func (s *session) fatal(e *protocol.Error) {
	e.Fatal = true
	s.srv.metrics.ProtocolErrors.Inc()
	s.refuse(e.Frame(0, 0))
	s.w.closeAfterFlush()
}

func asError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.NewError(protocol.CodeInternal, "%v", err)
}

var sessionIDs atomic.Uint64
