// Package consumer is the pure core of durable consumers (issue 13): a named cursor on a channel that
// hands each message to one of its members until it is acknowledged, hands it out again when it is
// not, and sets aside what keeps failing.
//
// Two parts, both pure (events in, with the time passed in; effects out; no I/O, no clocks, no
// goroutines):
//   - State is what the channel's Raft group replicates: the ack floor, the sparse set of seqs above it
//     that are done (acked, terminated or dead-lettered), and delivery counts. The state machine applies
//     changes to it; it is bounded by the consumer's max-ack-pending.
//   - Dispatcher is what the node running the channel's actor keeps: members and their credit, what is
//     in flight to whom and until when, what waits to be handed out again. It decides every delivery,
//     redelivery and dead letter, and never blocks.
//
// The channel actor (package actors) runs one Dispatcher per consumer with members and carries its
// effects out; the store replicates State (docs/decisions/0022-durable-consumers.md).
package consumer

import (
	"slices"
	"sort"
	"time"
)

// Mode is how a consumer's members share its messages.
type Mode uint8

const (
	// Shared: competing members; each message goes to one of them (a work queue).
	Shared Mode = iota + 1
	// Exclusive: one active member at a time receives, in strict seq order; a standby takes over, from
	// the oldest message not done, when the active one leaves.
	Exclusive
)

// Config is a consumer's settings.
type Config struct {
	Mode       Mode
	AckWait    time.Duration // a delivery not acked within it is handed out again
	MaxDeliver int           // deliveries of one message before it is dead-lettered (0: no bound)
	// MaxAckPending bounds how far past the ack floor messages are handed out (so messages delivered
	// and not yet done, and the replicated state): 0 means 1000.
	MaxAckPending int
}

func (c Config) maxPending() int {
	if c.MaxAckPending <= 0 {
		return 1000
	}
	return c.MaxAckPending
}

// State is a consumer's replicated state. Every seq <= Floor is done; Done holds the done seqs above
// it; Deliveries counts how often each seq above the floor that is not done was handed out.
type State struct {
	Floor      uint64
	Done       map[uint64]bool
	Deliveries map[uint64]int
}

// NewState returns the state of a consumer that starts after seq from-1.
func NewState(from uint64) *State {
	floor := uint64(0)
	if from > 0 {
		floor = from - 1
	}
	return &State{Floor: floor, Done: map[uint64]bool{}, Deliveries: map[uint64]int{}}
}

// IsDone reports whether seq needs no more delivery.
func (s *State) IsDone(seq uint64) bool { return seq <= s.Floor || s.Done[seq] }

// MarkDone records seq as done (acked, terminated or dead-lettered) and moves the floor over every
// done seq that follows it. Marking a seq already done changes nothing.
func (s *State) MarkDone(seq uint64) {
	if s.IsDone(seq) {
		return
	}
	s.Done[seq] = true
	delete(s.Deliveries, seq)
	for s.Done[s.Floor+1] {
		delete(s.Done, s.Floor+1)
		s.Floor++
	}
}

// Delivered records one more delivery of seq and returns the count.
func (s *State) Delivered(seq uint64) int {
	s.Deliveries[seq]++
	return s.Deliveries[seq]
}

// Effect is something the dispatcher's owner must do.
type Effect struct {
	Kind    EffectKind
	Member  string // Deliver: to whom
	Seq     uint64
	Attempt int       // Deliver: the delivery's count (1: first); DeadLetter: deliveries made
	At      time.Time // Wake: when to call Tick next
}

// EffectKind says what an Effect is.
type EffectKind uint8

const (
	Deliver    EffectKind = iota + 1 // hand Seq to Member (the count is already in State)
	DeadLetter                       // publish Seq to the dead-letter channel (it is done in State)
	Wake                             // call Tick at At
)

type inflight struct {
	member   string
	deadline time.Time
}

type retry struct {
	seq       uint64
	notBefore time.Time
}

