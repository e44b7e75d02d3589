package actors

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
	sm "github.com/lni/dragonboat/v4/statemachine"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// The channel actor's side of the proposal pipeline (pipeline.go): it turns publishes into proposals,
// proposes them through Dragonboat, waits for each result beside the actor, and carries out the
// pipeline's effects (answers in order, deliveries to gateways, timers, a stop).

// proposal is one publish batch on its way through the pipeline. The channel actor owns it; the fields
// the pipeline reads and writes are marked (core), the others are the actor's.
type proposal struct {
	msg      *Publish          // the items proposed (nil for a consumer command: cons)
	cons     *consProp         // a consumer command (consumers.go)
	orig     *Publish          // as received, when oversize items were taken out of msg
	rejected []*protocol.Error // per item of orig: why it was refused before proposing (nil: proposed)
	time     int64             // the proposal timestamp, which the state machine gives every message of the entry
	cmd      []byte            // encoded command, kept until answered (a dropped proposal is proposed again)
	// result: the committed entry's result (set when the attempt's outcome arrives, codeCommitted).
	result sm.Result
	// resultC receives the outcome of the current attempt, from the goroutine waiting for it (await).
	resultC chan dragonboat.RequestResult

	start     time.Time  // (core) when the actor received it
	empty     bool       // (core) no items left to propose: answered in turn without proposing
	attempt   int        // (core) proposals made of it; a result of an earlier one is stale
	done      bool       // (core) the current attempt is answered, or proposing failed (err)
	code      resultCode // (core) how Raft answered the current attempt
	err       error      // (core) proposing failed
	abandoned bool       // (core) answered "outcome unknown" without waiting for Raft (leader lost, or expired)
	expires   bool       // (core) proposed with a longer timeout than asked: the core expires it
	expired   bool       // (core) answered "timed out" by the core at the proposal timeout
}

// proposalDone tells the actor that attempt of p has its outcome in p.resultC.
type proposalDone struct {
	p       *proposal
	attempt int
}

// Timer events of the pipeline.
type (
	retryBlocked struct{}
	abandonCheck struct{}
	expireCheck  struct{}
)

func (a *channelActor) publish(ctx actor.Context, m *Publish) {
	if !a.ready && a.job == nil {
		a.failBatch(ctx, m, a.unavailable())
		return
	}
	p := &proposal{msg: m}
	if limit := a.settings.MaxBytes; limit > 0 {
		// A message larger than the channel's byte limit would get a seq and be deleted at once, with
		// everything older: refuse it instead.
		p.msg, p.rejected = splitOversize(m, limit)
		if p.rejected != nil {
			p.orig = m
		}
		m = p.msg
	}
	if p.empty = len(m.Items) == 0; !p.empty {
		p.time = a.nextTime()
		p.cmd = store.EncodeCommand(nil, &store.Command{Op: store.OpPublish, Time: p.time, Msgs: m.Items})
	}
	a.pipe.publish(time.Now(), a.leaderNow(), p)
}

// leaderNow is the shard's leader replica as the local replica knows it, looked up only while the
// pipeline waits for a leadership transfer (the only time it uses it).
func (a *channelActor) leaderNow() uint64 {
	if !a.pipe.pulling() {
		return 0
	}
	leader, _, ok, err := a.env.NodeHost.GetLeaderID(a.shardID)
	if err != nil || !ok {
		return 0
	}
	return leader
}

// propose is the pipeline's proposer: Dragonboat's Propose, which queues and returns at once.
func (a *channelActor) propose(p *proposal, timeout time.Duration, redo bool) proposeOutcome {
	t, expires := a.proposeTimeout(timeout)
	rs, err := a.env.NodeHost.Propose(a.session, p.cmd, t)
	if err != nil {
		out := proposeOutcome{err: err, busy: dragonboat.IsTempError(err), gone: errors.Is(err, dragonboat.ErrShardNotFound)}
		if out.gone {
			// This node's replica is gone (moved away, or unloaded under us): this activation can never
			// propose again. It stops, so the next publish activates the channel where a replica runs.
			a.log.Warn().Msg("channel's replica no longer runs on this node; stopping the activation")
		}
		return out
	}
	if redo {
		a.env.Metrics.Reproposed.Inc()
	}
	p.resultC = make(chan dragonboat.RequestResult, 1)
	c, attempt, self, root := p.resultC, p.attempt, a.self, a.root // the goroutine reads no actor field
	go func() {
		c <- <-rs.ResultC()
		rs.Release()
		root.Send(self, &proposalDone{p: p, attempt: attempt})
	}()
	return proposeOutcome{expires: expires}
}

// settle takes the outcome of attempt of p from its result channel and gives it to the pipeline.
func (a *channelActor) settle(p *proposal, attempt int) {
	if attempt != p.attempt || p.done {
		return // stale: proposed again since, or already answered
	}
	r := <-p.resultC
	code := codeRejected
	switch {
	case r.Completed():
		code, p.result = codeCommitted, r.GetResult()
	case r.Dropped():
		code = codeDropped
	case r.Timeout():
		code = codeTimeout
	case r.Terminated():
		code = codeTerminated
	}
	a.pipe.done(time.Now(), p, attempt, code)
}

