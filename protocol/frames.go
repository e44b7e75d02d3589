package protocol

import (
	"fmt"
	"strconv"
)

// Version is the protocol version spoken by this package. A client sends it
// in CONNECT; a server that does not support the client's version answers
// ERR unsupported_version (fatal).
const Version uint32 = 1

// HeaderLen is the size of the fixed frame header: a 4-byte big-endian
// length followed by a 1-byte frame type. The length counts the type byte,
// so a frame occupies 4+N bytes on the wire where N is the length value.
const HeaderLen = 5

// Default limits. Servers advertise their actual limits in CONNACK; these are
// the values a Sampan server uses unless configured otherwise.
const (
	// DefaultMaxFrame bounds N (type byte + body) of a single frame.
	DefaultMaxFrame uint32 = 2 << 20 // 2 MiB
	// DefaultMaxPayload bounds the payload of one PUB (and thus one MSG).
	// It is deliberately half of DefaultMaxFrame so that channel, headers
	// and per-frame fields always fit around a maximum-size payload.
	DefaultMaxPayload uint32 = 1 << 20 // 1 MiB
	// MaxChannelLen is the maximum length of a channel name in bytes.
	MaxChannelLen = 255
)

// FrameType is the 1-byte type that follows the length of every frame.
// Values are stable wire constants; new types are only ever appended.
type FrameType uint8

// Frame types. Direction: C = client to server, S = server to client.
const (
	TypeConnect  FrameType = 1  // C: opens the session; must be the first frame
	TypeConnAck  FrameType = 2  // S: accepts CONNECT, advertises limits
	TypePub      FrameType = 3  // C: publish one message
	TypePubAck   FrameType = 4  // S: a PUB was stored
	TypeSub      FrameType = 5  // C: open a subscription
	TypeSubAck   FrameType = 6  // S: subscription open
	TypeUnsub    FrameType = 7  // C: close a subscription
	TypeUnsubAck FrameType = 8  // S: subscription closed, no further MSG
	TypeMsg      FrameType = 9  // S: one delivered message
	TypePing     FrameType = 10 // C/S: liveness probe
	TypePong     FrameType = 11 // C/S: answer to PING
	TypeErr      FrameType = 12 // S: error, possibly fatal
	TypeCredit   FrameType = 13 // C: the client consumed messages of a subscription
	TypeRoute    FrameType = 14 // S: the node that serves a channel (for clients that asked in CONNECT)
	TypeConsume  FrameType = 15 // C: join a durable consumer as subscription Sid
	TypeAck      FrameType = 16 // C: settle one delivery of a consumer subscription
	TypeAcked    FrameType = 17 // S: an ACK with a request id took effect (for ack/term: durably)
)

var frameTypeNames = [...]string{
	TypeConnect:  "CONNECT",
	TypeConnAck:  "CONNACK",
	TypePub:      "PUB",
	TypePubAck:   "PUBACK",
	TypeSub:      "SUB",
	TypeSubAck:   "SUBACK",
	TypeUnsub:    "UNSUB",
	TypeUnsubAck: "UNSUBACK",
	TypeMsg:      "MSG",
	TypePing:     "PING",
	TypePong:     "PONG",
	TypeErr:      "ERR",
	TypeCredit:   "CREDIT",
	TypeRoute:    "ROUTE",
	TypeConsume:  "CONSUME",
	TypeAck:      "ACK",
	TypeAcked:    "ACKED",
}

// String returns the upper-case protocol name of t ("PUB", "MSG", ...) or
// "FrameType(n)" for a value this version does not know.
func (t FrameType) String() string {
	if int(t) < len(frameTypeNames) && frameTypeNames[t] != "" {
		return frameTypeNames[t]
	}
	return "FrameType(" + strconv.Itoa(int(t)) + ")"
}

// Known reports whether t is a frame type defined by this protocol version.
func (t FrameType) Known() bool {
	return int(t) < len(frameTypeNames) && frameTypeNames[t] != ""
}

// Frame is one protocol message. It is implemented by the pointer types
// *Connect, *ConnAck, *Pub, *PubAck, *Sub, *SubAck, *Unsub, *UnsubAck, *Msg,
// *Ping, *Pong, *Err, *Credit, *Route, *Consume, *Ack and *Acked; AppendFrame and WriteFrame accept
// only those.
type Frame interface {
	// Type returns the wire frame type of the concrete frame.
	Type() FrameType
}