// Dispatcher decides a consumer's deliveries on the node that runs its channel. Owned by one caller
// (the channel actor); not safe for concurrent use.
type Dispatcher struct {
	cfg     Config
	st      *State
	last    uint64 // the channel's last stored seq
	next    uint64 // the next seq never handed out
	members []string
	credit  map[string]int
	flight  map[uint64]inflight
	retries []retry // handed out again once due, lowest seq first
	effects []Effect
	armed   time.Time // the earliest Wake asked for since the last Tick (zero: none)
	// Once leased (Allow), messages go out only at times in [from, until): the activation's lease.
	leased      bool
	from, until time.Time
}

// NewDispatcher starts dispatching, at now, for a consumer with state st on a channel whose last
// stored seq is last.
//
// Everything above the floor up to the highest seq known done or delivered was handed out by an
// earlier activation (deliveries go out in seq order; also a seq whose count was not replicated yet)
// and is not known to be done. Its member may still hold it and ack it (its session outlives the
// activation), so it counts as in flight to nobody: it is handed out again once its ack wait from now
// passed, unless an ack comes first, as the old activation would have done. In exclusive mode nothing
// newer goes out before it.
func NewDispatcher(cfg Config, st *State, last uint64, now time.Time) *Dispatcher {
	d := &Dispatcher{cfg: cfg, st: st, last: last, next: st.Floor + 1, credit: map[string]int{}, flight: map[uint64]inflight{}}
	for seq := range st.Done {
		d.next = max(d.next, seq+1)
	}
	for seq := range st.Deliveries {
		d.next = max(d.next, seq+1)
	}
	for seq := st.Floor + 1; seq < d.next; seq++ {
		if !st.IsDone(seq) {
			d.retries = append(d.retries, retry{seq: seq, notBefore: now.Add(cfg.AckWait)})
		}
	}
	if len(d.retries) > 0 {
		d.arm(now.Add(cfg.AckWait))
	}
	return d
}

// Allow lets messages go out only at times in [from, until) from now on (before a first Allow: at
// any time) and hands out what it can now. Outside it nothing is handed out; acks, naks and ack waits
// go on.
func (d *Dispatcher) Allow(now, from, until time.Time) {
	d.leased, d.from, d.until = true, from, until
	d.dispatch(now)
}

// Take returns the effects recorded since the last Take.
func (d *Dispatcher) Take() []Effect {
	e := d.effects
	d.effects = nil
	return e
}

// Join adds a member that can hold credit messages at a time (each comes back to it when the message
// is acked, nak'ed, terminated or times out; Credit adds more). A member joining again keeps its place.
func (d *Dispatcher) Join(now time.Time, member string, credit int) {
	if _, ok := d.credit[member]; !ok {
		d.members = append(d.members, member)
	}
	d.credit[member] += credit
	d.dispatch(now)
}

// Leave removes a member: what it had in flight is handed out again at once (to the next active
// member in exclusive mode, to any member in shared mode).
func (d *Dispatcher) Leave(now time.Time, member string) {
	if _, ok := d.credit[member]; !ok {
		return
	}
	delete(d.credit, member)
	for i, m := range d.members {
		if m == member {
			d.members = append(d.members[:i], d.members[i+1:]...)
			break
		}
	}
	var back []uint64
	for seq, f := range d.flight {
		if f.member == member {
			back = append(back, seq)
			delete(d.flight, seq)
		}
	}
	for _, seq := range back {
		d.addRetry(now, seq, now)
	}
	d.dispatch(now)
}

// Credit gives a member n more messages it can take.
func (d *Dispatcher) Credit(now time.Time, member string, n int) {
	if _, ok := d.credit[member]; !ok {
		return
	}
	d.credit[member] += n
	d.dispatch(now)
}

// Stored tells that the channel's last stored seq is now last.
func (d *Dispatcher) Stored(now time.Time, last uint64) {
	if last > d.last {
		d.last = last
		d.dispatch(now)
	}
}