// tickGuard is how long after this node started its replica of a shard a proposal may meet the
// replica's proposal clock not yet set (see proposeTimeout): a few ticks, with room for a loaded machine.
const tickGuard = time.Second

// proposeTimeout returns the timeout to give Dragonboat for a proposal that should time out after
// want, and whether the actor must expire it itself. Dragonboat times proposals on a per-replica clock
// that a new replica starts at 0 and that jumps to the NodeHost's tick count (ticks since the NodeHost
// started) at the replica's first tick: a proposal made before that gets a deadline of want in ticks
// from 0 and is answered "timed out" at the first tick, though it was queued and may well commit. With
// activations no longer waiting for an election, the first publish often comes before that tick
// (measured: 1-3 wakes in 100 answered "timed out" within ~10 ms). So a proposal made soon after this
// node started the replica gets a timeout longer than the NodeHost's uptime, which no clock jump can
// reach, and the pipeline answers it "timed out" itself at want (expireCheck), as Dragonboat would have.
func (a *channelActor) proposeTimeout(want time.Duration) (time.Duration, bool) {
	return proposeTimeout(a.env, a.shardID, want)
}

func proposeTimeout(env *Env, shard uint64, want time.Duration) (time.Duration, bool) {
	if env.HostStarted.IsZero() || time.Since(env.startedAt(shard)) > tickGuard {
		return want, false
	}
	return want + time.Since(env.HostStarted) + 2*env.Tick, true
}

// apply carries out the pipeline's effects: answers (in order), one delivery of what they stored to
// every registered gateway, timers and a stop.
func (a *channelActor) apply(ctx actor.Context) {
	// Answering a consumer command can propose another (the next batch of acks): go on until the
	// pipeline has nothing more to say.
	for effects := a.pipe.take(); len(effects) > 0; effects = a.pipe.take() {
		a.applyEffects(ctx, effects)
	}
}

func (a *channelActor) applyEffects(ctx actor.Context, effects []effect) {
	var deliver []store.Message
	stored := a.lastSeq
	for _, e := range effects {
		switch e.kind {
		case effAnswer:
			deliver = a.finish(ctx, e.p, deliver)
		case effArm:
			var msg any
			switch e.timer {
			case retryTimer:
				msg = &retryBlocked{}
			case abandonTimer:
				msg = &abandonCheck{}
			case expireTimer:
				msg = &expireCheck{}
			}
			sendLater(a.root, a.self, e.after, msg)
		case effStop:
			a.stop(ctx)
		}
	}
	if len(deliver) > 0 {
		d := &Deliver{Channel: a.name, Msgs: deliver, LastSeq: a.lastSeq}
		for _, gw := range a.gateways {
			sc.Send(ctx, gw, d)
		}
	}
	if a.lastSeq > stored && len(a.consumers) > 0 {
		a.consumerStored(ctx)
	}
}

var (
	errPublishTimedOut = protocol.NewError(protocol.CodeTimeout, "publish timed out: it may or may not have been stored")
	errLeaderChanged   = protocol.NewError(protocol.CodeTimeout, "the channel's Raft leader changed: publish may or may not have been stored")
	errShardStopped    = protocol.NewError(protocol.CodeTimeout, "channel shard stopped: publish may or may not have been stored")
	errNotStored       = protocol.NewError(protocol.CodeUnavailable, "publish dropped or rejected by raft; retry")
)

// finish answers p's publisher and appends what it stored to deliver.
func (a *channelActor) finish(ctx actor.Context, p *proposal, deliver []store.Message) []store.Message {
	if p.cons != nil {
		a.finishConsumer(ctx, p)
		return deliver
	}
	m := p.msg
	p.cmd = nil
	res := &PublishResult{Channel: a.name, Batch: m.Batch, Results: make([]PubResult, len(m.Items))}
	var perr *protocol.Error
	switch {
	case p.empty:
	case p.expired:
		perr = errPublishTimedOut
	case p.abandoned:
		perr = errLeaderChanged
	case p.err != nil:
		perr = proposeError(p.err)
	case p.code == codeCommitted:
		pr, err := store.DecodePublishResult(p.result.Data)
		if err != nil || len(pr.Seqs) != len(m.Items) {
			perr = protocol.NewError(protocol.CodeInternal, "bad publish result")
			break
		}
		a.env.Metrics.AckLatency.Observe(time.Since(p.start).Seconds())
		for i, it := range m.Items {
			res.Results[i] = PubResult{Req: m.Reqs[i], Seq: pr.Seqs[i], Dup: pr.Dup[i]}
			if !pr.Dup[i] {
				if pr.Seqs[i] > a.lastSeq {
					a.lastSeq = pr.Seqs[i]
				}
				if len(a.gateways) > 0 { // no gateway registered: nobody to deliver to
					deliver = append(deliver, store.Message{Seq: pr.Seqs[i], Time: p.time, Headers: it.Headers, Payload: it.Payload})
				}
			}
		}
		a.env.Metrics.Acks.Add(float64(len(m.Items)))
	case p.code == codeTimeout:
		perr = errPublishTimedOut
	case p.code == codeTerminated:
		perr = errShardStopped
	default:
		perr = errNotStored
	}
	if perr != nil {
		if perr.Code == protocol.CodeTimeout && !a.seqCheckArmed {
			// It may still commit, unseen by this activation: look at the stored last seq soon.
			a.seqCheckArmed = true
			sendLater(a.root, a.self, time.Second, &lastSeqCheck{})
		}
		for i := range m.Items {
			res.Results[i] = PubResult{Req: m.Reqs[i], Err: perr}
		}
		a.env.Metrics.PublishErrors.Add(float64(len(m.Items)))
	}
	p.merge(res)
	if m.ReplyTo != nil {
		sc.Send(ctx, m.ReplyTo, res)
	}
	return deliver
}

