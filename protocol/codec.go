package protocol

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// bodyCodec is implemented by every frame type in this package. appendBody
// returns ok=false for a nil receiver so AppendFrame can report an error
// instead of panicking.
type bodyCodec interface {
	Frame
	appendBody(b []byte) (out []byte, ok bool)
	decodeFrom(d *decoder) error
}

// AppendFrame appends the complete wire form of f (4-byte length, type byte,
// msgpack body) to dst and returns the extended slice. It fails only for a
// nil frame, a Frame implementation not defined by this package, or a body
// over 4 GiB; it does not check semantic limits (channel names, max_frame,
// max_payload) — that is the caller's policy. On error dst is returned
// unchanged (truncated to its original length).
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	c, ok := f.(bodyCodec)
	if !ok {
		return dst, fmt.Errorf("protocol: cannot encode frame of type %T", f)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(c.Type()))
	dst, ok = c.appendBody(dst)
	if !ok {
		return dst[:start], fmt.Errorf("protocol: cannot encode nil %T", f)
	}
	n := len(dst) - start - 4
	if uint64(n) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("protocol: %s frame of %d bytes exceeds the 4 GiB length field", c.Type(), n)
	}
	dst[start] = byte(n >> 24)
	dst[start+1] = byte(n >> 16)
	dst[start+2] = byte(n >> 8)
	dst[start+3] = byte(n)
	return dst, nil
}

// writeBufPool recycles encode buffers for WriteFrame. Buffers that grew
// beyond maxPooledBuf are dropped so one huge frame does not pin memory.
var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBuf = 64 << 10

// WriteFrame encodes f and writes it to w with exactly one Write call, so
// callers that serialise writers with a mutex (or rely on net.Conn's atomic
// Write) never interleave partial frames. Encoding errors are those of
// AppendFrame; write errors are returned as-is.
func WriteFrame(w io.Writer, f Frame) error {
	bp := writeBufPool.Get().(*[]byte)
	b, err := AppendFrame((*bp)[:0], f)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		writeBufPool.Put(bp)
	}
	return err
}

// DecodeBody decodes the msgpack body of a frame of type t. The body must
// contain exactly one msgpack map; unknown keys are skipped and missing keys
// leave the zero value. The returned frame never aliases body.
//
// Errors are *Error values: CodeUnknownFrame for a type this version does
// not define, CodeMalformedFrame for a body that is not valid for its type.
// Both are non-fatal (Fatal=false).
func DecodeBody(t FrameType, body []byte) (Frame, error) {
	return decodeBody(t, body, false)
}

// decodeBody is DecodeBody with control over aliasing: with alias=true,
// byte-slice fields (payloads) may point into body, which the caller then
// hands over to the returned frame.
func decodeBody(t FrameType, body []byte, alias bool) (Frame, error) {
	// The hot frames call their concrete decodeFrom so the decoder stays on
	// the stack; calling through the bodyCodec interface would make it escape
	// (one extra allocation per frame).
	d := decoder{b: body, alias: alias}
	var f Frame
	var err error
	switch t {
	case TypePub:
		p := new(Pub)
		f, err = p, p.decodeFrom(&d)
	case TypeMsg:
		m := new(Msg)
		f, err = m, m.decodeFrom(&d)
	case TypePubAck:
		a := new(PubAck)
		f, err = a, a.decodeFrom(&d)
	case TypeAck:
		a := new(Ack)
		f, err = a, a.decodeFrom(&d)
	default:
		return decodeOther(t, body, alias)
	}
	return finishDecode(t, f, &d, err)
}

func decodeOther(t FrameType, body []byte, alias bool) (Frame, error) {
	f := newFrame(t)
	if f == nil {
		return nil, &Error{Code: CodeUnknownFrame, Message: fmt.Sprintf("unknown frame type %d", uint8(t))}
	}
	d := decoder{b: body, alias: alias}
	err := f.decodeFrom(&d)
	return finishDecode(t, f, &d, err)
}

func finishDecode(t FrameType, f Frame, d *decoder, err error) (Frame, error) {
	if err != nil {
		e := malformed(t, "%v", err)
		if t == TypePub || t == TypeAck {
			e.Req = salvageReq(d.b) // so that a pipelining client learns which request failed
		}
		return nil, e
	}
	if d.off != len(d.b) {
		e := malformed(t, "%d trailing bytes after the body map", len(d.b)-d.off)
		switch f := f.(type) {
		case *Pub:
			e.Req = f.Req
		case *Ack:
			e.Req = f.Req
		}
		return nil, e
	}
	return f, nil
}

