package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/consumer"
	"github.com/sampan-io/sampan/internal/metrics"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Durable consumers on the channel actor. The decisions (who gets which seq when, what is handed out
// again, what is dead-lettered) are the pure consumer.Dispatcher's; the replicated state is the
// channel's own Raft group's (store.ConsumerInfo, changed by OpConsumer commands that go through the
// same proposal pipeline as publishes). The actor carries out the dispatcher's effects: it reads the
// messages it hands out from the local replica, sends them to the members' sessions, arms the
// dispatcher's timers, publishes dead letters, and proposes what became done (and, lazily, delivery
// counts). An ack is answered once the proposal that records it committed.

// Headers a dead-lettered message carries besides its own.
const (
	HeaderDLQChannel    = "Sampan-DLQ-Channel"    // the channel it came from
	HeaderDLQSeq        = "Sampan-DLQ-Seq"        // its seq there
	HeaderDLQConsumer   = "Sampan-DLQ-Consumer"   // the consumer that gave up on it
	HeaderDLQDeliveries = "Sampan-DLQ-Deliveries" // how often it was delivered
)

// DefaultAckWait is a consumer's ack wait when none is given.
const DefaultAckWait = 30 * time.Second

// deliveriesFlush is how long delivery counts wait to be proposed when no ack carries them sooner.
const deliveriesFlush = time.Second

// consumerRun is one consumer of the channel while the actor runs. Owned by the channel actor.
type consumerRun struct {
	name    string
	info    store.ConsumerInfo // as last committed
	st      *consumer.State    // the dispatcher's view: ahead of info by what is not committed yet
	d       *consumer.Dispatcher
	members map[string]memberRef // by member id
	wakeAt  time.Time            // a consumerTick is armed for then (zero: none)

	// What is done or delivered and not proposed yet, and the acks waiting for it.
	done, deadLettered []uint64
	deliveries         map[uint64]int
	skip               uint64 // the floor retention moved it to (0: none)
	replies            []ackReply
	inflight           bool           // a progress proposal is in the pipeline
	flushArmed         bool           // a consumerFlush is armed
	deadLetters        map[uint64]int // seq -> deliveries: being published to the dead-letter channel

	series *metrics.ConsumerSeries // labeled metrics (Env.ConsumerSeries); nil: totals only
}

type memberRef struct {
	pid *actor.PID
	sid uint64
}

type ackReply struct {
	pid *actor.PID
	req uint64
}

// consProp is a consumer command on its way through the pipeline.
type consProp struct {
	name    string
	kind    store.ConsumerOpKind
	done    []uint64 // progress: what it records, put back if it fails
	dl      []uint64
	deliv   map[uint64]int
	skip    uint64
	replies []ackReply
}

// pendingCreate holds what waits for a consumer's create to commit.
type pendingCreate struct {
	joins  []*ConsumerJoin
	admins []*actor.PID
}

// Timer and completion events of consumers.
type (
	consumerTick struct {
		name  string
		drain bool // only carry out effects left over (no Tick)
	}
	consumerFlush struct{ name string }
	dlqDone       struct {
		name string
		seq  uint64
		err  error
	}
	dlqRetry struct {
		name string
		seq  uint64
	}
)

func dispatcherConfig(c store.ConsumerConfig) consumer.Config {
	return consumer.Config{Mode: consumer.Mode(c.Mode), AckWait: time.Duration(c.AckWait), MaxDeliver: c.MaxDeliver,
		MaxAckPending: c.MaxAckPending}
}

// normalize fills a new consumer's defaults.
func normalize(c store.ConsumerConfig) store.ConsumerConfig {
	if c.Mode == 0 {
		c.Mode = uint8(consumer.Shared)
	}
	if c.AckWait <= 0 {
		c.AckWait = int64(DefaultAckWait)
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 1000
	}
	return c
}

func (a *channelActor) newRun(info *store.ConsumerInfo) *consumerRun {
	st := consumer.NewState(0)
	st.Floor = info.Floor
	for _, s := range info.Done {
		st.Done[s] = true
	}
	for s, n := range info.DeliveryCounts() {
		st.Deliveries[s] = n
	}
	r := &consumerRun{name: info.Name, info: *info, st: st, members: map[string]memberRef{},
		deliveries: map[uint64]int{}, deadLetters: map[uint64]int{}}
	if a.env.ConsumerSeries != nil {
		r.series = a.env.ConsumerSeries(a.name, info.Name)
	}
	now := time.Now()
	r.d = consumer.NewDispatcher(dispatcherConfig(info.Config), st, a.lastSeq, now)
	r.d.Allow(now, a.lease.from, a.lease.until)
	if a.consumers == nil {
		a.consumers = map[string]*consumerRun{}
	}
	a.consumers[info.Name] = r
	return r
}

// run returns the consumer's run, loading it from the local replica; nil when it does not exist.
func (a *channelActor) run(name string) (*consumerRun, *protocol.Error) {
	if r := a.consumers[name]; r != nil {
		return r, nil
	}
	v, err := a.env.NodeHost.StaleRead(a.shardID, store.ConsumerQuery{Name: name})
	if err != nil {
		return nil, protocol.NewError(protocol.CodeUnavailable, "read consumer: %v", err)
	}
	info, _ := v.(*store.ConsumerInfo)
	if info == nil {
		return nil, nil
	}
	return a.newRun(info), nil
}

// startFloor is the floor of a consumer created now at the given start position.
func (a *channelActor) startFloor(start protocol.StartKind, seq uint64, t int64) (uint64, *protocol.Error) {
	r := a.resolve(&Resolve{Channel: a.name, Start: start, Seq: seq, Time: t})
	if r.Err != nil {
		return 0, r.Err
	}
	if r.StartSeq == 0 {
		return 0, nil
	}
	return r.StartSeq - 1, nil
}

func (a *channelActor) consumerJoin(ctx actor.Context, m *ConsumerJoin) {
	fail := func(e *protocol.Error) {
		sc.Send(ctx, m.ReplyTo, &ConsumerJoined{Channel: a.name, Sid: m.Sid, Err: e})
	}
	if !a.ready {
		fail(a.unavailable())
		return
	}
	if pc := a.creating[m.Consumer]; pc != nil {
		pc.joins = append(pc.joins, m)
		return
	}
	r, e := a.run(m.Consumer)
	if e != nil {
		fail(e)
		return
	}
	if r == nil {
		if e := a.createConsumer(m.Consumer, m.Config, m.Start, m.Seq, m.Time); e != nil {
			fail(e)
			return
		}
		a.creating[m.Consumer].joins = append(a.creating[m.Consumer].joins, m)
		return
	}
	a.addMember(ctx, r, m)
}

// createConsumer proposes a new consumer; what waits for it goes in a.creating[name].
func (a *channelActor) createConsumer(name string, cfg store.ConsumerConfig, start protocol.StartKind, seq uint64, t int64) *protocol.Error {
	floor, e := a.startFloor(start, seq, t)
	if e != nil {
		return e
	}
	if a.creating == nil {
		a.creating = map[string]*pendingCreate{}
	}
	a.creating[name] = &pendingCreate{}
	a.proposeConsumer(&consProp{name: name, kind: store.ConsumerCreate},
		&store.ConsumerCommand{Kind: store.ConsumerCreate, Name: name, Config: normalize(cfg), Floor: floor})
	return nil
}

func (a *channelActor) proposeConsumer(cp *consProp, cmd *store.ConsumerCommand) {
	cmd.Epoch = a.epoch
	p := &proposal{cons: cp, time: a.nextTime()}
	p.cmd = store.EncodeCommand(nil, &store.Command{Op: store.OpConsumer, Time: p.time, Consumer: cmd})
	a.pipe.publish(time.Now(), a.leaderNow(), p)
}

func (a *channelActor) addMember(ctx actor.Context, r *consumerRun, m *ConsumerJoin) {
	window := m.Window
	if window <= 0 {
		window = 256
	}
	if old, ok := r.members[m.Member]; ok && !old.pid.Equal(m.ReplyTo) {
		r.d.Leave(time.Now(), m.Member)
	}
	r.members[m.Member] = memberRef{pid: m.ReplyTo, sid: m.Sid}
	a.watchMember(ctx, m.ReplyTo)
	sc.Send(ctx, m.ReplyTo, &ConsumerJoined{Channel: a.name, Sid: m.Sid, StartSeq: r.st.Floor + 1, LastSeq: a.lastSeq, Window: window})
	r.d.Stored(time.Now(), a.lastSeq) // a run without members is not told of publishes (consumerStored)
	r.d.Join(time.Now(), m.Member, window)
	a.consumerEffects(ctx, r)
	a.renewLease(ctx)
}

// Lease events (lease.go).
type (
	leaseTick struct{}
	leaseRead struct {
		start time.Time // when the read began
		epoch uint64    // the channel's epoch it found
		err   error
	}
)

// renewLease starts a lease read when one is due, and keeps a leaseTick armed while members are
// connected.
func (a *channelActor) renewLease(ctx actor.Context) {
	if !a.ready || a.stopping || a.superseded || !a.hasMembers() {
		return
	}
	now := time.Now()
	if a.lease.due(now) {
		a.lease.reading = true
		self, root, nh, shard := ctx.Self(), a.root, a.env.NodeHost, a.shardID
		a.env.active.Add(1) // the read uses the NodeHost
		go func() {
			defer a.env.active.Done()
			c, cancel := context.WithTimeout(context.Background(), leaseReadTimeout)
			v, err := nh.SyncRead(c, shard, &store.StateQuery{})
			cancel()
			m := &leaseRead{start: now, err: err}
			if st, ok := v.(store.ChannelState); ok {
				m.epoch = st.Epoch
			}
			root.Send(self, m)
		}()
	}
	if !a.leaseTick {
		a.leaseTick = true
		next := leaseRenew
		if wait := a.lease.from.Sub(now); wait > 0 && wait < next {
			next = wait // deliveries may start then
		}
		sendLater(a.root, ctx.Self(), next, &leaseTick{})
	}
}

func (a *channelActor) onLeaseTick(ctx actor.Context) {
	a.leaseTick = false
	a.allowDeliveries(ctx)
	a.renewLease(ctx)
}

func (a *channelActor) onLeaseRead(ctx actor.Context, m *leaseRead) {
	a.lease.reading = false
	switch {
	case !a.ready || a.stopping || a.superseded:
	case m.err != nil:
		a.log.Debug().Err(m.err).Msg("consumer lease read failed")
	case m.epoch > a.epoch:
		a.supersede(ctx)
	case m.epoch == a.epoch:
		a.lease.confirmed(m.start)
		a.allowDeliveries(ctx)
	}
}

// allowDeliveries gives every consumer's dispatcher the current lease and carries out what it hands
// out.
func (a *channelActor) allowDeliveries(ctx actor.Context) {
	now := time.Now()
	for _, r := range a.consumers {
		r.d.Allow(now, a.lease.from, a.lease.until)
		a.consumerEffects(ctx, r)
	}
}

func (a *channelActor) hasMembers() bool {
	for _, r := range a.consumers {
		if len(r.members) > 0 {
			return true
		}
	}
	return false
}

// watchMember watches a member's session once, so that its end (or its node's) removes its members.
func (a *channelActor) watchMember(ctx actor.Context, pid *actor.PID) {
	if a.memberPIDs == nil {
		a.memberPIDs = map[string]bool{}
	}
	if k := sc.PIDKey(pid); !a.memberPIDs[k] {
		a.memberPIDs[k] = true
		ctx.Watch(pid)
	}
}

// membersGone removes every member whose session is pid (it stopped, or its node is gone).
func (a *channelActor) membersGone(ctx actor.Context, pid *actor.PID) {
	k := sc.PIDKey(pid)
	if !a.memberPIDs[k] {
		return
	}
	delete(a.memberPIDs, k)
	for _, r := range a.consumers {
		for id, mr := range r.members {
			if sc.PIDKey(mr.pid) == k {
				delete(r.members, id)
				r.d.Leave(time.Now(), id)
			}
		}
		a.consumerEffects(ctx, r)
	}
}

func (a *channelActor) consumerLeave(ctx actor.Context, m *ConsumerLeave) {
	r := a.consumers[m.Consumer]
	if r == nil {
		return
	}
	if _, ok := r.members[m.Member]; !ok {
		return
	}
	delete(r.members, m.Member)
	r.d.Leave(time.Now(), m.Member)
	a.consumerEffects(ctx, r)
}

func (a *channelActor) consumerAck(ctx actor.Context, m *ConsumerAck) {
	answer := func(it AckItem, e *protocol.Error) {
		if it.Req != 0 && m.ReplyTo != nil {
			sc.Send(ctx, m.ReplyTo, &ConsumerAcked{Channel: a.name, Req: it.Req, Err: e})
		}
	}
	answerAll := func(e *protocol.Error) {
		for _, it := range m.Acks {
			answer(it, e)
		}
	}
	if !a.ready {
		answerAll(a.unavailable())
		return
	}
	r, e := a.run(m.Consumer)
	switch {
	case e != nil:
		answerAll(e)
		return
	case r == nil:
		answerAll(protocol.NewError(protocol.CodeNotFound, "consumer %s of %s does not exist", m.Consumer, a.name))
		return
	}
	now := time.Now()
	for _, it := range m.Acks {
		if it.Seq == 0 || it.Seq > a.lastSeq {
			answer(it, protocol.NewError(protocol.CodeInvalidArgument, "seq %d was never delivered (last seq %d)", it.Seq, a.lastSeq))
			continue
		}
		switch it.Kind {
		case protocol.AckDone, protocol.AckTerm:
			if it.Kind == protocol.AckTerm {
				r.d.Term(now, it.Seq)
			} else {
				r.d.Ack(now, it.Seq)
			}
			a.env.Metrics.ConsumerAcks.Inc()
			if r.series != nil {
				r.series.Acks.Inc()
			}
			r.done = append(r.done, it.Seq)
			if it.Req != 0 && m.ReplyTo != nil {
				r.replies = append(r.replies, ackReply{pid: m.ReplyTo, req: it.Req})
			}
		case protocol.AckNak:
			r.d.Nak(now, it.Seq, time.Duration(it.Delay))
			answer(it, nil)
		case protocol.AckInProgress:
			r.d.InProgress(now, it.Seq)
			answer(it, nil)
		default:
			answer(it, protocol.NewError(protocol.CodeInvalidArgument, "unknown ack kind %d", it.Kind))
		}
	}
	a.flushProgress(r)
	a.consumerEffects(ctx, r)
}

// flushProgress proposes what is done (and delivered) and not proposed yet, unless a progress
// proposal is in flight: what comes meanwhile goes in the next one (acks batch themselves under load).
func (a *channelActor) flushProgress(r *consumerRun) {
	if r.inflight || (len(r.done) == 0 && len(r.deliveries) == 0 && r.skip == 0) || !a.ready || a.superseded {
		return
	}
	cp := &consProp{name: r.name, kind: store.ConsumerProgress, done: r.done, dl: r.deadLettered, deliv: r.deliveries, skip: r.skip, replies: r.replies}
	cmd := &store.ConsumerCommand{Kind: store.ConsumerProgress, Name: r.name, Done: r.done, DeadLettered: r.deadLettered, Deliveries: r.deliveries, Skip: r.skip}
	r.done, r.deadLettered, r.deliveries, r.replies, r.skip = nil, nil, map[uint64]int{}, nil, 0
	r.inflight = true
	a.proposeConsumer(cp, cmd)
}

// consumerEffects carries out what the dispatcher decided, until it decides nothing more.
func (a *channelActor) consumerEffects(ctx actor.Context, r *consumerRun) {
	if r.series != nil {
		defer a.gauge(r)
	}
	for round := 0; round < 4; round++ {
		effects := r.d.Take()
		if len(effects) == 0 {
			return
		}
		now := time.Now()
		var deliver []consumer.Effect
		for _, e := range effects {
			switch e.Kind {
			case consumer.Deliver:
				deliver = append(deliver, e)
				r.deliveries[e.Seq] = e.Attempt
				if e.Attempt > 1 {
					a.env.Metrics.ConsumerRedeliveries.Inc()
					if r.series != nil {
						r.series.Redeliveries.Inc()
					}
				}
			case consumer.DeadLetter:
				a.deadLetter(ctx, r, e.Seq, e.Attempt)
			case consumer.Wake:
				if r.wakeAt.IsZero() || e.At.Before(r.wakeAt) {
					r.wakeAt = e.At
					sendLater(a.root, a.self, max(e.At.Sub(now), time.Millisecond), &consumerTick{name: r.name})
				}
			}
		}
		if len(deliver) > 0 {
			gone, first := a.sendDeliveries(ctx, r, deliver)
			if len(gone) > 0 && r.d.Trim(now, first) {
				// Retention removed them: the consumer skips to the first stored message in one step.
				r.skip = max(r.skip, first-1)
			}
			for _, seq := range gone {
				if seq >= first { // not stored, yet not below the first stored one: nothing to hand out
					r.d.Ack(now, seq)
					r.done = append(r.done, seq)
				}
			}
			a.env.Metrics.ConsumerDeliveries.Add(float64(len(deliver)))
			if r.series != nil {
				r.series.Deliveries.Add(float64(len(deliver)))
			}
		}
		if len(r.deliveries) > 0 && !r.flushArmed {
			r.flushArmed = true
			sendLater(a.root, a.self, deliveriesFlush, &consumerFlush{name: r.name})
		}
		a.flushProgress(r)
	}
	// Still effects after a few rounds (retention removing many seqs at once): go on from the mailbox.
	sendLater(a.root, a.self, time.Millisecond, &consumerTick{name: r.name, drain: true})
}

// sendDeliveries reads the messages of the deliveries from the local replica and sends each member
// its own, in the dispatcher's order. It returns the seqs no longer stored and the channel's first
// stored seq. It sends nothing when the replica shows a newer activation's epoch: this one's view of
// the consumer may miss what that one recorded, so it stops instead (supersede).
func (a *channelActor) sendDeliveries(ctx actor.Context, r *consumerRun, deliver []consumer.Effect) (gone []uint64, first uint64) {
	seqs := make([]uint64, 0, len(deliver))
	for _, e := range deliver {
		seqs = append(seqs, e.Seq)
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	msgs := map[uint64]store.Message{}
	for i := 0; i < len(seqs); {
		j := i + 1
		for j < len(seqs) && seqs[j] == seqs[j-1]+1 && j-i < 1024 {
			j++
		}
		v, err := a.env.NodeHost.StaleRead(a.shardID, &store.FetchQuery{From: seqs[i], MaxMsgs: j - i, MaxBytes: 64 << 20})
		if err == nil {
			res := v.(*store.FetchResult)
			if res.Epoch > a.epoch {
				a.supersede(ctx)
				return nil, 0
			}
			first = max(first, res.FirstSeq)
			for _, m := range res.Msgs {
				msgs[m.Seq] = m
			}
		} else {
			// Not readable now: leave them in flight; their ack wait hands them out again.
			a.log.Warn().Err(err).Msg("consumer: reading messages to deliver")
			for _, s := range seqs[i:j] {
				msgs[s] = store.Message{Seq: 0}
			}
		}
		i = j
	}
	out := map[string]*ConsumerDeliver{}
	for _, e := range deliver {
		m, ok := msgs[e.Seq]
		if !ok {
			gone = append(gone, e.Seq)
			continue
		}
		if m.Seq == 0 {
			continue
		}
		mr, ok := r.members[e.Member]
		if !ok {
			continue
		}
		d := out[e.Member]
		if d == nil {
			d = &ConsumerDeliver{Channel: a.name, Sid: mr.sid, Actor: ctx.Self()}
			out[e.Member] = d
		}
		d.Msgs = append(d.Msgs, m)
		d.Attempts = append(d.Attempts, e.Attempt)
	}
	for member, d := range out {
		sc.Send(ctx, r.members[member].pid, d)
	}
	return gone, first
}

// deadLetter publishes seq to the consumer's dead-letter channel and then records it done; without
// one it is recorded done (dropped) at once. Both are counted.
func (a *channelActor) deadLetter(ctx actor.Context, r *consumerRun, seq uint64, deliveries int) {
	a.env.Metrics.ConsumerDeadLetters.Inc()
	if r.series != nil {
		r.series.DeadLetters.Inc()
	}
	dlq := r.info.Config.DeadLetter
	if dlq == "" {
		r.done = append(r.done, seq)
		r.deadLettered = append(r.deadLettered, seq)
		return
	}
	r.deadLetters[seq] = deliveries
	a.publishDeadLetter(r, seq, deliveries)
}

func (a *channelActor) publishDeadLetter(r *consumerRun, seq uint64, deliveries int) {
	v, err := a.env.NodeHost.StaleRead(a.shardID, &store.FetchQuery{From: seq, MaxMsgs: 1, MaxBytes: 64 << 20})
	var msg *store.Message
	if err == nil {
		if ms := v.(*store.FetchResult).Msgs; len(ms) == 1 && ms[0].Seq == seq {
			msg = &ms[0]
		}
	}
	self, root, cl := a.self, a.root, a.cluster
	name := r.name
	if msg == nil {
		// Gone (retention) or unreadable now: nothing to publish when gone; try again when unreadable.
		go func() { root.Send(self, &dlqDone{name: name, seq: seq, err: err}) }()
		return
	}
	h := make(map[string]string, len(msg.Headers)+4)
	for k, v := range msg.Headers {
		h[k] = v
	}
	h[HeaderDLQChannel], h[HeaderDLQSeq] = a.name, strconv.FormatUint(seq, 10)
	h[HeaderDLQConsumer], h[HeaderDLQDeliveries] = r.name, strconv.Itoa(deliveries)
	item := store.PublishItem{IdemKey: fmt.Sprintf("dlq/%s/%s/%d", a.name, r.name, seq), Headers: h, Payload: msg.Payload}
	dlq, timeout := r.info.Config.DeadLetter, a.env.ProposalTimeout
	go func() {
		err := publishOnce(root, cl.Get(dlq, Kind), &Publish{Channel: dlq, Batch: 1, Reqs: []uint64{1}, Items: []store.PublishItem{item}}, timeout)
		root.Send(self, &dlqDone{name: name, seq: seq, err: err})
	}()
}

// publishOnce publishes one batch to a channel actor and waits for its answer (run off the actor).
func publishOnce(root *actor.RootContext, pid *actor.PID, m *Publish, timeout time.Duration) error {
	if pid == nil {
		return fmt.Errorf("no activation of channel %s", m.Channel)
	}
	f := actor.NewFuture(root.ActorSystem(), timeout)
	m.ReplyTo = f.PID()
	root.Send(pid, m)
	v, err := f.Result()
	if err != nil {
		return err
	}
	res, ok := v.(*PublishResult)
	if !ok || len(res.Results) != 1 {
		return fmt.Errorf("unexpected answer %T", v)
	}
	if e := res.Results[0].Err; e != nil {
		return e
	}
	return nil
}

func (a *channelActor) onDLQRetry(m *dlqRetry) {
	if r := a.consumers[m.name]; r != nil {
		if n, ok := r.deadLetters[m.seq]; ok {
			a.publishDeadLetter(r, m.seq, n)
		}
	}
}

func (a *channelActor) onDLQDone(ctx actor.Context, m *dlqDone) {
	r := a.consumers[m.name]
	if r == nil {
		return
	}
	if _, ok := r.deadLetters[m.seq]; !ok {
		return
	}
	if m.err != nil {
		a.log.Warn().Err(m.err).Str("consumer", m.name).Uint64("seq", m.seq).Msg("consumer: publishing a dead letter; retrying")
		sendLater(a.root, a.self, time.Second, &dlqRetry{name: m.name, seq: m.seq})
		return
	}
	delete(r.deadLetters, m.seq)
	r.done = append(r.done, m.seq)
	r.deadLettered = append(r.deadLettered, m.seq)
	a.flushProgress(r)
}

// finishConsumer handles the outcome of a consumer command.
func (a *channelActor) finishConsumer(ctx actor.Context, p *proposal) {
	cp := p.cons
	p.cmd = nil
	var info *store.ConsumerInfo
	var perr *protocol.Error
	switch {
	case p.expired, p.abandoned, p.code == codeTimeout, p.code == codeTerminated:
		perr = protocol.NewError(protocol.CodeTimeout, "consumer update timed out: it may or may not have been applied")
	case p.err != nil:
		perr = proposeError(p.err)
	case p.code == codeCommitted:
		var err error
		switch info, err = store.DecodeConsumerResult(p.result); {
		case errors.Is(err, store.ErrSuperseded):
			perr = protocol.NewError(protocol.CodeUnavailable, "consumer %s of %s moved to another activation; retry", cp.name, a.name)
			a.supersede(ctx)
		case err != nil:
			perr = protocol.NewError(protocol.CodeInvalidArgument, "%v", err)
		}
	default:
		perr = errNotStored
	}
	switch cp.kind {
	case store.ConsumerCreate:
		pc := a.creating[cp.name]
		delete(a.creating, cp.name)
		if pc == nil {
			return
		}
		var r *consumerRun
		if perr == nil {
			r = a.consumers[cp.name]
			if r == nil {
				r = a.newRun(info)
			}
		}
		for _, j := range pc.joins {
			if r == nil {
				sc.Send(ctx, j.ReplyTo, &ConsumerJoined{Channel: a.name, Sid: j.Sid, Err: perr})
				continue
			}
			a.addMember(ctx, r, j)
		}
		for _, to := range pc.admins {
			res := &ConsumerAdminResult{Channel: a.name}
			if perr != nil {
				res.Err = perr.Error()
			} else {
				res.Consumers = []ConsumerStatus{a.status(r)}
			}
			sc.Send(ctx, to, res)
		}
	case store.ConsumerProgress:
		r := a.consumers[cp.name]
		if r == nil {
			return
		}
		r.inflight = false
		if perr == nil {
			r.info = *info
			if r.series != nil {
				a.gauge(r)
			}
			for _, rep := range cp.replies {
				sc.Send(ctx, rep.pid, &ConsumerAcked{Channel: a.name, Req: rep.req})
			}
		} else if a.pipe.stopping || a.superseded {
			for _, rep := range cp.replies {
				sc.Send(ctx, rep.pid, &ConsumerAcked{Channel: a.name, Req: rep.req, Err: perr})
			}
		} else {
			// Not known to be recorded: propose it again (recording a seq done twice changes nothing).
			r.done = append(cp.done, r.done...)
			r.deadLettered = append(cp.dl, r.deadLettered...)
			r.skip = max(r.skip, cp.skip)
			for s, n := range cp.deliv {
				r.deliveries[s] = max(r.deliveries[s], n)
			}
			r.replies = append(cp.replies, r.replies...)
		}
		a.flushProgress(r)
	case store.ConsumerDelete:
		r := a.consumers[cp.name]
		if perr == nil && r != nil {
			delete(a.consumers, cp.name)
			if r.series != nil {
				r.series.Stopped()
			}
			gone := protocol.NewError(protocol.CodeNotFound, "consumer %s of %s was removed", cp.name, a.name)
			for _, mr := range r.members {
				sc.Send(ctx, mr.pid, &ConsumerJoined{Channel: a.name, Sid: mr.sid, Err: gone})
			}
		}
		for _, to := range a.removing[cp.name] {
			res := &ConsumerAdminResult{Channel: a.name}
			if perr != nil {
				res.Err = perr.Error()
			}
			sc.Send(ctx, to, res)
		}
		delete(a.removing, cp.name)
	}
}

// supersede stops an activation whose consumer command the state machine refused as superseded: a
// newer activation of the channel (on another node, after a partition or a node taken for dead)
// proposed its settings since, and runs from what is committed. This one's consumer state is in its
// memory only and goes stale, so it stops: its members, which watch it, join the current one; what
// it handed out and nobody acked there goes out again after its ack wait.
func (a *channelActor) supersede(ctx actor.Context) {
	if a.superseded {
		return
	}
	a.superseded = true
	a.env.Metrics.ConsumerSuperseded.Inc()
	a.log.Warn().Uint64("epoch", a.epoch).Msg("channel activation superseded by a newer one; stopping")
	gone := protocol.NewError(protocol.CodeUnavailable, "channel %s moved to another activation; the delivery will come again", a.name)
	for _, r := range a.consumers {
		for _, rep := range r.replies {
			sc.Send(ctx, rep.pid, &ConsumerAcked{Channel: a.name, Req: rep.req, Err: gone})
		}
		r.replies, r.done, r.deadLettered, r.deliveries, r.skip = nil, nil, nil, map[uint64]int{}, 0
	}
	a.stop(ctx)
}

// failConsumerProposal answers what waited for a consumer command that was never proposed.
func (a *channelActor) failConsumerProposal(ctx actor.Context, p *proposal, e *protocol.Error) {
	p.err = e
	a.finishConsumer(ctx, p)
}

// consumerStored tells every consumer with members that the channel grew.
func (a *channelActor) consumerStored(ctx actor.Context) {
	now := time.Now()
	for _, r := range a.consumers {
		if len(r.members) > 0 {
			r.d.Stored(now, a.lastSeq)
			a.consumerEffects(ctx, r)
		} else if r.series != nil {
			a.gauge(r)
		}
	}
}

// gauge sets a labeled consumer's lag and pending gauges.
func (a *channelActor) gauge(r *consumerRun) {
	r.series.Lag.Set(float64(a.lastSeq - min(a.lastSeq, r.info.Floor)))
	r.series.Pending.Set(float64(r.d.Pending()))
}

// consumersStopped removes the gauges of the labeled consumers: the activation stops.
func (a *channelActor) consumersStopped() {
	for _, r := range a.consumers {
		if r.series != nil {
			r.series.Stopped()
		}
	}
}

func (a *channelActor) onConsumerTick(ctx actor.Context, m *consumerTick) {
	r := a.consumers[m.name]
	if r == nil {
		return
	}
	if m.drain {
		a.consumerEffects(ctx, r)
		return
	}
	now := time.Now()
	if !r.wakeAt.IsZero() && now.Before(r.wakeAt) {
		return // a later tick is armed
	}
	r.wakeAt = time.Time{}
	r.d.Tick(now)
	a.consumerEffects(ctx, r)
}

// consumersBusy reports whether a consumer keeps the channel from passivating: members connected
// while it has messages to hand out or deliveries unsettled, or progress not recorded yet.
func (a *channelActor) consumersBusy() bool {
	if len(a.creating) > 0 {
		return true
	}
	for _, r := range a.consumers {
		if (len(r.members) > 0 && !r.d.CaughtUp()) || r.inflight || len(r.done) > 0 || len(r.deliveries) > 0 ||
			len(r.deadLetters) > 0 || r.skip > 0 {
			return true
		}
	}
	return false
}

// parkMembers tells the members of the (caught-up) consumers that the channel passivates: they join
// again once a message is stored after a.lastSeq, rather than waking it at once.
func (a *channelActor) parkMembers(ctx actor.Context) {
	for _, r := range a.consumers {
		for _, mr := range r.members {
			sc.Send(ctx, mr.pid, &ConsumerParked{Channel: a.name, Sid: mr.sid, LastSeq: a.lastSeq, Actor: ctx.Self()})
		}
	}
}

func (a *channelActor) status(r *consumerRun) ConsumerStatus {
	c := r.info.Config
	mode := "shared"
	if consumer.Mode(c.Mode) == consumer.Exclusive {
		mode = "exclusive"
	}
	s := ConsumerStatus{Name: r.name, Mode: mode, AckWait: time.Duration(c.AckWait).String(), MaxDeliver: c.MaxDeliver,
		MaxAckPending: c.MaxAckPending, DeadLetter: c.DeadLetter, AckFloor: r.info.Floor, LastSeq: a.lastSeq,
		Pending: r.d.Pending(), Acked: r.info.Acked, DeadLettered: r.info.DeadLettered, Members: len(r.members)}
	if a.lastSeq > r.info.Floor {
		s.Lag = a.lastSeq - r.info.Floor
	}
	for _, n := range r.st.Deliveries {
		if n > 1 {
			s.Redelivered++
		}
	}
	return s
}

func (a *channelActor) consumerAdmin(ctx actor.Context, m *ConsumerAdmin) {
	res := &ConsumerAdminResult{Channel: a.name}
	if !a.ready {
		res.Err = a.unavailable().Error()
		sc.Respond(ctx, res)
		return
	}
	// The last seq a status reports is the stored one, also when this activation missed a result.
	_ = a.adoptLastSeq(ctx)
	switch m.Op {
	case ConsumerList:
		v, err := a.env.NodeHost.StaleRead(a.shardID, store.ConsumersQuery{})
		if err != nil {
			res.Err = err.Error()
			break
		}
		for _, info := range v.([]store.ConsumerInfo) {
			r := a.consumers[info.Name]
			if r == nil {
				r = a.newRun(&info)
			}
			res.Consumers = append(res.Consumers, a.status(r))
		}
	case ConsumerInfo:
		r, e := a.run(m.Name)
		switch {
		case e != nil:
			res.Err = e.Error()
		case r == nil:
			res.NotFound = true
		default:
			res.Consumers = []ConsumerStatus{a.status(r)}
		}
	case ConsumerAdd:
		if pc := a.creating[m.Name]; pc != nil {
			pc.admins = append(pc.admins, ctx.Sender())
			return
		}
		r, e := a.run(m.Name)
		switch {
		case e != nil:
			res.Err = e.Error()
		case r != nil:
			res.Consumers = []ConsumerStatus{a.status(r)}
		default:
			if e := a.createConsumer(m.Name, m.Config, m.Start, m.Seq, m.Time); e != nil {
				res.Err = e.Error()
				break
			}
			a.creating[m.Name].admins = append(a.creating[m.Name].admins, ctx.Sender())
			return
		}
	case ConsumerRemove:
		r, e := a.run(m.Name)
		switch {
		case e != nil:
			res.Err = e.Error()
		case r == nil:
			res.NotFound = true
		default:
			if a.removing == nil {
				a.removing = map[string][]*actor.PID{}
			}
			a.removing[m.Name] = append(a.removing[m.Name], ctx.Sender())
			a.proposeConsumer(&consProp{name: m.Name, kind: store.ConsumerDelete}, &store.ConsumerCommand{Kind: store.ConsumerDelete, Name: m.Name})
			return
		}
	default:
		res.Err = fmt.Sprintf("unknown consumer operation %d", m.Op)
	}
	sc.Respond(ctx, res)
}
