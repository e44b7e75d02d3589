package testkit

// The durable-consumer workload: members of a named consumer that record every delivery and every
// settlement into the History, and the wait until a consumer has settled everything (DrainConsumers)
// that CheckConsumers needs before it can say a message was lost.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/client"
)

// ConsumerMember is one member of a durable consumer, on one client. It records into the History
// every delivery its handler gets (seq, payload, attempt, time) and every settlement it makes with its
// outcome, and settles each delivery with Ack, waiting for the broker's answer (so a confirmed ack is a
// durable one), or with Nak for the messages NakRate and PoisonRate pick. Deliveries are settled on
// goroutines of their own, so the handler records each one as soon as the client queued it.
//
// It survives faults: the client reconnects and rejoins by itself; when the membership ends or joining
// fails, Run makes a new Consumer and joins again (each attempt is an OpJoin in the history) until its
// ctx ends.
//
// Set the exported fields before Run; Run may be called once. Settling and Confirmed may be called
// from any goroutine.
type ConsumerMember struct {
	Name     string // the member's name in the history
	Consumer string
	Channel  string
	Client   *client.Client
	History  *History

	// The consumer's settings, which take effect when this member creates it (the first member to
	// join does; the broker keeps the settings of the one that created it).
	Mode       client.Mode   // default client.Shared
	AckWait    time.Duration // default 2 s
	MaxDeliver int           // 0: no bound
	DeadLetter string        // "": none
	From       uint64        // the first seq it hands out; 0: the channel's first
	Window     int           // deliveries this member holds unsettled; 0: the server's default

	// NakRate is the fraction of messages nak'ed at their first delivery and acked at a later one;
	// PoisonRate the fraction nak'ed at every delivery, so that they are dead-lettered after
	// MaxDeliver deliveries (it needs MaxDeliver and DeadLetter). A message is picked by a hash of
	// Seed and its payload: every member picks the same ones, and a run with the same Seed too.
	NakRate, PoisonRate float64
	Seed                uint64
	// AckTimeout bounds one Ack or Nak (default 5 s).
	AckTimeout time.Duration

	confirmed atomic.Int64 // acks confirmed (written by the settling goroutines)
	settling  atomic.Int64 // settlements in flight (the handler adds, the settling goroutines subtract)

	mu      sync.Mutex     // guards stopped and the Add side of wg (handler goroutine vs Run)
	stopped bool           // Run is waiting for the settling goroutines: start no more
	wg      sync.WaitGroup // the settling goroutines
}

