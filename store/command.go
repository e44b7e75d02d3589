package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// ChannelConfig holds a channel's settings. Zero means unlimited / disabled.
type ChannelConfig struct {
	MaxMsgs  uint64 `msgpack:"max_msgs"`
	MaxBytes uint64 `msgpack:"max_bytes"` // compared with the sum of MsgSize of stored messages
	MaxAge   int64  `msgpack:"max_age"`   // nanoseconds
	// DedupeWindow is in nanoseconds; 0 disables idempotency-key dedupe (and
	// drops the records kept so far).
	DedupeWindow int64 `msgpack:"dedupe"`
	// Interest (retention: interest) also deletes every message each of the channel's durable
	// consumers has behind its ack floor. A channel without consumers keeps its messages (the limits
	// above still apply).
	Interest bool `msgpack:"interest,omitempty"`
}

// Flags of an OpConfigure after its limits; a config without any is encoded without the field, as
// builds before it encoded every config.
const configInterest = 1

// Message is a stored message.
type Message struct {
	Seq     uint64            `msgpack:"seq"`
	Time    int64             `msgpack:"t"` // unix nanoseconds
	Headers map[string]string `msgpack:"h,omitempty"`
	Payload []byte            `msgpack:"p"`
}

// Op is a command kind.
type Op uint8

const (
	// OpPublish appends Command.Msgs.
	OpPublish Op = 1
	// OpConfigure replaces the channel's config with *Command.Config (nil means
	// the zero config: everything unlimited, dedupe off).
	OpConfigure Op = 2
	// OpTick only advances the channel clock: applies age retention and dedupe expiry. With
	// Command.Release it also records that the activation of that epoch stopped handing out messages.
	OpTick Op = 3
	// OpConsumer creates, deletes or records the progress of a durable consumer (*Command.Consumer).
	OpConsumer Op = 4
)

// Command is a proposal to a channel shard. The proposer assigns Time (unix
// nanoseconds) from its clock; the state machine never reads a clock.
type Command struct {
	Op       Op
	Time     int64
	Msgs     []PublishItem    // OpPublish
	Config   *ChannelConfig   // OpConfigure
	Consumer *ConsumerCommand // OpConsumer
	// Release (OpTick, optional) is the epoch of an activation that stopped: when it is still the
	// channel's epoch, the next activation need not wait for its consumer lease to run out.
	Release uint64
}

// PublishItem is one message of an OpPublish. An empty IdemKey means no dedupe.
type PublishItem struct {
	IdemKey string
	Headers map[string]string
	Payload []byte
}

// ResultRejected is the sm.Result.Value of an entry whose command could not be
// decoded (Result.Data then holds the error text). The entry is still applied
// (as a no-op), so the shard does not halt on a bad proposal.
const ResultRejected uint64 = math.MaxUint64

// ResultSuperseded is the sm.Result.Value of a consumer command refused because its epoch is older
// than the channel's (a newer activation proposed its settings since): the activation that proposed
// it is not the channel's current one and must stop.
const ResultSuperseded uint64 = math.MaxUint64 - 1

// ErrSuperseded is what DecodeConsumerResult answers for a ResultSuperseded entry.
var ErrSuperseded = errors.New("store: a newer activation of the channel runs its consumers")

const cmdFormat byte = 1

// Command wire format (all integers big endian or uvarint):
//
//	format byte (1) | op byte | time 8B
//	OpPublish:   uvarint(n) then n x { uvarint(len) idemKey | headers | uvarint(len) payload }
//	OpConfigure: uvarint MaxMsgs | uvarint MaxBytes | varint MaxAge | varint DedupeWindow
//	             [| uvarint flags (configInterest), only when not zero]
//	OpTick:      [uvarint Release, only when not zero]
//	OpConsumer:  msgpack ConsumerCommand (map keys sorted)
//
// headers is uvarint(count) then count x { uvarint(len) key | uvarint(len) value },
// the same bytes a stored message value carries, so Update copies them verbatim.

