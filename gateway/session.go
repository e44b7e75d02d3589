package gateway

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// A session is one client connection: a reader goroutine that parses frames and batches publishes, the
// session actor that owns the connection's state (pending publishes, subscriptions), and a writer.
//
// Publishes: the reader groups the PUBs that arrived together by channel into one actors.Publish per
// channel (one Raft entry) and hands them to the actor, which sends them to the channel actor and keeps
// them pending until their PublishResult. If the channel actor terminates (passivation racing with the
// send) the batches it never answered are resent to the next activation: the channel actor answers
// everything it accepted before it stops, and its answers precede the termination notice in our mailbox.

// pubBatch is what the reader hands to the session actor.
type pubBatch struct{ pubs []*actors.Publish }

type subFrame struct{ sub *protocol.Sub }
type unsubFrame struct{ sid uint64 }
type connClosed struct{ err error }
type credits struct{ n map[uint64]int }
type resendFor struct{ pid *actor.PID }

type subscription struct {
	sid     uint64
	channel string
	cur     *cursor
	pid     *actor.PID // channel actor last used for resolve/fetch
}

type request struct {
	sid uint64
	pid *actor.PID
	// what to re-send when the target had passivated
	msg any
}

type session struct {
	srv    *Server
	id     uint64
	conn   net.Conn
	w      *writer
	log    zerolog.Logger
	tokens chan struct{} // in-flight publish slots; the reader takes one per PUB

	pubs      map[string]*pubPipe // by channel
	watched   map[string]*actor.PID
	subs      map[uint64]*subscription
	byChannel map[string]map[uint64]*subscription
	reqs      map[uint64]*request
	nextReq   uint64
	closed    bool
}

func (s *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.pubs = map[string]*pubPipe{}
		s.watched = map[string]*actor.PID{}
		s.subs = map[uint64]*subscription{}
		s.byChannel = map[string]map[uint64]*subscription{}
		s.reqs = map[uint64]*request{}
	case *pubBatch:
		for _, p := range m.pubs {
			s.publish(ctx, p)
		}
	case *actors.PublishResult:
		s.onPublishResult(m)
	case *actor.Terminated:
		// Queue behind the results already in the mailbox; see the type comment.
		delete(s.watched, m.Who.String())
		ctx.Send(ctx.Self(), &resendFor{pid: m.Who})
	case *resendFor:
		s.resend(ctx, m.pid)
	case *retryPub:
		s.retry(ctx, m.channel)
	case *subFrame:
		s.subscribe(ctx, m.sub)
	case *unsubFrame:
		s.unsubscribe(ctx, m.sid)
	case *actors.Resolved:
		s.onResolved(ctx, m)
	case *actors.Fetched:
		s.onFetched(ctx, m)
	case *actors.Deliver:
		for _, sub := range s.byChannel[m.Channel] {
			s.emit(sub, sub.cur.live(m.Msgs, m.LastSeq))
			s.maybeFetch(ctx, sub)
		}
	case *Tip:
		for _, sub := range s.byChannel[m.Channel] {
			sub.cur.seeTip(m.LastSeq)
			s.maybeFetch(ctx, sub)
		}
	case *credits:
		for sid, n := range m.n {
			if sub := s.subs[sid]; sub != nil {
				sub.cur.creditBack(n)
				s.maybeFetch(ctx, sub)
			}
		}
	case *actor.DeadLetterResponse:
		s.onDeadLetter(ctx, m.Target)
	case *retryReq:
		if r := s.reqs[m.id]; r != nil {
			s.sendReq(ctx, m.id, r)
		}
	case *connClosed:
		s.close(ctx)
	}
}

func (s *session) subscribe(ctx actor.Context, f *protocol.Sub) {
	if _, dup := s.subs[f.Sid]; dup || f.Sid == 0 {
		s.protoErr(protocol.NewError(protocol.CodeInvalidArgument, "subscription id %d is zero or already in use", f.Sid), 0, f.Sid)
		return
	}
	win := int(f.Window)
	if win == 0 {
		win = int(s.srv.cfg.DefaultWindow)
	}
	if win > int(s.srv.cfg.MaxWindow) {
		win = int(s.srv.cfg.MaxWindow)
	}
	sub := &subscription{sid: f.Sid, channel: f.Channel, cur: newCursor(win)}
	s.subs[f.Sid] = sub
	if s.byChannel[f.Channel] == nil {
		s.byChannel[f.Channel] = map[uint64]*subscription{}
		ctx.Send(s.srv.gateway, &addSub{channel: f.Channel, session: ctx.Self()})
	}
	s.byChannel[f.Channel][f.Sid] = sub
	s.newReq(ctx, f.Sid, &actors.Resolve{Channel: f.Channel, Start: f.Start, Seq: f.Seq, Time: f.Time})
}