// salvageReq reads the "r" of a PUB or ACK body that failed to decode, skipping the other values; 0 when it
// cannot be read.
func salvageReq(body []byte) uint64 {
	d := decoder{b: body}
	n, err := d.mapLen()
	if err != nil {
		return 0
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return 0
		}
		if string(k) == "r" {
			r, err := d.u64()
			if err != nil {
				return 0
			}
			return r
		}
		if d.skip() != nil {
			return 0
		}
	}
	return 0
}

func newFrame(t FrameType) bodyCodec {
	switch t {
	case TypeConnect:
		return new(Connect)
	case TypeConnAck:
		return new(ConnAck)
	case TypePub:
		return new(Pub)
	case TypePubAck:
		return new(PubAck)
	case TypeSub:
		return new(Sub)
	case TypeSubAck:
		return new(SubAck)
	case TypeUnsub:
		return new(Unsub)
	case TypeUnsubAck:
		return new(UnsubAck)
	case TypeCredit:
		return new(Credit)
	case TypeRoute:
		return new(Route)
	case TypeMsg:
		return new(Msg)
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeErr:
		return new(Err)
	case TypeConsume:
		return new(Consume)
	case TypeAck:
		return new(Ack)
	case TypeAcked:
		return new(Acked)
	}
	return nil
}

// fieldErr annotates a decode error with the key it occurred in. Only on
// the error path, so the allocation does not matter.
func fieldErr(k []byte, err error) error {
	if errors.Is(err, errShort) {
		return fmt.Errorf("field %q: %w (a length exceeds the remaining body)", k, err)
	}
	return fmt.Errorf("field %q: %w", k, err)
}

func (d *decoder) u32() (uint32, error) {
	v, err := d.uint(math.MaxUint32)
	return uint32(v), err
}

func (d *decoder) u64() (uint64, error) { return d.uint(math.MaxUint64) }

// ---- Connect ----

func (f *Connect) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 1
	for _, s := range []string{f.Name, f.User, f.Password, f.Token} {
		if s != "" {
			n++
		}
	}
	if f.Routes {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(appendStr(b, "v"), uint64(f.Version))
	if f.Name != "" {
		b = appendStr(appendStr(b, "name"), f.Name)
	}
	if f.Routes {
		b = append(appendStr(b, "routes"), 0xc3)
	}
	for _, kv := range [...]struct{ k, v string }{{"user", f.User}, {"pass", f.Password}, {"token", f.Token}} {
		if kv.v != "" {
			b = appendStr(appendStr(b, kv.k), kv.v)
		}
	}
	return b, true
}

func (f *Connect) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "v":
			f.Version, err = d.u32()
		case "name":
			f.Name, err = d.str()
		case "routes":
			f.Routes, err = d.bool()
		case "user":
			f.User, err = d.str()
		case "pass":
			f.Password, err = d.str()
		case "token":
			f.Token, err = d.str()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- ConnAck ----

func (f *ConnAck) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 6
	if f.MaxHeaders != 0 {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(appendStr(b, "v"), uint64(f.Version))
	b = appendStr(appendStr(b, "server"), f.ServerID)
	b = appendUint(appendStr(b, "max_frame"), uint64(f.MaxFrame))
	b = appendUint(appendStr(b, "max_payload"), uint64(f.MaxPayload))
	b = appendUint(appendStr(b, "max_inflight"), uint64(f.MaxInflight))
	b = appendUint(appendStr(b, "max_window"), uint64(f.MaxWindow))
	if f.MaxHeaders != 0 {
		b = appendUint(appendStr(b, "max_headers"), uint64(f.MaxHeaders))
	}
	return b, true
}

func (f *ConnAck) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "v":
			f.Version, err = d.u32()
		case "server":
			f.ServerID, err = d.str()
		case "max_frame":
			f.MaxFrame, err = d.u32()
		case "max_payload":
			f.MaxPayload, err = d.u32()
		case "max_inflight":
			f.MaxInflight, err = d.u32()
		case "max_window":
			f.MaxWindow, err = d.u32()
		case "max_headers":
			f.MaxHeaders, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Pub ----

func (f *Pub) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 3
	if len(f.Headers) > 0 {
		n++
	}
	if f.IdemKey != "" {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(append(b, 0xa1, 'r'), f.Req)
	b = appendStr(append(b, 0xa1, 'c'), f.Channel)
	b = appendBin(append(b, 0xa1, 'p'), f.Payload)
	if len(f.Headers) > 0 {
		b = appendStrMap(append(b, 0xa1, 'h'), f.Headers)
	}
	if f.IdemKey != "" {
		b = appendStr(append(b, 0xa1, 'k'), f.IdemKey)
	}
	return b, true
}