// Connect is the first frame a client sends. Version is the protocol version
// the client speaks; Name is an optional human-readable client name used in
// server logs and metrics. Routes asks the server for ROUTE frames: which node
// serves each channel the connection uses through another node.
type Connect struct {
	Version uint32 `msgpack:"v"`
	Name    string `msgpack:"name,omitempty"`
	Routes  bool   `msgpack:"routes,omitempty"`
	// Credentials, for a server with users: a user name and password, or a token alone.
	User     string `msgpack:"user,omitempty"`
	Password string `msgpack:"pass,omitempty"`
	Token    string `msgpack:"token,omitempty"`
}

// ConnAck is the server's answer to an acceptable CONNECT. It carries the
// limits the client must respect for the rest of the connection.
type ConnAck struct {
	// Version is the protocol version the server will speak.
	Version uint32 `msgpack:"v"`
	// ServerID identifies the server instance (for logs/diagnostics).
	ServerID string `msgpack:"server"`
	// MaxFrame is the largest N (type byte + body) the server accepts and
	// the largest it will send.
	MaxFrame uint32 `msgpack:"max_frame"`
	// MaxPayload is the largest PUB payload the server accepts.
	MaxPayload uint32 `msgpack:"max_payload"`
	// MaxInflight is the max number of unacknowledged PUBs per connection;
	// the server stops reading from the connection beyond it.
	MaxInflight uint32 `msgpack:"max_inflight"`
	// MaxWindow is the largest per-subscription window the server grants;
	// larger SUB windows are clamped to it.
	MaxWindow uint32 `msgpack:"max_window"`
	// MaxHeaders is the most bytes a PUB's headers and idempotency key may take together (0: not
	// announced).
	MaxHeaders uint32 `msgpack:"max_headers,omitempty"`
}

// Pub publishes Payload to Channel. Req is a client-chosen request id (non-zero,
// unique among the connection's unacknowledged PUBs) echoed in the PUBACK or
// ERR that answers it. IdemKey, when set, makes the publish idempotent: a
// retry with the same key on the same channel is acknowledged with the
// original sequence and Dup=true instead of being stored twice.
type Pub struct {
	Req     uint64            `msgpack:"r"`
	Channel string            `msgpack:"c"`
	Payload []byte            `msgpack:"p"`
	Headers map[string]string `msgpack:"h,omitempty"`
	IdemKey string            `msgpack:"k,omitempty"`
}

// PubAck acknowledges that the PUB with request id Req is durably stored at
// sequence Seq of its channel. Dup is true when the PUB was recognised as a
// retry of an earlier one (same IdemKey) and Seq is that earlier sequence.
type PubAck struct {
	Req uint64 `msgpack:"r"`
	Seq uint64 `msgpack:"seq"`
	Dup bool   `msgpack:"dup,omitempty"`
}

// StartKind selects where a subscription starts reading its channel.
type StartKind uint8

// Start positions for Sub.Start.
const (
	// StartNew delivers only messages stored after the subscription opens.
	StartNew StartKind = 0
	// StartEarliest delivers from the oldest message still retained.
	StartEarliest StartKind = 1
	// StartSeq delivers from Sub.Seq (or the oldest retained message if
	// Sub.Seq has already been removed by retention).
	StartSeq StartKind = 2
	// StartTime delivers from the first message whose timestamp is >=
	// Sub.Time (unix nanoseconds).
	StartTime StartKind = 3
)

// String returns "new", "earliest", "seq", "time" or "StartKind(n)".
func (k StartKind) String() string {
	switch k {
	case StartNew:
		return "new"
	case StartEarliest:
		return "earliest"
	case StartSeq:
		return "seq"
	case StartTime:
		return "time"
	}
	return "StartKind(" + strconv.Itoa(int(k)) + ")"
}

// Sub opens subscription Sid (client-chosen, non-zero, unique among the
// connection's active subscriptions) on Channel. The server answers SUBACK
// and then streams MSG frames in sequence order, or answers ERR with s=Sid.
type Sub struct {
	Sid     uint64    `msgpack:"s"`
	Channel string    `msgpack:"c"`
	Start   StartKind `msgpack:"start"`
	Seq     uint64    `msgpack:"seq,omitempty"`  // used with StartSeq
	Time    int64     `msgpack:"time,omitempty"` // unix nanoseconds, used with StartTime
	// Window is the max number of MSGs the server keeps written but not yet
	// flushed to the socket for this subscription; 0 = server default.
	Window uint32 `msgpack:"w,omitempty"`
}