func (s *session) unsubscribe(ctx actor.Context, sid uint64) {
	sub := s.subs[sid]
	if sub == nil {
		s.protoErr(protocol.NewError(protocol.CodeUnknownSubscription, "no subscription %d", sid), 0, sid)
		return
	}
	s.dropSub(ctx, sub)
	s.w.send(&protocol.UnsubAck{Sid: sid}, 0)
}

func (s *session) dropSub(ctx actor.Context, sub *subscription) {
	delete(s.subs, sub.sid)
	bc := s.byChannel[sub.channel]
	delete(bc, sub.sid)
	if len(bc) == 0 {
		delete(s.byChannel, sub.channel)
		ctx.Send(s.srv.gateway, &removeSub{channel: sub.channel, session: ctx.Self()})
	}
}

func (s *session) onResolved(ctx actor.Context, m *actors.Resolved) {
	r := s.reqs[m.ID]
	if r == nil {
		return
	}
	delete(s.reqs, m.ID)
	sub := s.subs[r.sid]
	if sub == nil {
		return // unsubscribed meanwhile
	}
	if m.Err != nil {
		s.protoErr(m.Err, 0, sub.sid)
		s.dropSub(ctx, sub)
		return
	}
	s.w.send(&protocol.SubAck{Sid: sub.sid, StartSeq: m.StartSeq, LastSeq: m.LastSeq}, 0)
	sub.cur.resolve(m.StartSeq, m.LastSeq)
	s.maybeFetch(ctx, sub)
}

func (s *session) maybeFetch(ctx actor.Context, sub *subscription) {
	ok, n := sub.cur.wantFetch()
	if !ok {
		return
	}
	if n > 512 {
		n = 512
	}
	sub.cur.fetching = true
	s.newReq(ctx, sub.sid, &actors.Fetch{Channel: sub.channel, From: sub.cur.next, MaxMsgs: n, MaxBytes: 1 << 20})
}

func (s *session) onFetched(ctx actor.Context, m *actors.Fetched) {
	r := s.reqs[m.ID]
	if r == nil {
		return
	}
	delete(s.reqs, m.ID)
	sub := s.subs[r.sid]
	if sub == nil {
		return
	}
	if m.Err != nil {
		// Transient (channel restarting): try again shortly rather than failing the subscription.
		sub.cur.fetching = false
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(20*time.Millisecond, func() { root.Send(self, &Tip{Channel: sub.channel}) })
		return
	}
	s.emit(sub, sub.cur.fetched(m.Msgs, m.FirstSeq, m.LastSeq))
	s.maybeFetch(ctx, sub)
}

func (s *session) emit(sub *subscription, msgs []store.Message) {
	if len(msgs) > 0 {
		s.srv.metrics.Deliveries.Add(float64(len(msgs)))
	}
	for i := range msgs {
		m := &msgs[i]
		s.w.send(&protocol.Msg{Sid: sub.sid, Channel: sub.channel, Seq: m.Seq, Time: m.Time, Headers: m.Headers, Payload: m.Payload}, sub.sid)
	}
}

type retryReq struct{ id uint64 }
type retryPub struct{ channel string }

// newReq sends a request (Resolve/Fetch) to the channel actor, tracking it so that a request that hit a
// passivated actor is retried on the next activation.
func (s *session) newReq(ctx actor.Context, sid uint64, msg any) {
	s.nextReq++
	id := s.nextReq
	switch m := msg.(type) {
	case *actors.Resolve:
		m.ID = id
	case *actors.Fetch:
		m.ID = id
	}
	r := &request{sid: sid, msg: msg}
	s.reqs[id] = r
	s.sendReq(ctx, id, r)
}

func (s *session) sendReq(ctx actor.Context, id uint64, r *request) {
	sub := s.subs[r.sid]
	if sub == nil {
		delete(s.reqs, id)
		return
	}
	pid := s.srv.cluster.Get(sub.channel, actors.Kind)
	if pid == nil {
		s.retryReqLater(ctx, id)
		return
	}
	r.pid = pid
	ctx.Request(pid, r.msg)
}

func (s *session) retryReqLater(ctx actor.Context, id uint64) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(20*time.Millisecond, func() { root.Send(self, &retryReq{id: id}) })
}

func (s *session) onDeadLetter(ctx actor.Context, target *actor.PID) {
	for id, r := range s.reqs {
		if r.pid != nil && r.pid.Equal(target) {
			r.pid = nil
			s.retryReqLater(ctx, id)
		}
	}
}

func (s *session) protoErr(e *protocol.Error, req, sid uint64) {
	s.srv.metrics.ProtocolErrors.Inc()
	s.w.send(e.Frame(req, sid), 0)
}