func (f *Pub) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "r":
			f.Req, err = d.u64()
		case "c":
			f.Channel, err = d.str()
		case "p":
			f.Payload, err = d.bin()
		case "h":
			f.Headers, err = d.strMap()
		case "k":
			f.IdemKey, err = d.str()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- PubAck ----

func (f *PubAck) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	if f.Dup {
		b = append(b, 0x83)
	} else {
		b = append(b, 0x82)
	}
	b = appendUint(append(b, 0xa1, 'r'), f.Req)
	b = appendUint(append(b, 0xa3, 's', 'e', 'q'), f.Seq)
	if f.Dup {
		b = append(b, 0xa3, 'd', 'u', 'p', 0xc3)
	}
	return b, true
}

func (f *PubAck) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "r":
			f.Req, err = d.u64()
		case "seq":
			f.Seq, err = d.u64()
		case "dup":
			f.Dup, err = d.bool()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Sub ----

func (f *Sub) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 3
	if f.Seq != 0 {
		n++
	}
	if f.Time != 0 {
		n++
	}
	if f.Window != 0 {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(appendStr(b, "s"), f.Sid)
	b = appendStr(appendStr(b, "c"), f.Channel)
	b = appendUint(appendStr(b, "start"), uint64(f.Start))
	if f.Seq != 0 {
		b = appendUint(appendStr(b, "seq"), f.Seq)
	}
	if f.Time != 0 {
		b = appendInt(appendStr(b, "time"), f.Time)
	}
	if f.Window != 0 {
		b = appendUint(appendStr(b, "w"), uint64(f.Window))
	}
	return b, true
}

func (f *Sub) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "s":
			f.Sid, err = d.u64()
		case "c":
			f.Channel, err = d.str()
		case "start":
			var v uint64
			v, err = d.uint(math.MaxUint8)
			f.Start = StartKind(v)
		case "seq":
			f.Seq, err = d.u64()
		case "time":
			f.Time, err = d.int()
		case "w":
			f.Window, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- SubAck ----

func (f *SubAck) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	b = appendMapHeader(b, 4)
	b = appendUint(appendStr(b, "s"), f.Sid)
	b = appendUint(appendStr(b, "start_seq"), f.StartSeq)
	b = appendUint(appendStr(b, "last_seq"), f.LastSeq)
	b = appendUint(appendStr(b, "w"), uint64(f.Window))
	return b, true
}

func (f *SubAck) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "s":
			f.Sid, err = d.u64()
		case "start_seq":
			f.StartSeq, err = d.u64()
		case "last_seq":
			f.LastSeq, err = d.u64()
		case "w":
			f.Window, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Unsub / UnsubAck ----

func appendSidBody(b []byte, sid uint64) []byte {
	return appendUint(append(b, 0x81, 0xa1, 's'), sid)
}

func decodeSidBody(d *decoder, sid *uint64) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		if string(k) == "s" {
			*sid, err = d.u64()
		} else {
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

func (f *Unsub) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	return appendSidBody(b, f.Sid), true
}

func (f *Unsub) decodeFrom(d *decoder) error { return decodeSidBody(d, &f.Sid) }

func (f *UnsubAck) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	return appendSidBody(b, f.Sid), true
}

func (f *UnsubAck) decodeFrom(d *decoder) error { return decodeSidBody(d, &f.Sid) }

// ---- Credit ----

func (f *Credit) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	b = appendMapHeader(b, 2)
	b = appendUint(appendStr(b, "s"), f.Sid)
	b = appendUint(appendStr(b, "n"), uint64(f.N))
	return b, true
}

func (f *Credit) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "s":
			f.Sid, err = d.u64()
		case "n":
			f.N, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Route ----

func (f *Route) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	b = appendMapHeader(b, 3)
	b = appendStr(appendStr(b, "c"), f.Channel)
	b = appendUint(appendStr(b, "node"), f.Node)
	b = appendStr(appendStr(b, "addr"), f.Addr)
	return b, true
}

func (f *Route) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "c":
			f.Channel, err = d.str()
		case "node":
			f.Node, err = d.u64()
		case "addr":
			f.Addr, err = d.str()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Route) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Route) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Route{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Credit) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Credit) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Credit{}
	return decodeMsgpack(dec, f)
}

// ---- Msg ----