// Trim tells that the channel's first stored seq is first (retention removed what is below it): every
// seq below it is done without being handed out (again), and the floor moves to first-1 in one step.
// It reports whether the floor moved.
func (d *Dispatcher) Trim(now time.Time, first uint64) bool {
	if first == 0 || first-1 <= d.st.Floor {
		return false
	}
	floor := first - 1
	d.st.Floor = floor
	for seq := range d.st.Done {
		if seq <= floor {
			delete(d.st.Done, seq)
		}
	}
	for seq := range d.st.Deliveries {
		if seq <= floor {
			delete(d.st.Deliveries, seq)
		}
	}
	for seq := range d.flight {
		if seq <= floor {
			d.release(seq)
		}
	}
	d.retries = slices.DeleteFunc(d.retries, func(r retry) bool { return r.seq <= floor })
	for d.st.Done[d.st.Floor+1] {
		delete(d.st.Done, d.st.Floor+1)
		d.st.Floor++
	}
	d.next = max(d.next, d.st.Floor+1)
	d.dispatch(now)
	return true
}

// Ack records that seq was processed: it is done. An ack for a seq not in flight (late, or from a
// member that left) still counts: the message was processed.
func (d *Dispatcher) Ack(now time.Time, seq uint64) {
	d.finish(seq)
	d.dispatch(now)
}

// Term records that seq must never be handed out again (the member gave up on it).
func (d *Dispatcher) Term(now time.Time, seq uint64) { d.Ack(now, seq) }

// Nak hands seq out again after delay (0: as soon as possible), or dead-letters it when it has had
// its deliveries.
func (d *Dispatcher) Nak(now time.Time, seq uint64, delay time.Duration) {
	if _, ok := d.flight[seq]; !ok || d.st.IsDone(seq) {
		return
	}
	d.release(seq)
	if d.exhausted(seq) {
		d.deadLetter(seq)
	} else {
		d.addRetry(now, seq, now.Add(delay))
	}
	d.dispatch(now)
}

// InProgress extends seq's ack wait from now. (The Tick armed for its old deadline finds it not due
// and arms the next one.)
func (d *Dispatcher) InProgress(now time.Time, seq uint64) {
	if f, ok := d.flight[seq]; ok {
		f.deadline = now.Add(d.cfg.AckWait)
		d.flight[seq] = f
	}
}

// Tick hands out again what waited past its ack wait, dead-lettering what has had its deliveries.
func (d *Dispatcher) Tick(now time.Time) {
	d.armed = time.Time{}
	var expired []uint64
	for seq, f := range d.flight {
		if !now.Before(f.deadline) {
			expired = append(expired, seq)
		}
	}
	sort.Slice(expired, func(i, j int) bool { return expired[i] < expired[j] })
	for _, seq := range expired {
		d.release(seq) // the member's slot is free again: it did not answer in time
		if d.exhausted(seq) {
			d.deadLetter(seq)
		} else {
			d.addRetry(now, seq, now)
		}
	}
	d.dispatch(now)
	d.rearm(now)
}

// Pending returns how many messages are in flight.
func (d *Dispatcher) Pending() int { return len(d.flight) }

// CaughtUp reports whether the consumer has nothing to do until a message is stored: every message up
// to the last stored one was handed out and settled (none in flight, none waiting to go out again).
func (d *Dispatcher) CaughtUp() bool {
	return len(d.flight) == 0 && len(d.retries) == 0 && d.next > d.last
}

func (d *Dispatcher) exhausted(seq uint64) bool {
	return d.cfg.MaxDeliver > 0 && d.st.Deliveries[seq] >= d.cfg.MaxDeliver
}

func (d *Dispatcher) deadLetter(seq uint64) {
	n := d.st.Deliveries[seq]
	d.st.MarkDone(seq)
	d.effects = append(d.effects, Effect{Kind: DeadLetter, Seq: seq, Attempt: n})
}

// release takes seq out of flight and gives its member (if still there) its slot back.
func (d *Dispatcher) release(seq uint64) {
	f, ok := d.flight[seq]
	if !ok {
		return
	}
	delete(d.flight, seq)
	if _, member := d.credit[f.member]; member {
		d.credit[f.member]++
	}
}

