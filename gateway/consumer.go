package gateway

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sampan-io/sampan/actors"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/consumer"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// A session's durable consumer subscriptions (CONSUME). The session joins the channel's actor as a
// member and writes what the actor hands it as MSG frames with their attempt; ACKs go to the actor,
// and those with a request id are answered ACKED once the actor says so. When the activation stops
// (passivation, failover, a move) the session joins the next one: deliveries in flight then come
// again (at-least-once), and acks sent to the old one without an answer are answered with an error.

type (
	consumeFrame  struct{ f *protocol.Consume }
	ackFrames     struct{ fs []*protocol.Ack } // consecutive ACK frames of one read
	rejoinConsume struct{ sid uint64 }
)

// consumerSub is one CONSUME of the session. Owned by the session actor.
type consumerSub struct {
	sid   uint64
	join  *actors.ConsumerJoin
	pid   *actor.PID // the activation it joined or is joining; nil while it waits for one
	acked bool       // its SUBACK was sent
	// parked: the activation passivated with the consumer caught up to parkedSeq; the member joins
	// the next one once the gateway reports a message past it (unpark), not before.
	parked    bool
	parkedSeq uint64
	direct    bool // the CONSUME asked not to be moved to the channel's node (protocol.Consume.Direct)
}

// ackWait is an ACK with a request id waiting for its answer.
type ackWait struct {
	sid uint64
	pid *actor.PID
}

func (s *session) consume(ctx actor.Context, f *protocol.Consume) {
	_, dupSub := s.subs[f.Sid]
	if _, dup := s.consumers[f.Sid]; dup || dupSub || f.Sid == 0 {
		s.protoErr(protocol.NewError(protocol.CodeInvalidArgument, "subscription id %d is zero or already in use", f.Sid), 0, f.Sid)
		return
	}
	if max := s.srv.cfg.MaxSubscriptions; max > 0 && len(s.subs)+len(s.consumers) >= max {
		s.srv.metrics.Refused.Inc()
		s.protoErr(tooManySubs(max), 0, f.Sid)
		return
	}
	win := int(f.Window)
	if win == 0 {
		win = int(s.srv.cfg.DefaultWindow)
	}
	win = min(win, int(s.srv.cfg.MaxWindow))
	mode := consumer.Shared
	if f.Mode == "exclusive" {
		mode = consumer.Exclusive
	}
	cs := &consumerSub{sid: f.Sid, direct: f.Direct, join: &actors.ConsumerJoin{
		Channel: f.Channel, Consumer: f.Consumer,
		Config: store.ConsumerConfig{Mode: uint8(mode), AckWait: int64(time.Duration(f.AckWait) * time.Millisecond),
			MaxDeliver: int(f.MaxDeliver), MaxAckPending: int(f.MaxAckPending), DeadLetter: f.DeadLetter},
		Start: f.Start, Seq: f.Seq, Time: f.Time,
		Member: sc.PIDKey(ctx.Self()) + "/" + itoa(f.Sid), Sid: f.Sid, Window: win, ReplyTo: ctx.Self()}}
	s.consumers[f.Sid] = cs
	s.sendJoin(ctx, cs)
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// sendJoin joins the channel's activation, once one is known (onPidResolved calls it again).
func (s *session) sendJoin(ctx actor.Context, cs *consumerSub) {
	pid := s.pidFor(ctx, cs.join.Channel)
	cs.pid = pid
	if pid == nil {
		return
	}
	s.route(ctx, cs.join.Channel, pid)
	if addr := s.routed[cs.join.Channel]; !cs.acked && !cs.direct && addr != "" {
		// The client was just told (or knew) where the channel is served: its member joins there,
		// saving a hop between nodes for every delivery and ack.
		delete(s.consumers, cs.sid)
		s.w.send(protocol.NewError(protocol.CodeMoved, "channel %s is served at %s: join there (or with direct)",
			cs.join.Channel, addr).Frame(0, cs.sid))
		return
	}
	sc.Send(ctx, pid, cs.join)
}

// joinWaiting sends the joins that waited for channel's activation (pid nil: none could be had).
func (s *session) joinWaiting(ctx actor.Context, channel string, pid *actor.PID) {
	for _, cs := range s.consumers {
		if cs.pid == nil && !cs.parked && cs.join.Channel == channel {
			if pid != nil {
				s.sendJoin(ctx, cs)
			} else {
				s.rejoinLater(ctx, cs.sid)
			}
		}
	}
}

func (s *session) rejoinLater(ctx actor.Context, sid uint64) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(50*time.Millisecond, func() { root.Send(self, &rejoinConsume{sid: sid}) })
}