func (s *session) close(ctx actor.Context) {
	if s.closed {
		return
	}
	s.closed = true
	for ch := range s.byChannel {
		ctx.Send(s.srv.gateway, &removeSub{channel: ch, session: ctx.Self()})
	}
	// Flush what is queued (e.g. the ERR explaining a fatal error); the write deadline bounds it.
	s.w.closeAfterFlush()
	s.srv.sessionDone(s)
	ctx.Stop(ctx.Self())
}

// readLoop runs on its own goroutine: it parses frames, answers what needs no actor (CONNECT, PING,
// bad input) and hands publishes and subscriptions to the session actor.
func (s *session) readLoop(self *actor.PID, root *actor.RootContext) {
	cfg := &s.srv.cfg
	r := protocol.NewReader(s.conn, cfg.MaxFrame)
	connected := false
	var batch []*actors.Publish
	byCh := map[string]*actors.Publish{}
	var nextBatch uint64
	flush := func() {
		if len(batch) == 0 {
			return
		}
		root.Send(self, &pubBatch{pubs: batch})
		batch = nil
		clear(byCh)
	}
	var closeErr error
	defer func() { root.Send(self, &connClosed{err: closeErr}) }()
	for {
		if s.w.pending() >= cfg.MaxPendingWrite {
			flush()
			s.w.waitBelow(cfg.MaxPendingWrite)
		}
		if r.Buffered() == 0 {
			flush()
		}
		f, err := r.Next()
		if err != nil {
			var pe *protocol.Error
			if errors.As(err, &pe) {
				s.srv.metrics.ProtocolErrors.Inc()
				s.w.send(pe.Frame(0, 0), 0)
				if pe.Fatal {
					flush()
					s.w.closeAfterFlush()
					closeErr = pe
					return
				}
				continue
			}
			flush()
			if !errors.Is(err, io.EOF) && !s.srv.draining.Load() {
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
			connected = true
			s.w.send(&protocol.ConnAck{Version: protocol.Version, ServerID: cfg.ServerID, MaxFrame: cfg.MaxFrame,
				MaxPayload: cfg.MaxPayload, MaxInflight: cfg.MaxInflight, MaxWindow: cfg.MaxWindow}, 0)
			continue
		}
		switch f := f.(type) {
		case *protocol.Pub:
			if e := s.checkPub(f); e != nil {
				s.srv.metrics.ProtocolErrors.Inc()
				s.w.send(e.Frame(f.Req, 0), 0)
				continue
			}
			if s.srv.draining.Load() {
				s.w.send(protocol.NewError(protocol.CodeShuttingDown, "server is shutting down").Frame(f.Req, 0), 0)
				continue
			}
			select {
			case s.tokens <- struct{}{}:
			default:
				flush() // what we hold must be able to complete before we wait for a slot
				s.tokens <- struct{}{}
			}
			s.srv.metrics.Publishes.Inc()
			p := byCh[f.Channel]
			if p == nil || len(p.Items) >= 1024 {
				nextBatch++
				p = &actors.Publish{Channel: f.Channel, Batch: nextBatch}
				byCh[f.Channel] = p
				batch = append(batch, p)
			}
			p.Reqs = append(p.Reqs, f.Req)
			p.Items = append(p.Items, store.PublishItem{IdemKey: f.IdemKey, Headers: f.Headers, Payload: f.Payload})
		case *protocol.Sub:
			flush()
			if err := protocol.ValidateChannel(f.Channel); err != nil {
				s.srv.metrics.ProtocolErrors.Inc()
				s.w.send(asError(err).Frame(0, f.Sid), 0)
				continue
			}
			root.Send(self, &subFrame{sub: f})
		case *protocol.Unsub:
			flush()
			root.Send(self, &unsubFrame{sid: f.Sid})
		case *protocol.Ping:
			s.w.send(&protocol.Pong{}, 0)
		case *protocol.Pong:
		case *protocol.Connect:
			s.srv.metrics.ProtocolErrors.Inc()
			s.w.send(protocol.NewError(protocol.CodeInvalidArgument, "already connected").Frame(0, 0), 0)
		default:
			s.srv.metrics.ProtocolErrors.Inc()
			s.w.send(protocol.NewError(protocol.CodeUnknownFrame, "%s is a server frame", f.Type()).Frame(0, 0), 0)
		}
	}
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
	hb := len(f.IdemKey)
	for k, v := range f.Headers {
		hb += len(k) + len(v)
	}
	if hb > s.srv.cfg.MaxHeaderBytes {
		return protocol.NewError(protocol.CodeInvalidArgument, "headers and idempotency key are %d bytes, over the maximum %d", hb, s.srv.cfg.MaxHeaderBytes)
	}
	return nil
}

func (s *session) fatal(e *protocol.Error) {
	e.Fatal = true
	s.srv.metrics.ProtocolErrors.Inc()
	s.w.send(e.Frame(0, 0), 0)
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