// EncodeCommand appends the encoding of c to dst and returns it. Header order
// follows map iteration, so equal commands may encode differently (both decode
// the same); Update only ever sees the bytes that were replicated.
func EncodeCommand(dst []byte, c *Command) []byte {
	dst = append(dst, cmdFormat, byte(c.Op))
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.Time))
	switch c.Op {
	case OpPublish:
		n := 0
		for i := range c.Msgs {
			m := &c.Msgs[i]
			n += 12 + len(m.IdemKey) + len(m.Payload)
			for k, v := range m.Headers {
				n += 4 + len(k) + len(v)
			}
		}
		if cap(dst)-len(dst) < n {
			nd := make([]byte, len(dst), len(dst)+n)
			copy(nd, dst)
			dst = nd
		}
		dst = binary.AppendUvarint(dst, uint64(len(c.Msgs)))
		for i := range c.Msgs {
			m := &c.Msgs[i]
			dst = binary.AppendUvarint(dst, uint64(len(m.IdemKey)))
			dst = append(dst, m.IdemKey...)
			dst = appendHeaders(dst, m.Headers)
			dst = binary.AppendUvarint(dst, uint64(len(m.Payload)))
			dst = append(dst, m.Payload...)
		}
	case OpConfigure:
		var cfg ChannelConfig
		if c.Config != nil {
			cfg = *c.Config
		}
		dst = binary.AppendUvarint(dst, cfg.MaxMsgs)
		dst = binary.AppendUvarint(dst, cfg.MaxBytes)
		dst = binary.AppendVarint(dst, cfg.MaxAge)
		dst = binary.AppendVarint(dst, cfg.DedupeWindow)
		if cfg.Interest {
			dst = binary.AppendUvarint(dst, configInterest)
		}
	case OpTick:
		if c.Release != 0 {
			dst = binary.AppendUvarint(dst, c.Release)
		}
	case OpConsumer:
		var cc ConsumerCommand
		if c.Consumer != nil {
			cc = *c.Consumer
		}
		dst = marshalSorted(dst, &cc)
	}
	return dst
}

func appendHeaders(dst []byte, h map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(h)))
	for k, v := range h {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

var errShort = errors.New("store: truncated command")

// reader is a bounds-checked cursor; every length is checked against what is
// left, so garbage never causes a panic or a huge allocation.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// rawHeaders returns the verbatim headers section, validated.
func (r *reader) rawHeaders() []byte {
	start := r.b
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b))/2 {
		r.err = errShort
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.bytes()
		r.bytes()
	}
	if r.err != nil {
		return nil
	}
	return start[:len(start)-len(r.b)]
}

// itemView is one publish item aliasing the command bytes.
type itemView struct {
	key, headers, payload []byte
}

// cmdHeader is the decoded fixed part of a command.
type cmdHeader struct {
	op      Op
	time    int64
	cfg     ChannelConfig
	cons    *ConsumerCommand // OpConsumer
	release uint64           // OpTick
}

// parseCommand decodes b without copying: items alias b and are appended to
// items[:0]. It validates the whole command before anything is applied.
func parseCommand(b []byte, items []itemView) (cmdHeader, []itemView, error) {
	var h cmdHeader
	items = items[:0]
	if len(b) < 10 {
		return h, items, errShort
	}
	if b[0] != cmdFormat {
		return h, items, fmt.Errorf("store: unknown command format %d", b[0])
	}
	h.op = Op(b[1])
	h.time = int64(binary.BigEndian.Uint64(b[2:10]))
	r := reader{b: b[10:]}
	switch h.op {
	case OpPublish:
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b))/3 { // each item is at least 3 bytes
			return h, items, errShort
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			var it itemView
			it.key = r.bytes()
			it.headers = r.rawHeaders()
			it.payload = r.bytes()
			items = append(items, it)
		}
	case OpConfigure:
		h.cfg.MaxMsgs = r.uvarint()
		h.cfg.MaxBytes = r.uvarint()
		h.cfg.MaxAge = r.varint()
		h.cfg.DedupeWindow = r.varint()
		if r.err == nil && len(r.b) > 0 {
			switch flags := r.uvarint(); {
			case r.err != nil:
			case flags&^configInterest != 0:
				return h, items, fmt.Errorf("store: unknown channel settings flags %#x", flags)
			default:
				h.cfg.Interest = flags&configInterest != 0
			}
		}
	case OpTick:
		if len(r.b) > 0 {
			h.release = r.uvarint()
		}
	case OpConsumer:
		var cc ConsumerCommand
		if err := msgpack.Unmarshal(r.b, &cc); err != nil {
			return h, items, fmt.Errorf("store: bad consumer command: %w", err)
		}
		if err := cc.validate(); err != nil {
			return h, items, err
		}
		h.cons, r.b = &cc, nil
	default:
		return h, items, fmt.Errorf("store: unknown op %d", h.op)
	}
	if r.err != nil {
		return h, items, r.err
	}
	if len(r.b) != 0 {
		return h, items, errors.New("store: trailing bytes in command")
	}
	return h, items, nil
}

// DecodeCommand decodes an EncodeCommand encoding. The result does not alias b.
func DecodeCommand(b []byte) (*Command, error) {
	h, items, err := parseCommand(b, nil)
	if err != nil {
		return nil, err
	}
	c := &Command{Op: h.op, Time: h.time}
	switch h.op {
	case OpPublish:
		c.Msgs = make([]PublishItem, len(items))
		for i, it := range items {
			c.Msgs[i] = PublishItem{
				IdemKey: string(it.key),
				Headers: decodeHeaders(it.headers),
				Payload: append([]byte{}, it.payload...),
			}
		}
	case OpConfigure:
		cfg := h.cfg
		c.Config = &cfg
	case OpConsumer:
		c.Consumer = h.cons
	case OpTick:
		c.Release = h.release
	}
	return c, nil
}