func (f *Msg) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := byte(5)
	if len(f.Headers) > 0 {
		n++
	}
	if f.Attempt != 0 {
		n++
	}
	b = append(b, 0x80|n) // fixmap: at most 7 entries
	b = appendUint(append(b, 0xa1, 's'), f.Sid)
	b = appendStr(append(b, 0xa1, 'c'), f.Channel)
	b = appendUint(append(b, 0xa3, 's', 'e', 'q'), f.Seq)
	b = appendInt(append(b, 0xa1, 't'), f.Time)
	if len(f.Headers) > 0 {
		b = appendStrMap(append(b, 0xa1, 'h'), f.Headers)
	}
	b = appendBin(append(b, 0xa1, 'p'), f.Payload)
	if f.Attempt != 0 {
		b = appendUint(append(b, 0xa1, 'a'), uint64(f.Attempt))
	}
	return b, true
}

func (f *Msg) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "s":
			f.Sid, err = d.u64()
		case "c":
			f.Channel, err = d.str()
		case "seq":
			f.Seq, err = d.u64()
		case "t":
			f.Time, err = d.int()
		case "h":
			f.Headers, err = d.strMap()
		case "p":
			f.Payload, err = d.bin()
		case "a":
			f.Attempt, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Consume ----

func (f *Consume) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 3
	for _, v := range [...]uint64{uint64(f.AckWait), uint64(f.MaxDeliver), uint64(f.MaxAckPending), uint64(f.Start), f.Seq, uint64(f.Window)} {
		if v != 0 {
			n++
		}
	}
	for _, v := range [...]string{f.Mode, f.DeadLetter} {
		if v != "" {
			n++
		}
	}
	if f.Time != 0 {
		n++
	}
	if f.Direct {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(appendStr(b, "s"), f.Sid)
	b = appendStr(appendStr(b, "c"), f.Channel)
	b = appendStr(appendStr(b, "n"), f.Consumer)
	if f.Mode != "" {
		b = appendStr(appendStr(b, "mode"), f.Mode)
	}
	if f.AckWait != 0 {
		b = appendUint(appendStr(b, "ack_wait"), uint64(f.AckWait))
	}
	if f.MaxDeliver != 0 {
		b = appendUint(appendStr(b, "max_deliver"), uint64(f.MaxDeliver))
	}
	if f.DeadLetter != "" {
		b = appendStr(appendStr(b, "dlq"), f.DeadLetter)
	}
	if f.MaxAckPending != 0 {
		b = appendUint(appendStr(b, "max_ack_pending"), uint64(f.MaxAckPending))
	}
	if f.Start != 0 {
		b = appendUint(appendStr(b, "start"), uint64(f.Start))
	}
	if f.Seq != 0 {
		b = appendUint(appendStr(b, "seq"), f.Seq)
	}
	if f.Time != 0 {
		b = appendInt(appendStr(b, "time"), f.Time)
	}
	if f.Window != 0 {
		b = appendUint(appendStr(b, "w"), uint64(f.Window))
	}
	if f.Direct {
		b = appendBool(appendStr(b, "direct"), true)
	}
	return b, true
}

func (f *Consume) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "s":
			f.Sid, err = d.u64()
		case "c":
			f.Channel, err = d.str()
		case "n":
			f.Consumer, err = d.str()
		case "mode":
			f.Mode, err = d.str()
		case "ack_wait":
			f.AckWait, err = d.u32()
		case "max_deliver":
			f.MaxDeliver, err = d.u32()
		case "dlq":
			f.DeadLetter, err = d.str()
		case "max_ack_pending":
			f.MaxAckPending, err = d.u32()
		case "start":
			var v uint64
			v, err = d.uint(math.MaxUint8)
			f.Start = StartKind(v)
		case "seq":
			f.Seq, err = d.u64()
		case "time":
			f.Time, err = d.int()
		case "w":
			f.Window, err = d.u32()
		case "direct":
			f.Direct, err = d.bool()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Ack ----

func (f *Ack) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := byte(2)
	if f.Req != 0 {
		n++
	}
	if f.Kind != 0 {
		n++
	}
	if f.Delay != 0 {
		n++
	}
	b = append(b, 0x80|n) // fixmap: at most 5 entries
	if f.Req != 0 {
		b = appendUint(append(b, 0xa1, 'r'), f.Req)
	}
	b = appendUint(append(b, 0xa1, 's'), f.Sid)
	b = appendUint(append(b, 0xa3, 's', 'e', 'q'), f.Seq)
	if f.Kind != 0 {
		b = appendUint(append(b, 0xa1, 'k'), uint64(f.Kind))
	}
	if f.Delay != 0 {
		b = appendUint(append(b, 0xa1, 'd'), uint64(f.Delay))
	}
	return b, true
}

