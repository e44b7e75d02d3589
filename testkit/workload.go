package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

// Publisher publishes numbered messages to a channel, one at a time, each with an idempotency key
// equal to its payload ("NAME-N"), retrying a message with the same key until it is acked (faults make
// publishes fail or time out: the outcome is then unknown, and the retry is what makes it safe). Every
// attempt goes into the history.
type Publisher struct {
	Name    string
	Channel string
	Client  *client.Client
	History *History
	// Timeout bounds one attempt (default 5 s); Pause is waited between attempts of one message
	// (default 20 ms, doubling to 500 ms).
	Timeout time.Duration
	Pause   time.Duration

	acked int
}

// Run publishes until ctx ends and returns how many messages were acked. A message in flight when ctx
// ends is left unacked (its attempts are in the history).
func (p *Publisher) Run(ctx context.Context) int {
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Second
	}
	if p.Pause == 0 {
		p.Pause = 20 * time.Millisecond
	}
	for i := 0; ctx.Err() == nil; i++ {
		payload := fmt.Sprintf("%s-%d", p.Name, i)
		pause := p.Pause
		for attempt := 1; ctx.Err() == nil; attempt++ {
			start := p.History.since()
			actx, cancel := context.WithTimeout(ctx, p.Timeout)
			f, err := p.Client.PublishAsync(actx, p.Channel, []byte(payload), client.WithIdempotencyKey(payload))
			var ack client.PubAck
			if err == nil {
				ack, err = f.Wait(actx)
			}
			cancel()
			op := PubOp{Publisher: p.Name, Index: i, Attempt: attempt, Channel: p.Channel, Key: payload, Payload: payload,
				Start: start, End: p.History.since()}
			if err == nil {
				op.Acked, op.Seq, op.Dup = true, ack.Seq, ack.Duplicate
				p.History.AddPub(op)
				p.acked++
				break
			}
			op.Err = err.Error()
			p.History.AddPub(op)
			if errors.Is(err, client.ErrClosed) {
				return p.acked
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 500*time.Millisecond)
		}
	}
	return p.acked
}

// Subscriber records every message a subscription delivers into the history. The client resumes the
// subscription by itself after a reconnect, after the last message received.
type Subscriber struct {
	Name    string
	Channel string
	sub     *client.Subscription
	h       *History

	mu   sync.Mutex
	last uint64
	n    int
}