// drain waits for every proposal in flight and answers it (shutdown: a clean stop never leaves a client
// without an outcome), then answers what was never proposed, unless the sessions resend it (hand-off).
func (a *channelActor) drain(ctx actor.Context) {
	a.pipe.stopping = true
	for p := a.pipe.pending(); p != nil; p = a.pipe.pending() {
		if p.resultC == nil {
			break // never handed to Raft (cannot happen: pending ones were proposed)
		}
		a.settle(p, p.attempt)
	}
	a.apply(ctx)
	blocked := a.pipe.takeBlocked()
	if a.pipe.handingOff {
		// Consumer commands are not resent by anyone: answer them (an ack then fails and its delivery
		// comes again).
		var cons []*proposal
		for _, p := range blocked {
			if p.cons != nil {
				cons = append(cons, p)
			}
		}
		a.failBlocked(ctx, cons, protocol.NewError(protocol.CodeUnavailable, "channel moving; consumer update not stored, retry"))
		// Handing off under load: what is blocked was never proposed, and the sessions that sent it
		// resend every unanswered batch, in order, to the next activation when they see this one
		// terminate (gateway/publish.go): left unanswered, the hand-off costs publishers nothing.
		return
	}
	a.failBlocked(ctx, blocked, protocol.NewError(protocol.CodeUnavailable, "channel stopping; publish not stored, retry"))
}

// failBlocked answers publishes that were never proposed with e.
func (a *channelActor) failBlocked(ctx actor.Context, blocked []*proposal, e *protocol.Error) {
	for _, p := range blocked {
		if p.cons != nil {
			a.failConsumerProposal(ctx, p, e)
			continue
		}
		res := failedResult(p.msg, e)
		p.merge(res)
		a.env.Metrics.PublishErrors.Add(float64(len(p.msg.Items)))
		if p.msg.ReplyTo != nil {
			sc.Send(ctx, p.msg.ReplyTo, res)
		}
	}
}

// merge puts the refused items back among the results, in the order the client sent them (answers for
// a channel keep publish order).
func (p *proposal) merge(res *PublishResult) {
	if p.orig == nil {
		return
	}
	out := make([]PubResult, 0, len(p.orig.Reqs))
	j := 0
	for i, req := range p.orig.Reqs {
		if e := p.rejected[i]; e != nil {
			out = append(out, PubResult{Req: req, Err: e})
		} else {
			out = append(out, res.Results[j])
			j++
		}
	}
	res.Batch = p.orig.Batch
	res.Results = out
}

// splitOversize takes out the items whose stored size exceeds maxBytes. rejected is nil when none does.
func splitOversize(m *Publish, maxBytes uint64) (*Publish, []*protocol.Error) {
	var rejected []*protocol.Error
	for i, it := range m.Items {
		if size := store.MsgSize(it.Headers, it.Payload); size > maxBytes {
			if rejected == nil {
				rejected = make([]*protocol.Error, len(m.Items))
			}
			rejected[i] = protocol.NewError(protocol.CodePayloadTooLarge,
				"message of %d bytes exceeds the channel's retention max_bytes %d", size, maxBytes)
		}
	}
	if rejected == nil {
		return m, nil
	}
	n := &Publish{Channel: m.Channel, Batch: m.Batch, ReplyTo: m.ReplyTo}
	for i, it := range m.Items {
		if rejected[i] == nil {
			n.Items = append(n.Items, it)
			n.Reqs = append(n.Reqs, m.Reqs[i])
		}
	}
	return n, rejected
}

// clockStretch is how much longer than wanted a read or proposal made now must tell Dragonboat it may
// take, for the same reason as proposeTimeout (its caller then cancels it at the wanted time).
func clockStretch(env *Env, shard uint64) time.Duration {
	t, _ := proposeTimeout(env, shard, 0)
	return t
}