func (s *session) onConsumerJoined(ctx actor.Context, m *actors.ConsumerJoined) {
	cs := s.consumers[m.Sid]
	if cs == nil || cs.join.Channel != m.Channel {
		return
	}
	if m.Err != nil {
		if cs.acked && (m.Err.Code == protocol.CodeUnavailable || m.Err.Code == protocol.CodeTimeout) {
			cs.pid = nil // the activation is going: join the next one
			s.rejoinLater(ctx, cs.sid)
			return
		}
		s.protoErr(m.Err, 0, cs.sid)
		s.dropConsumer(ctx, cs, false)
		return
	}
	if !cs.acked {
		cs.acked = true
		s.w.send(&protocol.SubAck{Sid: cs.sid, StartSeq: m.StartSeq, LastSeq: m.LastSeq, Window: uint32(m.Window)})
	}
}

func (s *session) onConsumerDeliver(ctx actor.Context, m *actors.ConsumerDeliver) {
	cs := s.consumers[m.Sid]
	if cs == nil || cs.join.Channel != m.Channel {
		return // left: the actor hands them out again when their ack wait ends
	}
	if m.Actor != nil && (cs.pid == nil || !cs.pid.Equal(m.Actor)) {
		// From an activation the member is not joined to (two can run for a while after a partition):
		// its acks would go to the other, so this one would hand the messages out again and again.
		// Leave it; what it handed out goes out again from the current one after its ack wait.
		sc.Send(ctx, m.Actor, &actors.ConsumerLeave{Channel: cs.join.Channel, Consumer: cs.join.Consumer, Member: cs.join.Member})
		return
	}
	s.srv.metrics.Deliveries.Add(float64(len(m.Msgs)))
	for i := range m.Msgs {
		msg := &m.Msgs[i]
		s.w.send(&protocol.Msg{Sid: cs.sid, Channel: m.Channel, Seq: msg.Seq, Time: msg.Time, Headers: msg.Headers,
			Payload: msg.Payload, Attempt: uint32(m.Attempts[i])})
	}
}

// settle forwards consecutive ACK frames, those of one consumer subscription in one ConsumerAck, so
// that its activation settles them (and hands out what they make room for) together.
func (s *session) settle(ctx actor.Context, fs []*protocol.Ack) {
	var order []uint64
	batches := map[uint64]*actors.ConsumerAck{}
	for _, f := range fs {
		cs := s.consumers[f.Sid]
		var e *protocol.Error
		switch {
		case cs == nil:
			e = protocol.NewError(protocol.CodeUnknownSubscription, "no consumer subscription %d", f.Sid)
		case cs.pid == nil:
			e = protocol.NewError(protocol.CodeUnavailable, "consumer %s of %s is rejoining its channel; the delivery will come again", cs.join.Consumer, cs.join.Channel)
		}
		if e != nil {
			if f.Req != 0 {
				s.budget.forget(f.Req)
				s.protoErr(e, f.Req, 0)
			}
			continue
		}
		b := batches[f.Sid]
		if b == nil {
			b = &actors.ConsumerAck{Channel: cs.join.Channel, Consumer: cs.join.Consumer, Member: cs.join.Member, ReplyTo: ctx.Self()}
			batches[f.Sid] = b
			order = append(order, f.Sid)
		}
		b.Acks = append(b.Acks, actors.AckItem{Seq: f.Seq, Kind: f.Kind, Delay: int64(time.Duration(f.Delay) * time.Millisecond), Req: f.Req})
		if f.Req != 0 {
			s.acks[f.Req] = ackWait{sid: f.Sid, pid: cs.pid}
		}
	}
	for _, sid := range order {
		sc.Send(ctx, s.consumers[sid].pid, batches[sid])
	}
}

