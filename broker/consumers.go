package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/consumer"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// The admin API of durable consumers. Every call goes to the channel's actor (activating the channel
// if it is cold), which answers from the channel's replicated state and its live dispatcher.

// ConsumerRequest is the body of POST /channels/{name}/consumers.
type ConsumerRequest struct {
	Name          string `json:"name"`
	Mode          string `json:"mode,omitempty"`     // shared (default) or exclusive
	AckWait       string `json:"ack_wait,omitempty"` // a Go duration; default 30s
	MaxDeliver    int    `json:"max_deliver,omitempty"`
	DeadLetter    string `json:"dead_letter,omitempty"`
	MaxAckPending int    `json:"max_ack_pending,omitempty"`
	From          string `json:"from,omitempty"` // earliest, latest (default), a seq or an RFC 3339 time
}

func (b *Broker) consumerRoutes(mux interface {
	HandleFunc(string, func(http.ResponseWriter, *http.Request))
}) {
	mux.HandleFunc("GET /channels/{name}/consumers", b.readable(b.httpConsumers))
	mux.HandleFunc("GET /channels/{name}/consumers/{consumer}", b.readable(b.httpConsumer))
	mux.HandleFunc("POST /channels/{name}/consumers", b.adminOnly(b.httpAddConsumer))
	mux.HandleFunc("DELETE /channels/{name}/consumers/{consumer}", b.adminOnly(b.httpRemoveConsumer))
}

func (b *Broker) consumerCall(ctx context.Context, m *actors.ConsumerAdmin) (*actors.ConsumerAdminResult, error) {
	pid := b.actors.Cluster.Get(m.Channel, actors.Kind)
	if pid == nil {
		return nil, fmt.Errorf("channel %s could not be activated", m.Channel)
	}
	d := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	res, err := b.actors.System.Root.RequestFuture(pid, cluster.WrapOrSelf(m), d).Result()
	if err != nil {
		return nil, err
	}
	v, err := cluster.Unwrap(res)
	if err != nil {
		return nil, err
	}
	r, ok := v.(*actors.ConsumerAdminResult)
	if !ok {
		return nil, fmt.Errorf("unexpected answer %T", v)
	}
	if r.Err != "" {
		return nil, errors.New(r.Err)
	}
	return r, nil
}

func (b *Broker) httpConsumers(w http.ResponseWriter, r *http.Request) {
	if b.channelInfo(w, r) == nil {
		return
	}
	res, err := b.consumerCall(r.Context(), &actors.ConsumerAdmin{Channel: r.PathValue("name"), Op: actors.ConsumerList})
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, err)
		return
	}
	out := res.Consumers
	if out == nil {
		out = []actors.ConsumerStatus{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (b *Broker) httpConsumer(w http.ResponseWriter, r *http.Request) {
	if b.channelInfo(w, r) == nil {
		return
	}
	res, err := b.consumerCall(r.Context(), &actors.ConsumerAdmin{Channel: r.PathValue("name"), Op: actors.ConsumerInfo, Name: r.PathValue("consumer")})
	switch {
	case err != nil:
		writeErr(w, http.StatusServiceUnavailable, err)
	case res.NotFound || len(res.Consumers) != 1:
		writeErr(w, http.StatusNotFound, fmt.Errorf("consumer %q of %s not found", r.PathValue("consumer"), r.PathValue("name")))
	default:
		writeJSON(w, http.StatusOK, res.Consumers[0])
	}
}

// ConsumerAdminFromRequest checks a consumer request and turns it into the actor's message.
func ConsumerAdminFromRequest(channel string, req *ConsumerRequest) (*actors.ConsumerAdmin, error) {
	f := &protocol.Consume{Sid: 1, Channel: channel, Consumer: req.Name, Mode: req.Mode, DeadLetter: req.DeadLetter}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if req.MaxDeliver < 0 || req.MaxAckPending < 0 {
		return nil, errors.New("max_deliver and max_ack_pending must not be negative")
	}
	m := &actors.ConsumerAdmin{Channel: channel, Op: actors.ConsumerAdd, Name: req.Name,
		Config: store.ConsumerConfig{Mode: uint8(consumer.Shared), MaxDeliver: req.MaxDeliver, MaxAckPending: req.MaxAckPending, DeadLetter: req.DeadLetter}}
	if req.Mode == "exclusive" {
		m.Config.Mode = uint8(consumer.Exclusive)
	}
	if req.AckWait != "" {
		d, err := time.ParseDuration(req.AckWait)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("ack_wait %q: want a positive duration such as 30s", req.AckWait)
		}
		m.Config.AckWait = int64(d)
	}
	start, err := client.ParseStart(req.From)
	if err != nil {
		return nil, err
	}
	m.Start, m.Seq, m.Time = start.Kind(), start.Seq(), start.UnixNano()
	return m, nil
}

func (b *Broker) httpAddConsumer(w http.ResponseWriter, r *http.Request) {
	if b.channelInfo(w, r) == nil {
		return
	}
	var req ConsumerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("body: %v", err))
		return
	}
	m, err := ConsumerAdminFromRequest(r.PathValue("name"), &req)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	res, err := b.consumerCall(r.Context(), m)
	if err != nil || len(res.Consumers) != 1 {
		writeErr(w, http.StatusServiceUnavailable, fmt.Errorf("creating consumer: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, res.Consumers[0])
}

func (b *Broker) httpRemoveConsumer(w http.ResponseWriter, r *http.Request) {
	if b.channelInfo(w, r) == nil {
		return
	}
	res, err := b.consumerCall(r.Context(), &actors.ConsumerAdmin{Channel: r.PathValue("name"), Op: actors.ConsumerRemove, Name: r.PathValue("consumer")})
	switch {
	case err != nil:
		writeErr(w, http.StatusServiceUnavailable, err)
	case res.NotFound:
		writeErr(w, http.StatusNotFound, fmt.Errorf("consumer %q of %s not found", r.PathValue("consumer"), r.PathValue("name")))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("consumer")})
	}
}