func (d *Dispatcher) finish(seq uint64) {
	d.release(seq)
	for i, r := range d.retries {
		if r.seq == seq {
			d.retries = append(d.retries[:i], d.retries[i+1:]...)
			break
		}
	}
	d.st.MarkDone(seq)
}

func (d *Dispatcher) addRetry(now time.Time, seq uint64, notBefore time.Time) {
	if notBefore.After(now) {
		d.arm(notBefore)
	}
	i := sort.Search(len(d.retries), func(i int) bool { return d.retries[i].seq >= seq })
	if i < len(d.retries) && d.retries[i].seq == seq {
		return
	}
	d.retries = append(d.retries, retry{})
	copy(d.retries[i+1:], d.retries[i:])
	d.retries[i] = retry{seq: seq, notBefore: notBefore}
}

// target is the member to hand the next message to, or "" when none can take one.
func (d *Dispatcher) target() string {
	if d.cfg.Mode == Exclusive {
		if len(d.members) > 0 && d.credit[d.members[0]] > 0 {
			return d.members[0]
		}
		return ""
	}
	best := ""
	for _, m := range d.members { // the member with the most room: spreads load, deterministic on ties
		if c := d.credit[m]; c > 0 && (best == "" || c > d.credit[best]) {
			best = m
		}
	}
	return best
}

// dispatch hands out what it can: due retries first (lowest seq first), then new seqs, while a member
// has credit and the consumer is under max-ack-pending. In exclusive mode nothing newer goes out while
// an older seq waits to be handed out again, so the active member sees seq order.
func (d *Dispatcher) dispatch(now time.Time) {
	if d.leased && (now.Before(d.from) || !now.Before(d.until)) {
		return
	}
	for len(d.flight) < d.cfg.maxPending() {
		m := d.target()
		if m == "" {
			break
		}
		seq, ok := d.pick(now)
		if !ok {
			break
		}
		d.credit[m]--
		d.flight[seq] = inflight{member: m, deadline: now.Add(d.cfg.AckWait)}
		d.arm(now.Add(d.cfg.AckWait))
		n := d.st.Delivered(seq)
		d.effects = append(d.effects, Effect{Kind: Deliver, Member: m, Seq: seq, Attempt: n})
	}
}

func (d *Dispatcher) pick(now time.Time) (uint64, bool) {
	for i, r := range d.retries {
		if d.st.IsDone(r.seq) {
			continue
		}
		if now.Before(r.notBefore) {
			if d.cfg.Mode == Exclusive {
				return 0, false // order: nothing newer before it
			}
			continue
		}
		d.retries = append(d.retries[:i], d.retries[i+1:]...)
		return r.seq, true
	}
	// Nothing further than max-ack-pending past the floor goes out: the replicated state (done set and
	// delivery counts above the floor) stays bounded by it even while one old message is stuck.
	for d.next <= d.last && d.next <= d.st.Floor+uint64(d.cfg.maxPending()) {
		seq := d.next
		d.next++
		if !d.st.IsDone(seq) {
			return seq, true
		}
	}
	return 0, false
}

// arm asks for a Tick at at unless one at or before it is asked for already. It costs nothing per
// message in flight; a Tick sooner than needed (a deadline extended since) only finds nothing due.
func (d *Dispatcher) arm(at time.Time) {
	if d.armed.IsZero() || at.Before(d.armed) {
		d.armed = at
		d.effects = append(d.effects, Effect{Kind: Wake, At: at})
	}
}

// rearm asks for a Tick at the earliest ack deadline or future retry time (after a Tick, the one
// place that looks at everything in flight).
func (d *Dispatcher) rearm(now time.Time) {
	var at time.Time
	for _, f := range d.flight {
		if at.IsZero() || f.deadline.Before(at) {
			at = f.deadline
		}
	}
	for _, r := range d.retries {
		if r.notBefore.After(now) && (at.IsZero() || r.notBefore.Before(at)) {
			at = r.notBefore
		}
	}
	if !at.IsZero() {
		d.arm(at)
	}
}
