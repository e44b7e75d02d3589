package gateway

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/protocol"
)

// pubPipe is a session's publish pipeline to one channel. Batches go to one channel activation at a time,
// in the order the client sent them, so the channel stores them in that order and acks return in it.
//
// Passivation can race with a send: a batch posted to an activation that is stopping is dropped unseen.
// The session watches every activation it sends to; on its termination (processed after every result the
// activation sent, see session.go) the batches still pending there were never proposed and are resent,
// in order, to the next activation. While that is unresolved, newer batches are held back rather than
// sent to the new activation ahead of the older ones.
type pubPipe struct {
	pid      *actor.PID        // activation the sent batches went to
	sent     []*actors.Publish // sent to pid, unanswered, in send order
	held     []*actors.Publish // waiting for sent to be resolved
	attempts int               // consecutive resends without progress
	retrying bool
}

func (s *session) pipe(channel string) *pubPipe {
	p := s.pubs[channel]
	if p == nil {
		p = &pubPipe{}
		s.pubs[channel] = p
	}
	return p
}

func (s *session) publish(ctx actor.Context, m *actors.Publish) {
	m.ReplyTo = ctx.Self()
	p := s.pipe(m.Channel)
	if p.retrying || len(p.held) > 0 {
		p.held = append(p.held, m)
		return
	}
	pid := s.srv.cluster.Get(m.Channel, actors.Kind)
	if pid == nil {
		s.failBatch(m, protocol.NewError(protocol.CodeUnavailable, "channel %s could not be activated", m.Channel))
		return
	}
	if p.pid != nil && !p.pid.Equal(pid) && len(p.sent) > 0 {
		// A new activation while batches are pending at the old one: wait for the old one's fate.
		p.held = append(p.held, m)
		return
	}
	s.sendTo(ctx, p, pid, m)
}

func (s *session) sendTo(ctx actor.Context, p *pubPipe, pid *actor.PID, m *actors.Publish) {
	p.pid = pid
	if _, ok := s.watched[pid.String()]; !ok {
		s.watched[pid.String()] = pid
		ctx.Watch(pid)
	}
	p.sent = append(p.sent, m)
	ctx.Send(pid, m)
}

// resend handles the termination of an activation: what it never answered goes to the next one.
func (s *session) resend(ctx actor.Context, dead *actor.PID) {
	for ch, p := range s.pubs {
		if p.pid == nil || !p.pid.Equal(dead) {
			continue
		}
		p.pid = nil
		if len(p.sent) == 0 {
			if len(p.held) == 0 {
				delete(s.pubs, ch)
				continue
			}
		}
		p.held = append(p.sent, p.held...)
		p.sent = nil
		p.attempts++
		if p.attempts > 50 {
			for _, m := range p.held {
				s.failBatch(m, protocol.NewError(protocol.CodeUnavailable, "channel %s kept stopping; retry", ch))
			}
			delete(s.pubs, ch)
			continue
		}
		// The identity cache can still name the dead activation for a moment: back off a little more
		// each time.
		p.retrying = true
		self, root, channel := ctx.Self(), ctx.ActorSystem().Root, ch
		time.AfterFunc(time.Duration(p.attempts-1)*2*time.Millisecond, func() { root.Send(self, &retryPub{channel: channel}) })
	}
}

// retry sends a channel's held batches, in order, to its current activation.
func (s *session) retry(ctx actor.Context, channel string) {
	p := s.pubs[channel]
	if p == nil {
		return
	}
	p.retrying = false
	held := p.held
	p.held = nil
	if len(held) == 0 {
		return
	}
	pid := s.srv.cluster.Get(channel, actors.Kind)
	if pid == nil {
		for _, m := range held {
			s.failBatch(m, protocol.NewError(protocol.CodeUnavailable, "channel %s could not be activated", channel))
		}
		return
	}
	for _, m := range held {
		s.sendTo(ctx, p, pid, m)
	}
}

func (s *session) failBatch(m *actors.Publish, e *protocol.Error) {
	for _, r := range m.Reqs {
		s.w.send(e.Frame(r, 0), 0)
		<-s.tokens
	}
	s.srv.metrics.PublishErrors.Add(float64(len(m.Reqs)))
}

func (s *session) onPublishResult(m *actors.PublishResult) {
	p := s.pubs[m.Channel]
	if p == nil {
		return
	}
	found := false
	for i, b := range p.sent {
		if b.Batch == m.Batch {
			p.sent = append(p.sent[:i], p.sent[i+1:]...)
			found = true
			break
		}
	}
	if !found {
		return // answered before: cannot happen, a batch is only resent when unanswered
	}
	p.attempts = 0
	for _, r := range m.Results {
		if r.Err != nil {
			s.w.send(r.Err.Frame(r.Req, 0), 0)
		} else {
			s.w.send(&protocol.PubAck{Req: r.Req, Seq: r.Seq, Dup: r.Dup}, 0)
		}
		<-s.tokens
	}
	if len(p.sent) == 0 && len(p.held) == 0 && !p.retrying {
		delete(s.pubs, m.Channel)
	}
}
