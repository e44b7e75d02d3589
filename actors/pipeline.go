package actors

import "time"

// The proposal pipeline of a channel actor, as a pure core: which publish is proposed when, which waits,
// which is proposed again, and the order answers leave in. It takes events with the time passed in and
// records effects (answers, timers, a stop) for the actor to carry out; the actor owns it and is the only
// caller (one goroutine: the actor's mailbox). Proposing itself goes through the proposer it is given,
// a call that never blocks (Dragonboat's Propose queues and returns), so the core learns at once whether
// a proposal was taken, refused for back-pressure, or failed.
//
// Invariants: queue holds the proposals handed to Dragonboat (or answered without proposing), oldest
// first, and answers leave strictly from its head, so a channel's answers keep publish order; blocked
// holds, in order, the publishes not handed over yet, all younger than everything in queue, and nothing
// is proposed while it is non-empty.
type pipeline struct {
	timeout time.Duration // ProposalTimeout
	prop    proposer

	ready      bool // the activation has a running replica and a session: proposing is possible
	queue      []*proposal
	blocked    []*proposal
	retryArmed bool // a retryTimer is pending
	// redoing: the oldest proposal was dropped and waits for every later one to be answered (redo); new
	// proposals wait meanwhile.
	redoing bool
	// handingOff: the channel stops for its preferred node once what is in queue is answered; nothing
	// new is proposed.
	handingOff bool
	// stopping: the actor is shutting down; dropped proposals are answered, not proposed again.
	stopping bool

	// A leadership transfer to replica pullTarget was asked for; proposals wait until it completes or
	// pullingUntil passes (see hold).
	pullTarget   uint64
	pullingUntil time.Time

	knownLeader     uint64    // the shard's last known leader replica
	leaderChangedAt time.Time // when it last moved to another replica

	effects []effect
}

// proposer hands a command to Raft without waiting for it to commit.
type proposer interface {
	// propose hands p.cmd over with the given timeout; redo tells that p was dropped and is proposed
	// again. On success the proposer reports p's outcome later, as a done event with p's attempt.
	propose(p *proposal, timeout time.Duration, redo bool) proposeOutcome
}

type proposeOutcome struct {
	err  error // failed: nothing was queued
	busy bool  // err is back-pressure (Dragonboat's queue is full for now): try again shortly
	// gone: the local replica no longer runs (moved away or unloaded): this activation can never
	// propose again.
	gone bool
	// expires: accepted with a timeout past what was asked (proposeTimeout); the core expires it itself.
	expires bool
}

// resultCode is how Raft answered a proposal.
type resultCode uint8

const (
	codeCommitted  resultCode = iota + 1
	codeDropped               // never appended: safe to propose again
	codeTimeout               // Dragonboat's timeout: outcome unknown
	codeTerminated            // the shard stopped: outcome unknown
	codeRejected              // any other answer: not stored
)

// effect is something the actor must do after an event.
type effect struct {
	kind  effectKind
	p     *proposal     // effAnswer: the proposal to answer (its fields say how)
	timer timerKind     // effArm
	after time.Duration // effArm
}

type effectKind uint8

const (
	effAnswer effectKind = iota + 1 // answer p's publisher; deliver what it stored
	effArm                          // send the actor the timer's event after the duration
	effStop                         // stop the actor
)

type timerKind uint8

const (
	retryTimer   timerKind = iota + 1 // retry: propose what is blocked
	abandonTimer                      // abandonCheck
	expireTimer                       // expireCheck
)

// retryEvery is how soon publishes refused for back-pressure (or held) are tried again.
const retryEvery = 2 * time.Millisecond

// take returns the effects recorded since the last take.
func (c *pipeline) take() []effect {
	e := c.effects
	c.effects = nil
	return e
}

func (c *pipeline) arm(t timerKind, after time.Duration) {
	c.effects = append(c.effects, effect{kind: effArm, timer: t, after: after})
}

// idle reports whether nothing is in flight or waiting.
func (c *pipeline) idle() bool { return len(c.queue) == 0 && len(c.blocked) == 0 }

