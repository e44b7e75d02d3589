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

// Durable consumers (consumers.go). A member is one subscription of one session: Member names it
// uniquely (session and sid), ReplyTo is the session, which gets deliveries and answers.

// ConsumerJoin joins Member to consumer Consumer of Channel, creating the consumer with Config and the
// start position when it does not exist. Answered with ConsumerJoined, then ConsumerDeliver.
type ConsumerJoin struct {
	Channel  string
	Consumer string
	Config   store.ConsumerConfig
	Start    protocol.StartKind
	Seq      uint64
	Time     int64
	Member   string
	Sid      uint64
	Window   int // deliveries the member may hold unsettled
	ReplyTo  *actor.PID
}

// ConsumerJoined answers ConsumerJoin. StartSeq is the consumer's first seq not done.
type ConsumerJoined struct {
	Channel  string
	Sid      uint64
	StartSeq uint64
	LastSeq  uint64
	Window   int
	Err      *protocol.Error
}

// ConsumerParked tells a member that the channel passivates with its consumer caught up to LastSeq:
// the member joins the next activation once a message past LastSeq is stored (it learns that from its
// node's gateway), not at once, so that a channel whose consumers wait for work can be cold.
type ConsumerParked struct {
	Channel string
	Sid     uint64
	LastSeq uint64
	Actor   *actor.PID // the activation that passivates
}

// ConsumerDeliver hands messages to a member; Attempts[i] is the delivery count of Msgs[i]. Actor is
// the activation that hands them out: a member takes deliveries only from the one it joined.
type ConsumerDeliver struct {
	Channel  string
	Sid      uint64
	Msgs     []store.Message
	Attempts []int
	Actor    *actor.PID
}

// ConsumerAck settles one delivery. With Req set it is answered with ConsumerAcked: for an ack or a
// term once the settlement is durable, for the others at once.
type ConsumerAck struct {
	Channel  string
	Consumer string
	Member   string
	Acks     []AckItem // in the order the member sent them
	ReplyTo  *actor.PID
}

// AckItem is one settlement of a ConsumerAck; one with Req is answered with a ConsumerAcked.
type AckItem struct {
	Seq   uint64
	Kind  protocol.AckKind
	Delay int64 // nanoseconds (nak)
	Req   uint64
}

// ConsumerAcked answers a ConsumerAck with Req.
type ConsumerAcked struct {
	Channel string
	Req     uint64
	Err     *protocol.Error
}

// ConsumerLeave removes a member (its unsettled deliveries go to the others).
type ConsumerLeave struct {
	Channel  string
	Consumer string
	Member   string
}

// ConsumerAdminOp is what a ConsumerAdmin asks.
type ConsumerAdminOp uint8

// Consumer admin operations.
const (
	ConsumerList   ConsumerAdminOp = 1 // every consumer of the channel
	ConsumerInfo   ConsumerAdminOp = 2 // one (Name)
	ConsumerAdd    ConsumerAdminOp = 3 // create Name with Config and the start position (exists: kept)
	ConsumerRemove ConsumerAdminOp = 4 // delete Name
)

// ConsumerAdmin is an operator's request about a channel's consumers (admin API, CLI). Answered with
// ConsumerAdminResult.
type ConsumerAdmin struct {
	Channel string
	Op      ConsumerAdminOp
	Name    string
	Config  store.ConsumerConfig
	Start   protocol.StartKind
	Seq     uint64
	Time    int64
}

// ConsumerStatus is a consumer as an operator sees it.
type ConsumerStatus struct {
	Name          string `json:"name"`
	Mode          string `json:"mode"`
	AckWait       string `json:"ack_wait"`
	MaxDeliver    int    `json:"max_deliver"`
	MaxAckPending int    `json:"max_ack_pending"`
	DeadLetter    string `json:"dead_letter,omitempty"`
	AckFloor      uint64 `json:"ack_floor"` // as committed: every seq up to it is durably done
	LastSeq       uint64 `json:"last_seq"`
	Lag           uint64 `json:"lag"`     // last seq minus ack floor
	Pending       int    `json:"pending"` // deliveries unsettled now
	Redelivered   uint64 `json:"redelivered"`
	Acked         uint64 `json:"acked"`
	DeadLettered  uint64 `json:"dead_lettered"`
	Members       int    `json:"members"`
}

// ConsumerAdminResult answers ConsumerAdmin.
type ConsumerAdminResult struct {
	Channel   string
	Consumers []ConsumerStatus
	NotFound  bool
	Err       string
}

func init() {
	for name, m := range map[string]any{
		"sampan.ConsumerJoin": &ConsumerJoin{}, "sampan.ConsumerJoined": &ConsumerJoined{},
		"sampan.ConsumerDeliver": &ConsumerDeliver{}, "sampan.ConsumerAck": &ConsumerAck{},
		"sampan.ConsumerAcked": &ConsumerAcked{}, "sampan.ConsumerLeave": &ConsumerLeave{},
		"sampan.ConsumerAdmin": &ConsumerAdmin{}, "sampan.ConsumerAdminResult": &ConsumerAdminResult{},
		"sampan.ConsumerParked": &ConsumerParked{},
	} {
		sc.RegisterMessage(name, m)
	}
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
