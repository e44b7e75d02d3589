package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
)

// retryTemp runs op until it succeeds, fails with a non-temporary error, or the deadline passes. Each
// attempt gets at most `attempt` of the time left: Dragonboat answers "not ready" / "busy" for a moment
// after a shard starts or changes leader, and some requests it drops without any answer: a ReadIndex a
// follower forwards to a leader that has not yet committed an entry in its term (right after a
// failover) or that is transferring leadership is dropped at the leader, and the follower's request
// waits for its whole deadline. A short attempt and a retry turn that 10 s stall into milliseconds.
// op must be safe to repeat (reads, idempotent commands).
func retryTemp(deadline time.Time, attempt time.Duration, op func(context.Context) error) error {
	return retryGrowing(context.Background(), deadline, attempt, attempt, 0, op)
}

// retryGrowing is retryTemp with attempts that start at first and grow by half each retry up to max:
// where a dropped request is likely (a failover) a short first attempt finds the new leader sooner,
// and the growth keeps a slow but working request (a loaded machine) from being cut off forever. It
// stops when parent is cancelled (an activation whose actor stopped), returning parent's error.
func retryGrowing(parent context.Context, deadline time.Time, first, max, stretch time.Duration, op func(context.Context) error) error {
	attempt := first
	for {
		end := time.Now().Add(attempt)
		attempt = min(attempt*3/2, max)
		if end.After(deadline) {
			end = deadline
		}
		// Dragonboat is given a deadline stretched by stretch (see channelActor.proposeTimeout) and the
		// attempt is cancelled at end instead.
		ctx, cancel := context.WithDeadline(parent, end.Add(stretch))
		stopTimer := func() bool { return false }
		if stretch > 0 {
			stopTimer = time.AfterFunc(time.Until(end), cancel).Stop
		}
		err := op(ctx)
		stopTimer()
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if !dragonboat.IsTempError(err) && !errors.Is(err, dragonboat.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, dragonboat.ErrCanceled) {
			return err
		}
		if !pause(parent, 5*time.Millisecond) {
			return parent.Err()
		}
	}
}

// phases records how long each step of an activation took, for the log line of a slow one.
type phases struct {
	start time.Time
	last  time.Time
	b     []byte
}

func (p *phases) mark(name string) {
	now := time.Now()
	if p.last.IsZero() {
		p.last = p.start
	}
	p.b = fmt.Appendf(p.b, "%s=%s ", name, now.Sub(p.last).Round(time.Millisecond))
	p.last = now
}

func (p *phases) String() string { return string(p.b) }

// sendLater sends msg to pid after d. The timer holds a copy of the PID without protoactor's cached
// process (PID.ref caches it in the PID it is called on): holding ctx.Self() would keep a stopped
// actor, its mailbox and its state reachable until the timer fires, seconds after a channel
// passivated for its proposal timers.
func sendLater(root *actor.RootContext, pid *actor.PID, d time.Duration, msg any) {
	to := actor.NewPID(pid.Address, pid.Id)
	time.AfterFunc(d, func() { root.Send(to, msg) })
}

// pause waits d, or less if ctx ends first (then it returns false): a retry loop's back-off that a
// cancellation cuts short, instead of a sleep.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