// publish takes a new publish. One with no items left (all refused before proposing) is answered in
// turn, so answers keep their order.
func (c *pipeline) publish(now time.Time, leader uint64, p *proposal) {
	p.start = now
	if len(c.blocked) > 0 || !c.tryPropose(now, leader, p) {
		c.blocked = append(c.blocked, p)
		c.armRetry()
	}
}

func (c *pipeline) armRetry() {
	if c.ready && !c.retryArmed && len(c.blocked) > 0 {
		c.retryArmed = true
		c.arm(retryTimer, retryEvery)
	}
}

// hold reports whether proposals must wait: while an activation is not ready, while handing off, and,
// within the proposal timeout (a publish that waited that long is proposed and left to Raft), while a
// dropped proposal is redone or a leadership transfer this activation asked for runs (a leader drops
// the proposals it receives while it transfers, and one forwarded from a follower is dropped without an
// answer).
func (c *pipeline) hold(now time.Time, leader uint64, p *proposal) bool {
	if !c.ready || c.handingOff {
		return true
	}
	if now.Sub(p.start) >= c.timeout {
		return false
	}
	if c.redoing {
		return true
	}
	if !c.pullingUntil.IsZero() {
		if now.Before(c.pullingUntil) && leader != c.pullTarget {
			return true
		}
		c.pullingUntil = time.Time{}
	}
	return false
}

// tryPropose proposes p, reporting false (p untouched) when it must wait.
func (c *pipeline) tryPropose(now time.Time, leader uint64, p *proposal) bool {
	if p.empty { // nothing to propose: answered in turn, behind what went before it
		p.done = true
		c.queue = append(c.queue, p)
		c.complete(now)
		return true
	}
	if c.hold(now, leader, p) {
		return false
	}
	p.attempt++
	out := c.prop.propose(p, c.timeout, false)
	if out.busy && now.Sub(p.start) < c.timeout {
		return false
	}
	c.queue = append(c.queue, p)
	if out.err != nil {
		p.err, p.done = out.err, true
		c.complete(now)
		if out.gone {
			c.effects = append(c.effects, effect{kind: effStop})
		}
		return true
	}
	if out.expires {
		p.expires = true
		c.arm(expireTimer, c.timeout+time.Millisecond)
	}
	return true
}

// retry proposes what is blocked, in order, until one must wait again.
func (c *pipeline) retry(now time.Time, leader uint64) {
	c.retryArmed = false
	for len(c.blocked) > 0 {
		if !c.tryPropose(now, leader, c.blocked[0]) {
			c.armRetry()
			return
		}
		c.blocked[0] = nil
		c.blocked = c.blocked[1:]
	}
	c.blocked = nil
}

// activated makes proposing possible (the activation is ready) and proposes what waited for it.
func (c *pipeline) activated(now time.Time, leader uint64) {
	c.ready = true
	c.retry(now, leader)
}

// done records how Raft answered attempt of p. A stale attempt (p was proposed again since, or already
// answered) is ignored.
func (c *pipeline) done(now time.Time, p *proposal, attempt int, code resultCode) {
	if attempt != p.attempt || p.done {
		return
	}
	p.done, p.code = true, code
	c.complete(now)
}

// complete answers finished proposals at the head of the queue, in order, and stops a hand-off once the
// queue is empty.
func (c *pipeline) complete(now time.Time) {
	for len(c.queue) > 0 {
		p := c.queue[0]
		if !p.abandoned {
			if !p.done || c.redo(now) {
				break
			}
		}
		c.redoing = false
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.effects = append(c.effects, effect{kind: effAnswer, p: p})
	}
	if len(c.queue) == 0 {
		c.queue = nil
		if c.handingOff {
			c.effects = append(c.effects, effect{kind: effStop})
		}
	}
}