// SubAck confirms subscription Sid. StartSeq is the sequence of the first MSG
// that will be delivered; LastSeq is the channel's last stored sequence at the
// moment the subscription opened (0 for an empty channel).
//
// Window is the subscription's effective window: the server never has more
// than Window MSGs of this subscription sent but not yet returned by CREDIT.
type SubAck struct {
	Sid      uint64 `msgpack:"s"`
	StartSeq uint64 `msgpack:"start_seq"`
	LastSeq  uint64 `msgpack:"last_seq"`
	Window   uint32 `msgpack:"w"`
}

// Credit tells the server the client has consumed N more MSGs of
// subscription Sid, so the server may send N more (flow control, §7.3).
type Credit struct {
	Sid uint64 `msgpack:"s"`
	N   uint32 `msgpack:"n"`
}

// Unsub closes subscription Sid.
type Unsub struct {
	Sid uint64 `msgpack:"s"`
}

// UnsubAck confirms that subscription Sid is closed: no MSG for Sid follows it.
type UnsubAck struct {
	Sid uint64 `msgpack:"s"`
}

// Msg delivers one stored message to subscription Sid. Seq is its sequence in
// Channel and Time the server's store timestamp in unix nanoseconds. Attempt is
// the delivery count of a consumer subscription's delivery (1: the first); it is
// 0 (absent on the wire) for a plain subscription.
type Msg struct {
	Sid     uint64            `msgpack:"s"`
	Channel string            `msgpack:"c"`
	Seq     uint64            `msgpack:"seq"`
	Time    int64             `msgpack:"t"`
	Headers map[string]string `msgpack:"h,omitempty"`
	Payload []byte            `msgpack:"p"`
	Attempt uint32            `msgpack:"a,omitempty"`
}

// Route tells a client that asked for routes (Connect.Routes) that Channel is
// served by node Node, whose client listener is Addr: the connection it came on
// forwards that channel's publishes and subscriptions to that node, and a
// connection to Addr would save the hop. It is a hint, never required.
type Route struct {
	Channel string `msgpack:"c"`
	Node    uint64 `msgpack:"node"`
	Addr    string `msgpack:"addr"`
}

// Consumer modes for Consume.Mode.
const (
	// ModeShared: competing members; each message goes to one of them (the default, also for "").
	ModeShared = "shared"
	// ModeExclusive: one member at a time receives, in seq order; another takes over when it leaves.
	ModeExclusive = "exclusive"
)

// MaxConsumerLen is the maximum length of a consumer name in bytes.
const MaxConsumerLen = 64

// Consume joins the durable consumer Consumer of Channel as subscription Sid (client-chosen, unique
// among the connection's active subscriptions, sharing SUB's sid space). The consumer is created with
// the given settings if it does not exist; if it exists its settings are kept and these are ignored.
// The server answers SUBACK (StartSeq: the consumer's first seq not acked, LastSeq: the channel's
// last seq, Window: the effective window) or ERR with s=Sid, then sends MSG frames for Sid with
// Attempt >= 1. At most Window deliveries are unsettled (not acked, nak'ed or terminated) at a time
// for this member; settling one frees its slot (no CREDIT for consumer subscriptions). UNSUB leaves:
// the member's unsettled deliveries go to other members.
type Consume struct {
	Sid           uint64    `msgpack:"s"`
	Channel       string    `msgpack:"c"`
	Consumer      string    `msgpack:"n"`
	Mode          string    `msgpack:"mode,omitempty"`            // ModeShared (default) or ModeExclusive
	AckWait       uint32    `msgpack:"ack_wait,omitempty"`        // ms; 0: server default (30 s)
	MaxDeliver    uint32    `msgpack:"max_deliver,omitempty"`     // 0: no bound
	DeadLetter    string    `msgpack:"dlq,omitempty"`             // channel for messages that had MaxDeliver deliveries
	MaxAckPending uint32    `msgpack:"max_ack_pending,omitempty"` // 0: 1000
	Start         StartKind `msgpack:"start,omitempty"`           // where a new consumer starts (StartNew: after the last seq)
	Seq           uint64    `msgpack:"seq,omitempty"`             // used with StartSeq
	Time          int64     `msgpack:"time,omitempty"`            // unix nanoseconds, used with StartTime
	Window        uint32    `msgpack:"w,omitempty"`               // 0: server default
	// Direct: join through this server even when another node serves the channel (no ERR moved).
	Direct bool `msgpack:"direct,omitempty"`
}