// Subscribe starts a subscriber named name on channel from its first message.
func Subscribe(ctx context.Context, h *History, cl *client.Client, name, channel string) (*Subscriber, error) {
	s := &Subscriber{Name: name, Channel: channel, h: h}
	sub, err := cl.Subscribe(ctx, channel, client.StartEarliest(), func(m *client.Message) {
		h.AddDelivery(name, channel, m.Seq, string(m.Payload))
		s.mu.Lock()
		s.last, s.n = m.Seq, s.n+1
		s.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	s.sub = sub
	go func() {
		<-sub.Done()
		why := "ended"
		if err := sub.Err(); err != nil {
			why = err.Error()
		}
		h.EndSub(name, channel, why)
	}()
	return s, nil
}

// Last returns the last seq received and how many messages were received.
func (s *Subscriber) Last() (seq uint64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.n
}

// Subscription returns the client's subscription.
func (s *Subscriber) Subscription() *client.Subscription { return s.sub }

// Converge waits until the cluster has settled for checking: every running node ready, every running
// node's replica of each channel at the same last seq (Raft caught up and applied), and every
// subscriber given up to that seq. It returns the replicas' logs. Heal the network and restart the
// nodes you want checked first. When ctx ends first it returns the logs as they are and a
// *ConvergeError saying what did not settle.
func (c *Cluster) Converge(ctx context.Context, h *History, subs ...*Subscriber) (Logs, error) {
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	var lastWake time.Time
	for {
		if time.Since(lastWake) > 5*time.Second {
			// A channel may have passivated (or handed off with nobody asking for it since): its
			// replicas are then stopped wherever they were, maybe one behind. Activation starts and
			// catches up every replica; a subscription asks for it without changing anything.
			c.wake(ctx, h.Channels())
			lastWake = time.Now()
		}
		logs, cerr := c.readLogs(ctx, h.Channels())
		if cerr == nil {
			cerr = subscribersBehind(logs, subs)
		}
		if cerr == nil {
			return logs, nil
		}
		select {
		case <-ctx.Done():
			return logs, cerr
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ConvergeError says why a cluster did not converge: replicas of a channel that still differ in
// length (with each node's view of the channel), or a subscriber still behind.
type ConvergeError struct {
	Channel    string
	Replicas   []ReplicaView // set when replicas differ
	Subscriber string        // set when a subscriber is behind
	Seq, Last  uint64        // the subscriber's last seq and the channel's
}

// ReplicaView is one node's replica of a channel as GET /channels/NAME on that node shows it.
type ReplicaView struct {
	Node     NodeID
	Messages int
	State    string // hot (actor here), warm (replica running here), cold (replica not running here)
	Leader   NodeID // as this node sees it (0: unknown)
}

func (e *ConvergeError) Error() string {
	if e.Subscriber != "" {
		return fmt.Sprintf("testkit: cluster did not converge: subscriber %s at seq %d of %d on %s", e.Subscriber, e.Seq, e.Last, e.Channel)
	}
	var parts []string
	for _, r := range e.Replicas {
		parts = append(parts, fmt.Sprintf("node %d holds %d messages (%s here, leader %d)", r.Node, r.Messages, r.State, r.Leader))
	}
	return fmt.Sprintf("testkit: cluster did not converge: channel %s: %s", e.Channel, strings.Join(parts, ", "))
}

// readLogs reads every running node's replica of each channel; the error is set while the replicas
// differ in length.
func (c *Cluster) readLogs(ctx context.Context, channels []string) (Logs, *ConvergeError) {
	logs := Logs{}
	for _, id := range c.Running() {
		b := c.Node(id).Broker()
		if b == nil {
			continue
		}
		logs[id] = map[string][]Delivered{}
		for _, ch := range channels {
			all := []Delivered{}
			from := uint64(1)
			for {
				msgs, ok, err := b.ReplicaMessages(ctx, ch, from, 4096)
				if err != nil {
					return logs, &ConvergeError{Channel: ch, Replicas: []ReplicaView{{Node: id, State: "unreadable: " + err.Error()}}}
				}
				if !ok {
					all = nil // no replica of ch on this node
					break
				}
				for _, m := range msgs {
					all = append(all, Delivered{Seq: m.Seq, Payload: string(m.Payload), Headers: m.Headers})
				}
				if len(msgs) < 4096 {
					break
				}
				from = msgs[len(msgs)-1].Seq + 1
			}
			if all != nil {
				logs[id][ch] = all
			}
		}
	}
	for _, ch := range channels {
		lens := map[int]bool{}
		for _, l := range logs {
			if m, ok := l[ch]; ok {
				lens[len(m)] = true
			}
		}
		if len(lens) > 1 {
			e := &ConvergeError{Channel: ch}
			for _, id := range c.Running() {
				if m, ok := logs[id][ch]; ok {
					e.Replicas = append(e.Replicas, c.replicaView(id, ch, len(m)))
				}
			}
			return logs, e
		}
	}
	return logs, nil
}

func subscribersBehind(logs Logs, subs []*Subscriber) *ConvergeError {
	for _, s := range subs {
		var last uint64
		for _, l := range logs {
			if m := l[s.Channel]; len(m) > 0 && m[len(m)-1].Seq > last {
				last = m[len(m)-1].Seq
			}
		}
		select {
		case <-s.sub.Done():
			continue // ended for good: it will not catch up; the checker reports it
		default:
		}
		if seq, _ := s.Last(); seq < last {
			return &ConvergeError{Channel: s.Channel, Subscriber: s.Name, Seq: seq, Last: last}
		}
	}
	return nil
}

// replicaView asks node id about a channel (GET /channels/NAME): whether its replica runs there and
// which node it believes leads.
func (c *Cluster) replicaView(id NodeID, channel string, n int) ReplicaView {
	v := ReplicaView{Node: id, Messages: n, State: "unknown"}
	r, err := http.Get("http://" + c.Node(id).HTTPAddr() + "/channels/" + channel)
	if err != nil {
		return v
	}
	defer r.Body.Close()
	var cs broker.ChannelStatus
	if json.NewDecoder(r.Body).Decode(&cs) == nil {
		v.State, v.Leader = cs.State, cs.Leader
	}
	return v
}

// storedLastSeq is the last seq node id's replica of channel holds (0 when it cannot tell).
func (c *Cluster) storedLastSeq(id NodeID, channel string) uint64 {
	r, err := http.Get("http://" + c.Node(id).HTTPAddr() + "/channels/" + channel)
	if err != nil {
		return 0
	}
	defer r.Body.Close()
	var cs broker.ChannelStatus
	if json.NewDecoder(r.Body).Decode(&cs) != nil {
		return 0
	}
	return cs.LastSeq
}

// ReplicaView returns node id's view of channel (GET /channels/NAME on that node).
func (c *Cluster) ReplicaView(id NodeID, channel string) ReplicaView {
	return c.replicaView(id, channel, -1)
}

// wake activates each channel through a short-lived subscription on a running node.
func (c *Cluster) wake(ctx context.Context, channels []string) {
	running := c.Running()
	if len(running) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := client.Connect(wctx, c.Addrs(running[0]))
	if err != nil {
		return
	}
	defer cl.Close()
	for _, ch := range channels {
		if sub, err := cl.Subscribe(wctx, ch, client.StartNew(), func(*client.Message) {}); err == nil {
			_ = sub.Unsubscribe(wctx)
		}
	}
}