// Proposals Raft reports dropped (a leader drops proposals while it transfers leadership, a follower
// while it knows no leader) were never appended: proposing them again cannot store anything twice. But
// a proposal after a dropped one may have gone through, and proposing the dropped one again would then
// store it after a later publish of the same connection, breaking publish order. So when the oldest
// unanswered proposal was dropped, new proposals wait until every later one is answered: if all of them
// were dropped too (the usual case: a transfer drops everything in flight), all are proposed again, in
// order; if any of them went through (or its outcome is unknown), the dropped one is answered
// "unavailable; retry" and the client's retry comes after.
//
// redo reports whether the oldest proposal is pending again (proposed again, or waiting for the later
// ones to be answered) rather than to be answered now.
func (c *pipeline) redo(now time.Time) (pending bool) {
	p := c.queue[0]
	if c.stopping || p.abandoned || p.err != nil || p.empty || p.code != codeDropped || now.Sub(p.start) >= c.timeout {
		return false
	}
	for _, q := range c.queue[1:] {
		if q.abandoned {
			return false // outcome unknown: it may have been stored
		}
		if !q.done {
			c.redoing = true
			return true
		}
		if q.err == nil && !q.empty && q.code != codeDropped {
			return false
		}
	}
	c.redoing = false
	for _, q := range c.queue {
		if q.err != nil || q.empty {
			continue
		}
		q.attempt++
		out := c.prop.propose(q, max(c.timeout-now.Sub(q.start), time.Millisecond), true)
		if out.err != nil {
			q.err, q.done = out.err, true
			if out.gone {
				c.effects = append(c.effects, effect{kind: effStop})
			}
			continue
		}
		q.done, q.code = false, 0
		if out.expires {
			q.expires = true
			c.arm(expireTimer, c.timeout+time.Millisecond)
		}
	}
	// Those whose proposing failed are answered now, in turn: the head may be one.
	return !c.queue[0].done
}

// abandonAfter is how long proposals made before a leader change may stay pending before they are
// answered "outcome unknown": Dragonboat loses proposals forwarded to a leader that died and would only
// time them out after ProposalTimeout, holding every later ack of the channel behind them.
const abandonAfter = 250 * time.Millisecond

// leaderChanged records the shard's new leader. Only a move to another leader strands forwarded
// proposals; "no leader" (an election running) and the same leader again in a new term do not.
func (c *pipeline) leaderChanged(now time.Time, leader uint64) {
	if leader == 0 || leader == c.knownLeader {
		return
	}
	c.knownLeader, c.leaderChangedAt = leader, now
	if len(c.queue) > 0 {
		c.arm(abandonTimer, abandonAfter)
	}
}

// abandonCheck answers (timeout, outcome unknown) the proposals at the head of the queue that were made
// before the last leader change and are still pending after abandonAfter. If one did commit, its seq
// simply is not delivered live: subscribers read it from the store when they see the gap.
func (c *pipeline) abandonCheck(now time.Time) {
	if now.Sub(c.leaderChangedAt) < abandonAfter {
		return // a later change re-armed the check
	}
	for _, p := range c.queue {
		if !p.start.Before(c.leaderChangedAt) {
			break
		}
		if !p.done {
			p.abandoned = true
		}
	}
	c.complete(now)
}

// expireCheck answers "timed out" the proposals left to the core (expires) that are pending past the
// proposal timeout, as Dragonboat would have.
func (c *pipeline) expireCheck(now time.Time) {
	for _, p := range c.queue {
		if p.expires && !p.abandoned && !p.done && now.Sub(p.start) >= c.timeout {
			p.abandoned, p.expired = true, true
		}
	}
	c.complete(now)
}

// pull records that a leadership transfer to replica target was asked for: proposals wait for it until
// it completes or pullHold passes.
func (c *pipeline) pull(now time.Time, target uint64) {
	c.pullTarget, c.pullingUntil = target, now.Add(pullHold)
}

// pulling reports whether proposals may be waiting for a transfer (the actor then passes the current
// leader with its events).
func (c *pipeline) pulling() bool { return !c.pullingUntil.IsZero() }

// handOff stops proposing; the actor stops once what is in flight is answered. What is blocked was never
// proposed: the sessions resend it to the next activation when they see this one terminate.
func (c *pipeline) handOff() {
	c.handingOff = true
	if len(c.queue) == 0 {
		c.effects = append(c.effects, effect{kind: effStop})
	}
}

// pending returns the oldest proposal in queue still waiting for Raft (shutdown waits for each in turn).
func (c *pipeline) pending() *proposal {
	for _, p := range c.queue {
		if !p.abandoned && !p.done {
			return p
		}
	}
	return nil
}

// takeBlocked removes and returns what was never proposed (at shutdown or a failed activation).
func (c *pipeline) takeBlocked() []*proposal {
	b := c.blocked
	c.blocked = nil
	return b
}