// AckKind says how an ACK settles a delivery.
type AckKind uint8

// Settlements for Ack.Kind.
const (
	AckDone       AckKind = 0 // processed: never delivered again once durable
	AckNak        AckKind = 1 // not processed: deliver again after Delay
	AckInProgress AckKind = 2 // still working: restart the ack wait
	AckTerm       AckKind = 3 // never deliver again (not processed)
)

// String returns "done", "nak", "in_progress", "term" or "AckKind(n)".
func (k AckKind) String() string {
	switch k {
	case AckDone:
		return "done"
	case AckNak:
		return "nak"
	case AckInProgress:
		return "in_progress"
	case AckTerm:
		return "term"
	}
	return "AckKind(" + strconv.Itoa(int(k)) + ")"
}

// Ack settles delivery Seq of consumer subscription Sid. With Req != 0 (client-chosen, unique among
// the connection's unanswered requests, the same id space as PUB) the server answers ACKED{r} (for
// AckDone and AckTerm once the settlement is durable) or ERR with r=Req.
type Ack struct {
	Req   uint64  `msgpack:"r,omitempty"`
	Sid   uint64  `msgpack:"s"`
	Seq   uint64  `msgpack:"seq"`
	Kind  AckKind `msgpack:"k,omitempty"`
	Delay uint32  `msgpack:"d,omitempty"` // ms, AckNak only
}

// Acked answers an Ack with a request id.
type Acked struct {
	Req uint64 `msgpack:"r"`
}

// Ping asks the peer to answer with a Pong. Either side may send it.
type Ping struct{}

// Pong answers a Ping.
type Pong struct{}

// Err reports an error to the client. Req is set when the error answers a
// PUB or an ACK with a request id (it replaces that PUBACK or ACKED), Sid when
// it concerns a subscription.
// Fatal means the server closes the connection right after this frame.
type Err struct {
	Code    ErrCode `msgpack:"code"`
	Message string  `msgpack:"msg"`
	Req     uint64  `msgpack:"r,omitempty"`
	Sid     uint64  `msgpack:"s,omitempty"`
	Fatal   bool    `msgpack:"fatal,omitempty"`
}

// Type implements Frame.
func (*Connect) Type() FrameType { return TypeConnect }

// Type implements Frame.
func (*ConnAck) Type() FrameType { return TypeConnAck }

// Type implements Frame.
func (*Pub) Type() FrameType { return TypePub }

// Type implements Frame.
func (*PubAck) Type() FrameType { return TypePubAck }

// Type implements Frame.
func (*Sub) Type() FrameType { return TypeSub }

// Type implements Frame.
func (*SubAck) Type() FrameType { return TypeSubAck }

// Type implements Frame.
func (*Unsub) Type() FrameType { return TypeUnsub }

// Type implements Frame.
func (*UnsubAck) Type() FrameType { return TypeUnsubAck }

// Type implements Frame.
func (*Credit) Type() FrameType { return TypeCredit }

// Type implements Frame.
func (*Route) Type() FrameType { return TypeRoute }

// Type implements Frame.
func (*Msg) Type() FrameType { return TypeMsg }

// Type implements Frame.
func (*Ping) Type() FrameType { return TypePing }

// Type implements Frame.
func (*Pong) Type() FrameType { return TypePong }

// Type implements Frame.
func (*Err) Type() FrameType { return TypeErr }

// Type implements Frame.
func (*Consume) Type() FrameType { return TypeConsume }

// Type implements Frame.
func (*Ack) Type() FrameType { return TypeAck }

// Type implements Frame.
func (*Acked) Type() FrameType { return TypeAcked }

// AsError converts the ERR frame into its Go error form, preserving Code,
// Message and Fatal (Req and Sid are correlation data, not part of the error).
func (e *Err) AsError() *Error {
	return &Error{Code: e.Code, Message: e.Message, Fatal: e.Fatal}
}

// String shows a CONNECT with its secrets redacted, so that logging one never leaks them.
func (f *Connect) String() string {
	red := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	return fmt.Sprintf("CONNECT{v:%d name:%q routes:%t user:%q pass:%s token:%s}", f.Version, f.Name, f.Routes, f.User, red(f.Password), red(f.Token))
}

// GoString is String, for %#v.
func (f *Connect) GoString() string { return f.String() }