func (f *Ack) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "r":
			f.Req, err = d.u64()
		case "s":
			f.Sid, err = d.u64()
		case "seq":
			f.Seq, err = d.u64()
		case "k":
			var v uint64
			v, err = d.uint(math.MaxUint8)
			f.Kind = AckKind(v)
		case "d":
			f.Delay, err = d.u32()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Acked ----

func (f *Acked) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	return appendUint(append(b, 0x81, 0xa1, 'r'), f.Req), true
}

func (f *Acked) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		if string(k) == "r" {
			f.Req, err = d.u64()
		} else {
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- Ping / Pong ----

// decodeEmpty accepts a map whose keys are all unknown (to this version).
func decodeEmpty(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		if err := d.skip(); err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

func (f *Ping) appendBody(b []byte) ([]byte, bool) { return append(b, 0x80), f != nil }
func (f *Ping) decodeFrom(d *decoder) error        { return decodeEmpty(d) }
func (f *Pong) appendBody(b []byte) ([]byte, bool) { return append(b, 0x80), f != nil }
func (f *Pong) decodeFrom(d *decoder) error        { return decodeEmpty(d) }

// ---- Err ----

func (f *Err) appendBody(b []byte) ([]byte, bool) {
	if f == nil {
		return b, false
	}
	n := 2
	if f.Req != 0 {
		n++
	}
	if f.Sid != 0 {
		n++
	}
	if f.Fatal {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint(appendStr(b, "code"), uint64(f.Code))
	b = appendStr(appendStr(b, "msg"), f.Message)
	if f.Req != 0 {
		b = appendUint(appendStr(b, "r"), f.Req)
	}
	if f.Sid != 0 {
		b = appendUint(appendStr(b, "s"), f.Sid)
	}
	if f.Fatal {
		b = appendBool(appendStr(b, "fatal"), true)
	}
	return b, true
}

func (f *Err) decodeFrom(d *decoder) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "code":
			var v uint64
			v, err = d.uint(math.MaxUint16)
			f.Code = ErrCode(v)
		case "msg":
			f.Message, err = d.str()
		case "r":
			f.Req, err = d.u64()
		case "s":
			f.Sid, err = d.u64()
		case "fatal":
			f.Fatal, err = d.bool()
		default:
			err = d.skip()
		}
		if err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

// ---- msgpack.CustomEncoder / msgpack.CustomDecoder ----
//
// These let code that uses vmihailenco/msgpack directly (e.g. to embed a
// frame in another structure, or in tests) produce and accept exactly the
// wire bodies, via the same hand-written routines.

func encodeMsgpack(enc *msgpack.Encoder, c bodyCodec) error {
	bp := writeBufPool.Get().(*[]byte)
	b, ok := c.appendBody((*bp)[:0])
	var err error
	if ok {
		_, err = enc.Writer().Write(b)
	} else {
		err = enc.EncodeNil()
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		writeBufPool.Put(bp)
	}
	return err
}

func decodeMsgpack(dec *msgpack.Decoder, c bodyCodec) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return err
	}
	// DecodeRaw returns a freshly allocated slice, so payloads may alias it.
	d := decoder{b: raw, alias: true}
	if err := c.decodeFrom(&d); err != nil {
		return malformed(c.Type(), "%v", err)
	}
	return nil
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Connect) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Connect) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Connect{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *ConnAck) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *ConnAck) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = ConnAck{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Pub) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Pub) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Pub{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *PubAck) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *PubAck) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = PubAck{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Sub) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Sub) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Sub{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *SubAck) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *SubAck) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = SubAck{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Unsub) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Unsub) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Unsub{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *UnsubAck) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *UnsubAck) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = UnsubAck{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Msg) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Msg) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Msg{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Ping) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Ping) DecodeMsgpack(dec *msgpack.Decoder) error { return decodeMsgpack(dec, f) }

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Pong) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Pong) DecodeMsgpack(dec *msgpack.Decoder) error { return decodeMsgpack(dec, f) }

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Err) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Err) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Err{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Consume) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Consume) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Consume{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Ack) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Ack) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Ack{}
	return decodeMsgpack(dec, f)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the wire body format.
func (f *Acked) EncodeMsgpack(enc *msgpack.Encoder) error { return encodeMsgpack(enc, f) }

// DecodeMsgpack implements msgpack.CustomDecoder with the wire body format.
func (f *Acked) DecodeMsgpack(dec *msgpack.Decoder) error {
	*f = Acked{}
	return decodeMsgpack(dec, f)
}