// Run joins the consumer and consumes until ctx ends, joining again whenever the membership ends or a
// join fails. It returns once every settlement it started has returned: nil when ctx ended, or an
// error for settings that cannot work.
func (m *ConsumerMember) Run(ctx context.Context) error {
	if m.PoisonRate > 0 && (m.MaxDeliver <= 0 || m.DeadLetter == "") {
		return fmt.Errorf("testkit: member %s: PoisonRate needs MaxDeliver and DeadLetter (else poison messages are never settled or dropped unseen)", m.Name)
	}
	if m.AckWait == 0 {
		m.AckWait = 2 * time.Second
	}
	if m.AckTimeout == 0 {
		m.AckTimeout = 5 * time.Second
	}
	if m.Mode == "" {
		m.Mode = client.Shared
	}
	start := client.StartEarliest()
	if m.From > 0 {
		start = client.StartAtSeq(m.From)
	}
	opts := []client.ConsumerOption{client.WithMode(m.Mode), client.WithAckWait(m.AckWait), client.WithConsumerStart(start)}
	if m.MaxDeliver > 0 {
		opts = append(opts, client.WithMaxDeliver(m.MaxDeliver))
	}
	if m.DeadLetter != "" {
		opts = append(opts, client.WithDeadLetter(m.DeadLetter))
	}
	if m.Window > 0 {
		opts = append(opts, client.WithConsumerWindow(m.Window))
	}
	h := m.History
	h.DeclareConsumer(ConsumerDecl{Channel: m.Channel, Name: m.Consumer, Mode: string(m.Mode), DeadLetter: m.DeadLetter, From: m.From})
	pause := 20 * time.Millisecond
	for ctx.Err() == nil {
		op := ConsumerOp{Kind: OpJoin, Consumer: m.Consumer, Member: m.Name, Channel: m.Channel, Start: h.since()}
		k, err := m.Client.Consumer(ctx, m.Channel, m.Consumer, opts...)
		if err == nil {
			err = k.Consume(ctx, m.handler(ctx))
		}
		op.End = h.since()
		if err != nil {
			if k != nil {
				_ = k.Close() // a join left waiting must not stay a member that nobody serves
			}
			op.Outcome, op.Err = outcomeOf(err), err.Error()
			h.AddConsumerOp(op)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		op.Outcome = Confirmed
		h.AddConsumerOp(op)
		pause = 20 * time.Millisecond
		select {
		case <-k.Done():
			h.AddConsumerOp(ConsumerOp{Kind: OpJoin, Consumer: m.Consumer, Member: m.Name, Channel: m.Channel,
				Start: h.since(), End: h.since(), Err: "membership ended"})
		case <-ctx.Done():
			_ = k.Close()
		}
	}
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Settling returns how many acks and naks are waiting for their answer.
func (m *ConsumerMember) Settling() int { return int(m.settling.Load()) }

// Confirmed returns how many acks were confirmed.
func (m *ConsumerMember) Confirmed() int { return int(m.confirmed.Load()) }

// handler records each delivery and settles it on a goroutine of its own. Called on the Consume
// goroutine, one delivery at a time.
func (m *ConsumerMember) handler(ctx context.Context) func(*client.Delivery) {
	h := m.History
	return func(d *client.Delivery) {
		payload := string(d.Payload)
		at := h.since()
		h.AddConsumerOp(ConsumerOp{Kind: OpDeliver, Consumer: m.Consumer, Member: m.Name, Channel: m.Channel,
			Seq: d.Seq, Payload: payload, Attempt: d.Attempt, Start: at, End: at})
		m.mu.Lock()
		if m.stopped {
			m.mu.Unlock()
			return
		}
		m.wg.Add(1)
		m.settling.Add(1)
		m.mu.Unlock()
		go func() {
			defer m.wg.Done()
			defer m.settling.Add(-1)
			pick := m.pick(payload)
			op := ConsumerOp{Kind: OpAck, Consumer: m.Consumer, Member: m.Name, Channel: m.Channel, Seq: d.Seq,
				Attempt: d.Attempt, Start: h.since()}
			actx, cancel := context.WithTimeout(ctx, m.AckTimeout)
			var err error
			if pick == pickPoison || (pick == pickFlaky && d.Attempt == 1) {
				op.Kind = OpNak
				err = d.Nak(actx, 0)
			} else {
				err = d.Ack(actx)
			}
			cancel()
			op.End, op.Outcome = h.since(), outcomeOf(err)
			if err != nil {
				op.Err = err.Error()
			} else if op.Kind == OpAck {
				m.confirmed.Add(1)
			}
			h.AddConsumerOp(op)
		}()
	}
}

const (
	pickNone = iota
	pickFlaky
	pickPoison
)

// pick says how a message is treated: by a hash of the seed and its payload, the same on every member.
func (m *ConsumerMember) pick(payload string) int {
	if m.NakRate <= 0 && m.PoisonRate <= 0 {
		return pickNone
	}
	f := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], m.Seed)
	f.Write(b[:])
	f.Write([]byte(payload))
	u := float64(f.Sum64()>>11) / (1 << 53)
	switch {
	case u < m.PoisonRate:
		return pickPoison
	case u < m.PoisonRate+m.NakRate:
		return pickFlaky
	}
	return pickNone
}

// outcomeOf classifies a settlement's or a join's error. Failed only where the request is known not
// to have taken effect: it was never sent (the client was between connections, the session was
// rejoining the channel), or the broker refused it. Everything else (timeouts, lost connections, an
// activation that stopped) may or may not have taken effect.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Confirmed
	case errors.Is(err, client.ErrInvalidArgument), errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrUnknownSubscription):
		return Failed
	case strings.Contains(err.Error(), "will come again"):
		return Failed
	}
	return Unknown
}

// DrainError says which consumer did not settle everything in time.
type DrainError struct {
	Channel, Consumer string
	Status            actors.ConsumerStatus // as last seen (zero if never read)
	Last              uint64                // the highest seq acked in the history or stored on a running node
	Settling          map[string]int        // members with settlements in flight
	Err               string                // why the status could not be read, if it could not
}

