package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Messages between sessions, gateways and channel actors. They are plain Go values passed by pointer
// inside one process; crossing nodes (cluster issue) wraps them in a protobuf envelope carrying msgpack,
// since protoactor remote only sends protobuf (shared notes). Keep them msgpack-friendly.

// Publish asks a channel actor to store a batch of messages from one session. All items are proposed as
// one Raft entry and acknowledged together with one PublishResult sent to ReplyTo.
type Publish struct {
	Channel string
	Batch   uint64 // the sender's id for this batch, echoed in PublishResult
	Reqs    []uint64
	Items   []store.PublishItem
	ReplyTo *actor.PID
}

// PubResult is the outcome of one published message.
type PubResult struct {
	Req uint64
	Seq uint64
	Dup bool
	Err *protocol.Error // nil on success
}

// PublishResult answers a Publish. Every item gets a result: durable (Err == nil) or failed.
type PublishResult struct {
	Channel string
	Batch   uint64
	Results []PubResult
}

// Deliver carries committed messages, in seq order, from a channel actor to a gateway that registered
// interest. LastSeq is the channel's last committed seq as the actor knows it.
type Deliver struct {
	Channel string
	Msgs    []store.Message
	LastSeq uint64
}

// Register registers a gateway's interest in a channel's committed messages. Answered with Registered.
type Register struct {
	Channel string
	Gateway *actor.PID
}

// Registered answers Register. LastSeq lets the gateway's subscribers catch up on anything committed before
// the registration took effect.
type Registered struct {
	Channel string
	Actor   *actor.PID
	LastSeq uint64
	Err     *protocol.Error
}

// Unregister withdraws a gateway's interest.
type Unregister struct {
	Channel string
	Gateway *actor.PID
}

// Activated is sent by a channel actor to every gateway when it (re)activates, so gateways whose sessions
// still subscribe to the channel register again: subscriptions outlive passivation.
type Activated struct {
	Channel string
	Actor   *actor.PID
}

// Resolve turns a subscription start position into the first seq to deliver. Answered with Resolved.
type Resolve struct {
	Channel string
	Start   protocol.StartKind
	Seq     uint64
	Time    int64
	ID      uint64 // echoed
}

// Resolved answers Resolve.
type Resolved struct {
	Channel  string
	ID       uint64
	StartSeq uint64
	LastSeq  uint64
	Err      *protocol.Error
}

// Fetch reads stored messages from From (inclusive). Answered with Fetched.
type Fetch struct {
	Channel  string
	From     uint64
	MaxMsgs  int
	MaxBytes int
	ID       uint64 // echoed
}

// Fetched answers Fetch. Msgs may start after From when retention deleted older messages.
type Fetched struct {
	Channel  string
	ID       uint64
	Msgs     []store.Message
	FirstSeq uint64
	LastSeq  uint64
	Err      *protocol.Error
}

func init() {
	for name, m := range map[string]any{
		"sampan.Publish": &Publish{}, "sampan.PublishResult": &PublishResult{}, "sampan.Deliver": &Deliver{},
		"sampan.Register": &Register{}, "sampan.Registered": &Registered{}, "sampan.Unregister": &Unregister{},
		"sampan.Activated": &Activated{}, "sampan.Resolve": &Resolve{}, "sampan.Resolved": &Resolved{},
		"sampan.Fetch": &Fetch{}, "sampan.Fetched": &Fetched{},
	} {
		sc.RegisterMessage(name, m)
	}
}
