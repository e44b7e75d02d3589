package protocol

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRoundTripAllFrames(t *testing.T) {
	seen := map[FrameType]bool{}
	for _, f := range sampleFrames() {
		seen[f.Type()] = true
		b, err := AppendFrame([]byte("prefix"), f)
		if err != nil {
			t.Fatalf("%T: %v", f, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("%T: AppendFrame clobbered dst", f)
		}
		b = b[len("prefix"):]
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n != len(b)-4 {
			t.Fatalf("%T: length field %d, frame has %d bytes after it", f, n, len(b)-4)
		}
		if FrameType(b[4]) != f.Type() {
			t.Fatalf("%T: type byte %d", f, b[4])
		}
		got, err := DecodeBody(FrameType(b[4]), b[HeaderLen:])
		if err != nil {
			t.Fatalf("%T: decode: %v", f, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip mismatch:\n got %#v\nwant %#v", got, f)
		}
		// The same frame read through a Reader.
		rf, err := NewReader(bytes.NewReader(b), 0).Next()
		if err != nil || !reflect.DeepEqual(rf, f) {
			t.Fatalf("%T via Reader: %v %#v", f, err, rf)
		}
		// msgpack.Marshal of the frame must produce the same body bytes
		// (CustomEncoder), and msgpack.Unmarshal must invert it.
		mb, err := msgpack.Marshal(f)
		if err != nil {
			t.Fatalf("%T: msgpack.Marshal: %v", f, err)
		}
		if !hasMapHeaders(f) && !bytes.Equal(mb, b[HeaderLen:]) {
			t.Fatalf("%T: msgpack.Marshal body differs:\n% x\n% x", f, mb, b[HeaderLen:])
		}
		dst := reflect.New(reflect.TypeOf(f).Elem()).Interface()
		if err := msgpack.Unmarshal(mb, dst); err != nil {
			t.Fatalf("%T: msgpack.Unmarshal: %v", f, err)
		}
		if !reflect.DeepEqual(dst, f) {
			t.Fatalf("%T: msgpack.Unmarshal mismatch: %#v", f, dst)
		}
	}
	for ft := TypeConnect; ft.Known(); ft++ {
		if !seen[ft] {
			t.Errorf("no sample for %v", ft)
		}
	}
}

// hasMapHeaders reports frames with >1 header, whose encoding order is
// Go-map order and therefore differs between two encodings.
func hasMapHeaders(f Frame) bool {
	switch f := f.(type) {
	case *Pub:
		return len(f.Headers) > 1
	case *Msg:
		return len(f.Headers) > 1
	}
	return false
}

func TestDecodeKeyOrderAndUnknownKeys(t *testing.T) {
	// Keys in reverse order, with unknown keys of every msgpack kind mixed
	// in (including nested containers, ext, float, and a non-string key).
	var b []byte
	b = appendMapHeader(b, 10)
	b = appendStr(appendStr(b, "k"), "idem")
	b = appendStr(b, "zz_future")
	b = append(b, 0x92, 0x81, 0xa1, 'x', 0xcb, 1, 2, 3, 4, 5, 6, 7, 8, 0xd6, 0x05, 1, 2, 3, 4) // [ {x: float64}, fixext4 ]
	b = appendStrMap(appendStr(b, "h"), map[string]string{"a": "b"})
	b = appendBin(appendStr(b, "p"), []byte("payload"))
	b = append(b, 0x07, 0xc0) // integer key 7 -> nil: skipped
	b = appendStr(appendStr(b, "c"), "orders.eu")
	b = appendStr(b, "ext")
	b = append(b, 0xc7, 0x03, 0x01, 'a', 'b', 'c') // ext8
	b = append(appendStr(b, "f32"), 0xca, 0, 0, 0, 0)
	b = append(appendStr(b, "big"), 0xdc, 0, 2, 0xc2, 0xc3) // array16 [false,true]
	b = appendUint(appendStr(b, "r"), 77)
	got, err := DecodeBody(TypePub, b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Pub{Req: 77, Channel: "orders.eu", Payload: []byte("payload"), Headers: map[string]string{"a": "b"}, IdemKey: "idem"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}

	// Unknown keys in PING (future fields) are ignored too.
	b = appendMapHeader(nil, 1)
	b = appendUint(appendStr(b, "nonce"), 5)
	if f, err := DecodeBody(TypePing, b); err != nil || !reflect.DeepEqual(f, &Ping{}) {
		t.Fatalf("ping with unknown key: %v %v", f, err)
	}
}

func TestDecodeMissingKeysAreZero(t *testing.T) {
	f, err := DecodeBody(TypeMsg, []byte{0x80})
	if err != nil || !reflect.DeepEqual(f, &Msg{}) {
		t.Fatalf("%#v %v", f, err)
	}
	// nil values decode as zero values too.
	b := appendMapHeader(nil, 3)
	b = append(appendStr(b, "s"), 0xc0)
	b = append(appendStr(b, "c"), 0xc0)
	b = append(appendStr(b, "p"), 0xc0)
	f, err = DecodeBody(TypeMsg, b)
	if err != nil || !reflect.DeepEqual(f, &Msg{}) {
		t.Fatalf("%#v %v", f, err)
	}
}

// TestInteropReflection encodes bodies with plain reflection-based msgpack
// (as a client in another language would produce them: arbitrary key order,
// non-compact ints) and checks that they decode identically.
func TestInteropReflection(t *testing.T) {
	cases := []struct {
		t    FrameType
		body map[string]any
		want Frame
	}{
		{TypeConnect, map[string]any{"v": uint32(1), "name": "py"}, &Connect{Version: 1, Name: "py"}},
		{TypeConnAck, map[string]any{"v": 1, "server": "s", "max_frame": int64(2 << 20), "max_payload": uint64(1 << 20), "max_inflight": int8(100), "max_window": 64},
			&ConnAck{Version: 1, ServerID: "s", MaxFrame: 2 << 20, MaxPayload: 1 << 20, MaxInflight: 100, MaxWindow: 64}},
		{TypePub, map[string]any{"r": int64(3), "c": "a.b", "p": []byte("xyz"), "h": map[string]string{"k": "v"}, "k": "id", "extra": []any{1, "two", nil}},
			&Pub{Req: 3, Channel: "a.b", Payload: []byte("xyz"), Headers: map[string]string{"k": "v"}, IdemKey: "id"}},
		{TypePub, map[string]any{"r": 3, "c": "a", "p": "as-str"}, &Pub{Req: 3, Channel: "a", Payload: []byte("as-str")}},
		{TypePubAck, map[string]any{"r": uint16(300), "seq": uint64(1) << 63, "dup": true}, &PubAck{Req: 300, Seq: 1 << 63, Dup: true}},
		{TypeSub, map[string]any{"s": 1, "c": "c", "start": 3, "time": int64(-1), "w": 10, "seq": 0}, &Sub{Sid: 1, Channel: "c", Start: StartTime, Time: -1, Window: 10}},
		{TypeSubAck, map[string]any{"s": 1, "start_seq": 5, "last_seq": 4}, &SubAck{Sid: 1, StartSeq: 5, LastSeq: 4}},
		{TypeSubAck, map[string]any{"s": 1, "start_seq": 5, "last_seq": 4, "w": 32}, &SubAck{Sid: 1, StartSeq: 5, LastSeq: 4, Window: 32}},
		{TypeCredit, map[string]any{"n": 16, "s": 2}, &Credit{Sid: 2, N: 16}},
		{TypeConnect, map[string]any{"routes": true, "v": 1}, &Connect{Version: 1, Routes: true}},
		{TypeRoute, map[string]any{"addr": "h:1", "node": uint8(3), "c": "a.b"}, &Route{Channel: "a.b", Node: 3, Addr: "h:1"}},
		{TypeUnsub, map[string]any{"s": 9}, &Unsub{Sid: 9}},
		{TypeUnsubAck, map[string]any{"s": 9}, &UnsubAck{Sid: 9}},
		{TypeMsg, map[string]any{"p": []byte{1}, "t": int64(1700000000000000000), "seq": 2, "c": "x.y", "s": 4}, &Msg{Sid: 4, Channel: "x.y", Seq: 2, Time: 1700000000000000000, Payload: []byte{1}}},
		{TypePing, map[string]any{}, &Ping{}},
		{TypePong, map[string]any{}, &Pong{}},
		{TypeErr, map[string]any{"code": 8, "msg": "m", "r": 5, "fatal": false}, &Err{Code: CodeTimeout, Message: "m", Req: 5}},
		{TypeMsg, map[string]any{"a": uint64(3), "p": []byte{1}, "t": 1, "seq": 2, "c": "x", "s": 4}, &Msg{Sid: 4, Channel: "x", Seq: 2, Time: 1, Payload: []byte{1}, Attempt: 3}},
		{TypeConsume, map[string]any{"w": 8, "n": "workers", "c": "jobs", "s": int16(7), "mode": "exclusive", "ack_wait": uint64(5000), "max_deliver": 5, "dlq": "jobs-dead",
			"max_ack_pending": 10, "start": 3, "time": int64(-2), "seq": 0, "future": map[string]any{"x": 1}},
			&Consume{Sid: 7, Channel: "jobs", Consumer: "workers", Mode: ModeExclusive, AckWait: 5000, MaxDeliver: 5, DeadLetter: "jobs-dead", MaxAckPending: 10, Start: StartTime, Time: -2, Window: 8}},
		{TypeConsume, map[string]any{"s": 1, "c": "jobs", "n": "w", "start": 2, "seq": uint32(9)}, &Consume{Sid: 1, Channel: "jobs", Consumer: "w", Start: StartSeq, Seq: 9}},
		{TypeAck, map[string]any{"d": 250, "k": 1, "seq": uint64(1) << 40, "s": 2, "r": 11}, &Ack{Req: 11, Sid: 2, Seq: 1 << 40, Kind: AckNak, Delay: 250}},
		{TypeAck, map[string]any{"s": 2, "seq": 3}, &Ack{Sid: 2, Seq: 3}},
		{TypeAcked, map[string]any{"r": int64(11)}, &Acked{Req: 11}},
	}
	for _, c := range cases {
		body, err := msgpack.Marshal(c.body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBody(c.t, body)
		if err != nil {
			t.Fatalf("%v: %v", c.t, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%v:\n got %#v\nwant %#v", c.t, got, c.want)
		}
	}
}

// Plain mirror types (no custom codec): reflection encoding with compact
// ints must be byte-identical to the hand-written encoder.
type plainPub struct {
	Req     uint64            `msgpack:"r"`
	Channel string            `msgpack:"c"`
	Payload []byte            `msgpack:"p"`
	Headers map[string]string `msgpack:"h,omitempty"`
	IdemKey string            `msgpack:"k,omitempty"`
}

type plainMsg struct {
	Sid     uint64            `msgpack:"s"`
	Channel string            `msgpack:"c"`
	Seq     uint64            `msgpack:"seq"`
	Time    int64             `msgpack:"t"`
	Headers map[string]string `msgpack:"h,omitempty"`
	Payload []byte            `msgpack:"p"`
	Attempt uint32            `msgpack:"a,omitempty"`
}

type plainConsume struct {
	Sid           uint64    `msgpack:"s"`
	Channel       string    `msgpack:"c"`
	Consumer      string    `msgpack:"n"`
	Mode          string    `msgpack:"mode,omitempty"`
	AckWait       uint32    `msgpack:"ack_wait,omitempty"`
	MaxDeliver    uint32    `msgpack:"max_deliver,omitempty"`
	DeadLetter    string    `msgpack:"dlq,omitempty"`
	MaxAckPending uint32    `msgpack:"max_ack_pending,omitempty"`
	Start         StartKind `msgpack:"start,omitempty"`
	Seq           uint64    `msgpack:"seq,omitempty"`
	Time          int64     `msgpack:"time,omitempty"`
	Window        uint32    `msgpack:"w,omitempty"`
	Direct        bool      `msgpack:"direct,omitempty"`
}

type plainAck struct {
	Req   uint64  `msgpack:"r,omitempty"`
	Sid   uint64  `msgpack:"s"`
	Seq   uint64  `msgpack:"seq"`
	Kind  AckKind `msgpack:"k,omitempty"`
	Delay uint32  `msgpack:"d,omitempty"`
}

func TestByteCompatibleWithReflection(t *testing.T) {
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.UseCompactInts(true)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	p := Pub{Req: 300, Channel: strings.Repeat("c", 40), Payload: make([]byte, 300), Headers: map[string]string{"a": "b"}, IdemKey: "k"}
	b, _ := AppendFrame(nil, &p)
	if want := enc(plainPub(p)); !bytes.Equal(b[HeaderLen:], want) {
		t.Fatalf("PUB differs:\n% x\n% x", b[HeaderLen:], want)
	}
	m := Msg{Sid: 1, Channel: "x", Seq: 70000, Time: -70000, Payload: []byte("p")}
	b, _ = AppendFrame(nil, &m)
	if want := enc(plainMsg(m)); !bytes.Equal(b[HeaderLen:], want) {
		t.Fatalf("MSG differs:\n% x\n% x", b[HeaderLen:], want)
	}
	m.Headers, m.Attempt = map[string]string{"k": "v"}, 70000
	b, _ = AppendFrame(nil, &m)
	if want := enc(plainMsg(m)); !bytes.Equal(b[HeaderLen:], want) {
		t.Fatalf("MSG with attempt differs:\n% x\n% x", b[HeaderLen:], want)
	}
	for _, c := range []Consume{
		{Sid: 1, Channel: "jobs", Consumer: "w"},
		{Sid: 300, Channel: "jobs", Consumer: "w", Mode: ModeShared, AckWait: 30000, MaxDeliver: 200, DeadLetter: "dead", MaxAckPending: 70000,
			Start: StartTime, Seq: 1 << 33, Time: -1 << 40, Window: 128, Direct: true},
	} {
		b, _ = AppendFrame(nil, &c)
		if want := enc(plainConsume(c)); !bytes.Equal(b[HeaderLen:], want) {
			t.Fatalf("CONSUME differs:\n% x\n% x", b[HeaderLen:], want)
		}
	}
	for _, a := range []Ack{{Sid: 1, Seq: 2}, {Req: 1 << 50, Sid: 200, Seq: 70000, Kind: AckNak, Delay: 1000}} {
		b, _ = AppendFrame(nil, &a)
		if want := enc(plainAck(a)); !bytes.Equal(b[HeaderLen:], want) {
			t.Fatalf("ACK differs:\n% x\n% x", b[HeaderLen:], want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	cases := map[string]struct {
		t    FrameType
		body []byte
	}{
		"empty body":           {TypePub, nil},
		"not a map":            {TypePub, []byte{0x91, 0x01}},
		"trailing bytes":       {TypePing, []byte{0x80, 0x80}},
		"str32 claims 4GB":     {TypePub, []byte{0x81, 0xa1, 'c', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}},
		"bin32 claims 4GB":     {TypePub, []byte{0x81, 0xa1, 'p', 0xc6, 0xff, 0xff, 0xff, 0xff}},
		"map32 claims 4G":      {TypePub, []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'r', 1}},
		"headers map32 huge":   {TypePub, []byte{0x81, 0xa1, 'h', 0xdf, 0xff, 0xff, 0xff, 0xff}},
		"unknown array32 huge": {TypePub, []byte{0x81, 0xa1, 'z', 0xdd, 0xff, 0xff, 0xff, 0xff}},
		"unknown ext32 huge":   {TypePub, []byte{0x81, 0xa1, 'z', 0xc9, 0xff, 0xff, 0xff, 0xff, 1}},
		"wrong type for r":     {TypePub, []byte{0x81, 0xa1, 'r', 0xa1, 'x'}},
		"negative uint":        {TypePub, []byte{0x81, 0xa1, 'r', 0xff}},
		"negative int8 uint":   {TypePubAck, []byte{0x81, 0xa1, 'r', 0xd0, 0x80}},
		"version over uint32":  {TypeConnect, []byte{0x81, 0xa1, 'v', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}},
		"start over uint8":     {TypeSub, []byte{0x81, 0xa5, 's', 't', 'a', 'r', 't', 0xcd, 1, 0}},
		"time over int64":      {TypeMsg, []byte{0x81, 0xa1, 't', 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0}},
		"bool wrong type":      {TypePubAck, []byte{0x81, 0xa3, 'd', 'u', 'p', 0x01}},
		"0xc1 never used":      {TypePub, []byte{0x81, 0xa1, 'z', 0xc1}},
		"truncated uint64":     {TypePub, []byte{0x81, 0xa1, 'r', 0xcf, 1, 2}},
		"truncated key":        {TypePub, []byte{0x81, 0xa5, 'r'}},
		"deep nesting":         {TypePub, append([]byte{0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 100000)...)},
		"header value not str": {TypeMsg, []byte{0x81, 0xa1, 'h', 0x81, 0xa1, 'k', 0x01}},
		"attempt over uint32":  {TypeMsg, []byte{0x81, 0xa1, 'a', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}},
		"attempt negative":     {TypeMsg, []byte{0x81, 0xa1, 'a', 0xff}},
		"consume not a map":    {TypeConsume, []byte{0x93, 0x01, 0x02, 0x03}},
		"consume sid str":      {TypeConsume, []byte{0x81, 0xa1, 's', 0xa1, 'x'}},
		"consume name int":     {TypeConsume, []byte{0x81, 0xa1, 'n', 0x07}},
		"consume start u16":    {TypeConsume, []byte{0x81, 0xa5, 's', 't', 'a', 'r', 't', 0xcd, 1, 0}},
		"consume truncated":    {TypeConsume, []byte{0x83, 0xa1, 's', 0x01, 0xa1, 'c'}},
		"ack kind over uint8":  {TypeAck, []byte{0x81, 0xa1, 'k', 0xcd, 1, 0}},
		"ack seq bool":         {TypeAck, []byte{0x81, 0xa3, 's', 'e', 'q', 0xc3}},
		"ack delay negative":   {TypeAck, []byte{0x81, 0xa1, 'd', 0xd0, 0x80}},
		"ack trailing":         {TypeAck, []byte{0x81, 0xa1, 's', 0x01, 0x80}},
		"acked empty":          {TypeAcked, nil},
		"acked req str32 huge": {TypeAcked, []byte{0x81, 0xa1, 'r', 0xdb, 0xff, 0xff, 0xff, 0xff}},
		"acked unknown huge":   {TypeAcked, []byte{0x81, 0xa1, 'z', 0xdd, 0xff, 0xff, 0xff, 0xff}},
	}
	for name, c := range cases {
		f, err := DecodeBody(c.t, c.body)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeMalformedFrame || pe.Fatal {
			t.Errorf("%s: got frame %v err %v, want non-fatal malformed_frame", name, f, err)
		}
	}
	if _, err := DecodeBody(99, []byte{0x80}); !errors.Is(err, &Error{Code: CodeUnknownFrame}) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b := mustAppend(&Pub{Req: 1, Channel: "c", Payload: []byte("abc"), Headers: map[string]string{"h": "v"}})
	f, err := DecodeBody(TypePub, b[HeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if p := f.(*Pub); string(p.Payload) != "abc" || p.Channel != "c" || p.Headers["h"] != "v" {
		t.Fatalf("decoded frame aliases input: %#v", p)
	}
}

func TestAppendFrameErrors(t *testing.T) {
	var nilPub *Pub
	dst := []byte("x")
	out, err := AppendFrame(dst, nilPub)
	if err == nil || string(out) != "x" {
		t.Fatalf("nil *Pub: %q %v", out, err)
	}
	if _, err := AppendFrame(nil, nil); err == nil {
		t.Fatal("nil Frame accepted")
	}
	if _, err := AppendFrame(nil, foreignFrame{}); err == nil {
		t.Fatal("foreign Frame accepted")
	}
	var w bytes.Buffer
	if err := WriteFrame(&w, nilPub); err == nil || w.Len() != 0 {
		t.Fatal("WriteFrame wrote a nil frame")
	}
}

type foreignFrame struct{}

func (foreignFrame) Type() FrameType { return TypePing }

func TestWriteFrameSingleWrite(t *testing.T) {
	var cw countingWriter
	for _, f := range sampleFrames() {
		cw.calls = 0
		if err := WriteFrame(&cw, f); err != nil {
			t.Fatal(err)
		}
		if cw.calls != 1 {
			t.Fatalf("%T: %d Write calls", f, cw.calls)
		}
		if !bytes.Equal(cw.last, mustAppend(f)) && !hasMapHeaders(f) {
			t.Fatalf("%T: WriteFrame bytes differ from AppendFrame", f)
		}
	}
}

type countingWriter struct {
	calls int
	last  []byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	c.last = append(c.last[:0], p...)
	return len(p), nil
}

func TestStrings(t *testing.T) {
	if TypePubAck.String() != "PUBACK" || FrameType(200).String() != "FrameType(200)" {
		t.Fatal(TypePubAck.String(), FrameType(200).String())
	}
	for c := CodeMalformedFrame; c <= CodeTooManyInflight; c++ {
		if strings.HasPrefix(c.String(), "code_") {
			t.Errorf("code %d has no name", c)
		}
	}
	if CodeMalformedFrame.String() != "malformed_frame" || ErrCode(999).String() != "code_999" {
		t.Fatal("code names")
	}
	e := NewError(CodeInvalidChannel, "bad %s", "x")
	if e.Error() != "sampan: invalid_channel: bad x" || e.Fatal {
		t.Fatal(e.Error())
	}
	if !NewError(CodeNotConnected, "").Fatal || NewError(CodeNotConnected, "").Error() != "sampan: not_connected" {
		t.Fatal("not_connected should default to fatal")
	}
	ef := e.Frame(3, 4)
	if ef.Req != 3 || ef.Sid != 4 || !reflect.DeepEqual(ef.AsError(), e) {
		t.Fatal("Error<->Err conversion")
	}
}

// The examples in PROTOCOL.md are pinned here: if the encoder changes,
// this test fails until the document is updated (and vice versa).
var docExamples = []struct {
	name string
	f    Frame
	dump string
}{
	{"CONNECT", &Connect{Version: 1, Name: "demo"}, "" +
		"0000  00 00 00 0f 01 82 a1 76 01 a4 6e 61 6d 65 a4 64\n" +
		"0010  65 6d 6f\n"},
	{"PUB", &Pub{Req: 1, Channel: "orders.eu", Payload: []byte("hello"), Headers: map[string]string{"ct": "text"}}, "" +
		"0000  00 00 00 25 03 84 a1 72 01 a1 63 a9 6f 72 64 65\n" +
		"0010  72 73 2e 65 75 a1 70 c4 05 68 65 6c 6c 6f a1 68\n" +
		"0020  81 a2 63 74 a4 74 65 78 74\n"},
	{"PUBACK", &PubAck{Req: 1, Seq: 42}, "" +
		"0000  00 00 00 0a 04 82 a1 72 01 a3 73 65 71 2a\n"},
	{"CONSUME", &Consume{Sid: 3, Channel: "jobs", Consumer: "workers", AckWait: 5000}, "" +
		"0000  00 00 00 22 0f 84 a1 73 03 a1 63 a4 6a 6f 62 73\n" +
		"0010  a1 6e a7 77 6f 72 6b 65 72 73 a8 61 63 6b 5f 77\n" +
		"0020  61 69 74 cd 13 88\n"},
	{"MSG", &Msg{Sid: 3, Channel: "jobs", Seq: 42, Time: 1700000000123456789, Payload: []byte("hi"), Attempt: 2}, "" +
		"0000  00 00 00 25 09 86 a1 73 03 a1 63 a4 6a 6f 62 73\n" +
		"0010  a3 73 65 71 2a a1 74 cf 17 97 9c fe 3d 85 cd 15\n" +
		"0020  a1 70 c4 02 68 69 a1 61 02\n"},
	{"ACK", &Ack{Req: 9, Sid: 3, Seq: 42}, "" +
		"0000  00 00 00 0d 10 83 a1 72 09 a1 73 03 a3 73 65 71\n" +
		"0010  2a\n"},
	{"ACKED", &Acked{Req: 9}, "" +
		"0000  00 00 00 05 11 81 a1 72 09\n"},
}

func TestDocHexDumps(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range docExamples {
		got := hexDump(mustAppend(ex.f))
		if got != ex.dump {
			t.Errorf("%s encodes as\n%s\nwant\n%s", ex.name, got, ex.dump)
		}
		if !bytes.Contains(doc, []byte(ex.dump)) {
			t.Errorf("PROTOCOL.md does not contain the %s dump:\n%s", ex.name, ex.dump)
		}
		// And the dump decodes back to the example frame.
		f, err := NewReader(bytes.NewReader(mustAppend(ex.f)), 0).Next()
		if err != nil || !reflect.DeepEqual(f, ex.f) {
			t.Errorf("%s: %v %#v", ex.name, err, f)
		}
	}
}