// decodeHeaders decodes a validated headers section; nil when empty.
func decodeHeaders(b []byte) map[string]string {
	r := reader{b: b}
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.bytes()
		v := r.bytes()
		if r.err == nil {
			m[string(k)] = string(v)
		}
	}
	return m
}

// MsgSize is the stored size of a message: the length of its value (8-byte
// time + encoded headers + payload). It is what ChannelState.Bytes sums and
// what ChannelConfig.MaxBytes and FetchQuery.MaxBytes limit.
func MsgSize(headers map[string]string, payload []byte) uint64 {
	n := 8 + uvarintLen(uint64(len(headers))) + len(payload)
	for k, v := range headers {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	return uint64(n)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendMsgValue appends the stored value of a message.
func appendMsgValue(dst []byte, t int64, rawHeaders, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = append(dst, rawHeaders...)
	return append(dst, payload...)
}

// decodeMsgValue decodes a stored value into m (copying out of v).
func decodeMsgValue(seq uint64, v []byte) (Message, error) {
	if len(v) < 9 {
		return Message{}, fmt.Errorf("store: corrupt message %d", seq)
	}
	m := Message{Seq: seq, Time: int64(binary.BigEndian.Uint64(v))}
	r := reader{b: v[8:]}
	raw := r.rawHeaders()
	if r.err != nil {
		return Message{}, fmt.Errorf("store: corrupt message %d headers", seq)
	}
	m.Headers = decodeHeaders(raw)
	m.Payload = append([]byte{}, r.b...)
	return m, nil
}

// PublishResult is the decoded sm.Result.Data of an OpPublish entry: one Seq
// and Dup per item, in order. Dup means the item's IdemKey was seen within the
// dedupe window: Seq is then the first publication's seq and nothing was stored.
type PublishResult struct {
	Seqs []uint64
	Dup  []bool
}

// encodePublishResult: uvarint(n) then n x uvarint(seq<<1 | dup).
func encodePublishResult(dst []byte, seqs []uint64, dups []bool) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(seqs)))
	for i, s := range seqs {
		v := s << 1
		if dups[i] {
			v |= 1
		}
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

// EncodePublishResult encodes r (exposed for tests and alternative proposers).
func EncodePublishResult(dst []byte, r PublishResult) []byte {
	return encodePublishResult(dst, r.Seqs, r.Dup)
}

// DecodePublishResult decodes sm.Result.Data of an OpPublish entry.
func DecodePublishResult(b []byte) (PublishResult, error) {
	r := reader{b: b}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return PublishResult{}, errors.New("store: corrupt publish result")
	}
	res := PublishResult{Seqs: make([]uint64, n), Dup: make([]bool, n)}
	for i := range res.Seqs {
		v := r.uvarint()
		res.Seqs[i], res.Dup[i] = v>>1, v&1 == 1
	}
	if r.err != nil || len(r.b) != 0 {
		return PublishResult{}, errors.New("store: corrupt publish result")
	}
	return res, nil
}

// StateResult is what an OpConfigure or OpTick entry answers: the channel's last seq, last message
// time and clock once it applied. It is as current as a linearizable read (the entry applied in log
// order), so an activation that proposes one needs no read.
type StateResult struct {
	LastSeq  uint64
	LastTime int64
	Clock    int64
	Epoch    uint64 // shardState.Epoch: an OpConfigure's own log index
	// Free (OpConfigure): the activation before this epoch released the channel when it stopped, or
	// there was none, so no other activation can still hand out its consumers' messages.
	Free bool
}

func stateResult(st *shardState, free bool) sm.Result {
	d := binary.BigEndian.AppendUint64(make([]byte, 0, 25), uint64(st.LastTime))
	d = binary.BigEndian.AppendUint64(d, uint64(st.Clock))
	if st.Epoch != 0 {
		d = binary.BigEndian.AppendUint64(d, st.Epoch)
		if free {
			d = append(d, 1)
		}
	}
	return sm.Result{Value: st.LastSeq, Data: d}
}

// DecodeStateResult decodes the result of an OpConfigure or OpTick entry.
func DecodeStateResult(r sm.Result) (StateResult, error) {
	if r.Value == ResultRejected {
		return StateResult{}, fmt.Errorf("store: command rejected: %s", r.Data)
	}
	if len(r.Data) != 16 && len(r.Data) != 24 && !(len(r.Data) == 25 && r.Data[24] == 1) {
		return StateResult{}, errors.New("store: corrupt state result")
	}
	res := StateResult{LastSeq: r.Value, LastTime: int64(binary.BigEndian.Uint64(r.Data)),
		Clock: int64(binary.BigEndian.Uint64(r.Data[8:]))}
	if len(r.Data) >= 24 {
		res.Epoch = binary.BigEndian.Uint64(r.Data[16:])
		res.Free = len(r.Data) == 25
	}
	return res, nil
}
