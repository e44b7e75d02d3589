package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
// nodes you want checked first. It returns an error naming what did not settle when ctx ends.
func (c *Cluster) Converge(ctx context.Context, h *History, subs ...*Subscriber) (Logs, error) {
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	var logs Logs
	var why string
	for {
		logs, why = c.readLogs(ctx, h.Channels())
		if why == "" {
			why = subscribersBehind(logs, subs)
		}
		if why == "" {
			return logs, nil
		}
		select {
		case <-ctx.Done():
			return logs, fmt.Errorf("testkit: cluster did not converge: %s", why)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readLogs reads every running node's replica of each channel; why is non-empty while the replicas
// differ in length.
func (c *Cluster) readLogs(ctx context.Context, channels []string) (Logs, string) {
	logs := Logs{}
	for _, id := range c.Running() {
		b := c.Node(id).Broker()
		if b == nil {
			continue
		}
		logs[id] = map[string][]Delivered{}
		for _, ch := range channels {
			var all []Delivered
			from := uint64(1)
			for {
				msgs, ok, err := b.ReplicaMessages(ctx, ch, from, 4096)
				if err != nil {
					return nil, fmt.Sprintf("node %d: read %s: %v", id, ch, err)
				}
				if !ok {
					break // no replica of ch on this node
				}
				if logs[id][ch] == nil {
					logs[id][ch] = []Delivered{}
				}
				for _, m := range msgs {
					all = append(all, Delivered{Seq: m.Seq, Payload: string(m.Payload)})
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
		var first NodeID
		var firstLen int
		for id, l := range logs {
			if _, ok := l[ch]; !ok {
				continue
			}
			if first == 0 {
				first, firstLen = id, len(l[ch])
				continue
			}
			if len(l[ch]) != firstLen {
				return logs, fmt.Sprintf("channel %s: node %d holds %d messages (%s), node %d %d (%s)", ch,
					first, firstLen, c.channelState(first, ch), id, len(l[ch]), c.channelState(id, ch))
			}
		}
	}
	return logs, ""
}

func subscribersBehind(logs Logs, subs []*Subscriber) string {
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
			return fmt.Sprintf("subscriber %s at seq %d of %d on %s", s.Name, seq, last, s.Channel)
		}
	}
	return ""
}

// channelState describes a channel as node id sees it (GET /channels/NAME), for convergence errors:
// whether its replica runs there and which node it believes leads.
func (c *Cluster) channelState(id NodeID, channel string) string {
	var cs broker.ChannelStatus
	r, err := http.Get("http://" + c.Node(id).HTTPAddr() + "/channels/" + channel)
	if err != nil {
		return err.Error()
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&cs); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s here, leader %d, last seq %d", cs.State, cs.Leader, cs.LastSeq)
}