func (e *DrainError) Error() string {
	s := fmt.Sprintf("testkit: consumer %s of %s not drained: ack floor %d, last seq %d (acked publishes up to %d), %d pending, %d members",
		e.Consumer, e.Channel, e.Status.AckFloor, e.Status.LastSeq, e.Last, e.Status.Pending, e.Status.Members)
	if len(e.Settling) > 0 {
		s += fmt.Sprintf("; settling: %v", e.Settling)
	}
	if e.Err != "" {
		s += "; " + e.Err
	}
	return s
}

// DrainConsumers waits until the members' consumers have settled every message of their channels:
// each consumer's ack floor (GET /channels/NAME/consumers/CONSUMER on a running node) at its channel's
// last seq, and that at least the highest seq acked to the history's publishers, nothing pending, and
// no member waiting for the answer to an ack or a nak. Stop the publishers and heal the cluster first;
// stop the members afterwards, then Converge and CheckConsumers. When ctx ends first it returns a
// *DrainError for the first consumer not drained.
func (c *Cluster) DrainConsumers(ctx context.Context, h *History, members ...*ConsumerMember) error {
	type group struct {
		channel, name string
		members       []*ConsumerMember
	}
	byKey := map[consumerKey]*group{}
	var groups []*group
	for _, m := range members {
		k := consumerKey{m.Channel, m.Consumer}
		if byKey[k] == nil {
			byKey[k] = &group{channel: m.Channel, name: m.Consumer}
			groups = append(groups, byKey[k])
		}
		byKey[k].members = append(byKey[k].members, m)
	}
	sort.Slice(groups, func(i, j int) bool {
		return groups[i].channel+"/"+groups[i].name < groups[j].channel+"/"+groups[j].name
	})
	acked := map[string]uint64{}
	for _, p := range h.Pubs() {
		if p.Acked {
			acked[p.Channel] = max(acked[p.Channel], p.Seq)
		}
	}
	drained := func(g *group) *DrainError {
		// Everything stored counts, also a publish answered "timeout" that committed after all: the
		// highest last seq a running node's replica holds.
		last := acked[g.channel]
		for _, id := range c.Running() {
			last = max(last, c.storedLastSeq(id, g.channel))
		}
		e := &DrainError{Channel: g.channel, Consumer: g.name, Last: last}
		for _, m := range g.members {
			if n := m.Settling(); n > 0 {
				if e.Settling == nil {
					e.Settling = map[string]int{}
				}
				e.Settling[m.Name] = n
			}
		}
		st, err := c.ConsumerStatus(ctx, g.channel, g.name)
		if err != nil {
			e.Err = err.Error()
			return e
		}
		e.Status = st
		if st.AckFloor < st.LastSeq || st.LastSeq < e.Last || st.Pending > 0 || e.Settling != nil {
			return e
		}
		return nil
	}
	for {
		var first *DrainError
		for _, g := range groups {
			if e := drained(g); e != nil {
				first = e
				break
			}
		}
		if first == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return first
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ConsumerStatus returns consumer name of channel as the first running node that answers shows it
// (GET /channels/NAME/consumers/CONSUMER: the channel's actor answers from its live dispatcher).
func (c *Cluster) ConsumerStatus(ctx context.Context, channel, name string) (actors.ConsumerStatus, error) {
	var errs []string
	for _, id := range c.Running() {
		st, err := c.consumerStatus(ctx, id, channel, name)
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Sprintf("node %d: %v", id, err))
	}
	return actors.ConsumerStatus{}, fmt.Errorf("consumer %s of %s: %s", name, channel, strings.Join(errs, "; "))
}

func (c *Cluster) consumerStatus(ctx context.Context, id NodeID, channel, name string) (actors.ConsumerStatus, error) {
	var st actors.ConsumerStatus
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+c.Node(id).HTTPAddr()+"/channels/"+channel+"/consumers/"+name, nil)
	if err != nil {
		return st, err
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(r.Body).Decode(&e)
		return st, fmt.Errorf("%s: %s", r.Status, e.Error)
	}
	return st, json.NewDecoder(r.Body).Decode(&st)
}
