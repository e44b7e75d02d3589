package gateway

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sampan-io/sampan/actors"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
)

// pubPipe is a session's publish pipeline to one channel. Batches go to one channel activation at a time,
// in the order the client sent them, so the channel stores them in that order and answers in it.
//
// Passivation can race with a send: a batch posted to an activation that is stopping is dropped unseen.
// The session watches every activation it sends to; on its termination (processed after every result the
// activation sent, see session.go) the batches still pending there were never proposed (a channel actor
// stops only with nothing in flight) and are resent, in order, to the next activation. While that is
// unresolved, newer batches are held back rather than sent ahead of the older ones.
type pubPipe struct {
	pid      *actor.PID        // activation the sent batches went to
	sent     []*actors.Publish // sent to pid, unanswered, in send order
	held     []*actors.Publish // waiting for sent to be resolved, in order
	attempts int               // consecutive resends without an answer
	retrying bool              // a retryPub is scheduled
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
	pid := s.pidFor(ctx, m.Channel)
	if pid == nil {
		p.held = append(p.held, m) // sent when the lookup answers (onPidResolved)
		return
	}
	if p.pid != nil && !p.pid.Equal(pid) && len(p.sent) > 0 {
		// A new activation while batches are pending at the old one: wait, so nothing overtakes what
		// was sent before.
		p.held = append(p.held, m)
		s.scheduleRetry(ctx, p, m.Channel)
		return
	}
	s.sendTo(ctx, p, pid, m)
}

func (s *session) sendTo(ctx actor.Context, p *pubPipe, pid *actor.PID, m *actors.Publish) {
	p.pid = pid
	p.sent = append(p.sent, m)
	s.route(ctx, m.Channel, pid) // if not told yet (the node's address was not known when it resolved)
	sc.Send(ctx, pid, m)
}

func (s *session) scheduleRetry(ctx actor.Context, p *pubPipe, channel string) {
	if p.retrying {
		return
	}
	p.retrying = true
	p.attempts++
	// The identity lookup can still name a dead activation for a moment: back off a little more each time.
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(time.Duration(p.attempts)*2*time.Millisecond, func() { root.Send(self, &retryPub{channel: channel}) })
}

// resend handles the termination of an activation: what it never answered goes to the next one. When
// the activation's node was lost (not a clean passivation), the batches it had may already be
// proposed and committed: resending could store them twice, so they fail with timeout (outcome unknown;
// a retry with an idempotency key is safe) and only the held ones, never sent, go on.
func (s *session) resend(ctx actor.Context, dead *actor.PID, lost bool) {
	for ch, p := range s.pubs {
		if p.pid == nil || !p.pid.Equal(dead) {
			continue
		}
		s.log.Debug().Str("channel", ch).Bool("lost", lost).Int("sent", len(p.sent)).Int("held", len(p.held)).Msg("activation gone; resending")
		p.pid = nil
		if lost {
			for _, m := range p.sent {
				s.failBatch(m, protocol.NewError(protocol.CodeTimeout, "the node running channel %s was lost: publish may or may not have been stored", ch))
			}
			p.sent = nil
		}
		if len(p.sent) == 0 && len(p.held) == 0 {
			delete(s.pubs, ch)
			continue
		}
		p.held = append(p.sent, p.held...)
		p.sent = nil
		s.scheduleRetry(ctx, p, ch)
	}
}

// retry sends a channel's held batches, in order, to its current activation.
func (s *session) retry(ctx actor.Context, channel string) {
	p := s.pubs[channel]
	if p == nil {
		return
	}
	p.retrying = false
	if len(p.held) == 0 {
		return
	}
	if p.attempts > 50 {
		for _, m := range p.held {
			s.failBatch(m, protocol.NewError(protocol.CodeUnavailable, "channel %s could not be reached; publish not stored, retry", channel))
		}
		p.held = nil
		if len(p.sent) == 0 {
			delete(s.pubs, channel)
		}
		return
	}
	pid := s.pidFor(ctx, channel)
	if pid == nil {
		return // retried when the lookup answers (onPidResolved)
	}
	if p.pid != nil && !p.pid.Equal(pid) && len(p.sent) > 0 {
		s.log.Debug().Str("channel", channel).Int("attempt", p.attempts).Msg("no activation yet; retrying")
		s.scheduleRetry(ctx, p, channel)
		return
	}
	held := p.held
	p.held = nil
	for _, m := range held {
		s.sendTo(ctx, p, pid, m)
	}
}

// failBatch answers every publish of m with e and frees their budget.
func (s *session) failBatch(m *actors.Publish, e *protocol.Error) {
	for _, r := range m.Reqs {
		s.w.send(e.Frame(r, 0))
	}
	s.releaseBatch(m)
	s.srv.metrics.PublishErrors.Add(float64(len(m.Reqs)))
}

func (s *session) releaseBatch(m *actors.Publish) {
	size := 0
	for _, it := range m.Items {
		size += pubSize(it.Payload, it.Headers, it.IdemKey)
	}
	s.budget.release(m.Reqs, size)
}

func (s *session) onPublishResult(m *actors.PublishResult) {
	p := s.pubs[m.Channel]
	if p == nil {
		return
	}
	var batch *actors.Publish
	for i, b := range p.sent {
		if b.Batch == m.Batch {
			batch = b
			p.sent = append(p.sent[:i], p.sent[i+1:]...)
			break
		}
	}
	if batch == nil {
		return // cannot happen: a batch is resent only when unanswered
	}
	p.attempts = 0
	for _, r := range m.Results {
		if r.Err != nil {
			s.w.send(r.Err.Frame(r.Req, 0))
		} else {
			s.w.send(&protocol.PubAck{Req: r.Req, Seq: r.Seq, Dup: r.Dup})
		}
	}
	s.releaseBatch(batch)
	if len(p.sent) == 0 && len(p.held) == 0 && !p.retrying {
		delete(s.pubs, m.Channel)
	}
}