func (s *session) onConsumerAcked(m *actors.ConsumerAcked) {
	if _, ok := s.acks[m.Req]; !ok {
		return
	}
	delete(s.acks, m.Req)
	s.budget.forget(m.Req)
	if m.Err != nil {
		s.protoErr(m.Err, m.Req, 0)
		return
	}
	s.w.send(&protocol.Acked{Req: m.Req})
}

// consumersLost rejoins the consumer subscriptions whose activation stopped and answers the acks it
// left unanswered.
func (s *session) consumersLost(ctx actor.Context, who *actor.PID) {
	for req, w := range s.acks {
		if w.pid.Equal(who) {
			delete(s.acks, req)
			s.budget.forget(req)
			s.protoErr(protocol.NewError(protocol.CodeTimeout, "the channel's activation stopped: the ack may or may not have been recorded"), req, 0)
		}
	}
	for _, cs := range s.consumers {
		if cs.pid != nil && cs.pid.Equal(who) {
			cs.pid = nil
			s.sendJoin(ctx, cs)
		}
	}
}

// dropConsumer ends a consumer subscription (leave: tell the activation).
func (s *session) dropConsumer(ctx actor.Context, cs *consumerSub, leave bool) {
	delete(s.consumers, cs.sid)
	if leave && cs.pid != nil {
		sc.Send(ctx, cs.pid, &actors.ConsumerLeave{Channel: cs.join.Channel, Consumer: cs.join.Consumer, Member: cs.join.Member})
	}
	if cs.parked {
		s.syncInterest(ctx, cs.join.Channel)
	}
}

// onConsumerParked parks a member whose activation passivates with its consumer caught up: it waits,
// through the gateway's live messages of the channel, for a message past the last seq.
func (s *session) onConsumerParked(ctx actor.Context, m *actors.ConsumerParked) {
	cs := s.consumers[m.Sid]
	if cs == nil || cs.join.Channel != m.Channel || cs.pid == nil || !cs.pid.Equal(m.Actor) {
		return // left, or already joining another activation
	}
	cs.pid, cs.parked, cs.parkedSeq = nil, true, m.LastSeq
	s.syncInterest(ctx, m.Channel)
}

// unpark joins the parked members of channel once it stored a message past what they were caught up
// to (last: the channel's last seq as the gateway reports it).
func (s *session) unpark(ctx actor.Context, channel string, last uint64) {
	if len(s.consumers) == 0 {
		return // the common case on the delivery path: a session with subscriptions only
	}
	woke := false
	for _, cs := range s.consumers {
		if cs.parked && cs.join.Channel == channel && last > cs.parkedSeq {
			cs.parked = false
			woke = true
			s.sendJoin(ctx, cs)
		}
	}
	if woke {
		s.syncInterest(ctx, channel)
	}
}

// syncInterest tells the gateway whether this session wants channel's live messages: while it
// subscribes to it or has a parked consumer member on it.
// Only parked members: the gateway is asked not to register (passive), which would wake the channel.
func (s *session) syncInterest(ctx actor.Context, channel string) {
	subscribed := len(s.byChannel[channel]) > 0
	want := subscribed
	for _, cs := range s.consumers {
		want = want || (cs.parked && cs.join.Channel == channel)
	}
	passive, has := s.interest[channel]
	switch {
	case !want && has:
		delete(s.interest, channel)
		ctx.Send(s.srv.gateway, &removeSub{channel: channel, session: ctx.Self()})
	case want && (!has || (passive && subscribed)):
		s.interest[channel] = !subscribed
		ctx.Send(s.srv.gateway, &addSub{channel: channel, session: ctx.Self(), passive: !subscribed})
	}
}
