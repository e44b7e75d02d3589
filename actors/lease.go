package actors

import "time"

// The consumer lease of a channel activation, as a pure core (times passed in).
//
// Two activations of a channel can run at once for a while (a partition, a node taken for dead).
// Consumer commands are fenced by epoch (the older one's are refused), but handing out a message
// needs no command, so an older activation whose replica cannot learn of the newer one (it is on the
// minority side) could go on delivering messages that members of the newer one already acked. The
// lease closes that, with durations measured on each node's own monotonic clock:
//
//   - An activation hands out messages only until leaseValid after the start of its last lease read
//     (a linearizable read of the channel's epoch) that found its own epoch. A read that finds a newer
//     one supersedes it.
//   - A read begun at t that found the older epoch means the newer activation's settings committed
//     after t. So the newer one, unless the one before it released the channel when it stopped
//     (store.StateResult.Free), hands out nothing until leaseWait after its settings committed: by
//     then the older one's lease has run out, leaseWait - leaseValid to spare.
const (
	leaseValid       = 1500 * time.Millisecond
	leaseWait        = 2 * time.Second
	leaseRenew       = 400 * time.Millisecond // a lease read starts this often while members are connected
	leaseReadTimeout = time.Second
)

// lease is an activation's right to hand out its consumers' messages: in [from, until). Owned by the
// channel actor.
type lease struct {
	from    time.Time // nothing goes out before: an activation before this one may hold a lease until then
	until   time.Time // a lease read begun at until - leaseValid found this activation's epoch
	reading bool      // a lease read is in flight
}

// newLease is the lease of an activation whose settings committed at settled; free: the activation
// before it released the channel (or there was none).
func newLease(settled time.Time, free bool) lease {
	l := lease{}
	if !free {
		l.from = settled.Add(leaseWait)
	}
	return l
}

// due reports whether a lease read should start at now: none is in flight and the lease runs out
// within leaseValid - leaseRenew (so that reads every leaseRenew keep it from lapsing).
func (l *lease) due(now time.Time) bool {
	return !l.reading && l.until.Sub(now) < leaseValid-leaseRenew
}

// confirmed records that a lease read begun at start found this activation's epoch.
func (l *lease) confirmed(start time.Time) {
	l.reading = false
	if u := start.Add(leaseValid); u.After(l.until) {
		l.until = u
	}
}

// valid reports whether messages may go out at now.
func (l *lease) valid(now time.Time) bool {
	return !now.Before(l.from) && now.Before(l.until)
}
