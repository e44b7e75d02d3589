package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// MSG of a plain subscription (Attempt 0) keeps the bytes it had before consumers existed.
func TestMsgWithoutAttemptUnchanged(t *testing.T) {
	cases := []struct {
		m    *Msg
		dump string
	}{
		{&Msg{Sid: 5, Channel: "orders.eu", Seq: 42, Time: 1700000000123456789, Payload: []byte("hello")}, "" +
			"0000  00 00 00 2a 09 85 a1 73 05 a1 63 a9 6f 72 64 65\n" +
			"0010  72 73 2e 65 75 a3 73 65 71 2a a1 74 cf 17 97 9c\n" +
			"0020  fe 3d 85 cd 15 a1 70 c4 05 68 65 6c 6c 6f\n"},
		{&Msg{Sid: 5, Channel: "x", Seq: 1, Time: -5, Headers: map[string]string{"k": "v"}, Payload: []byte("p")}, "" +
			"0000  00 00 00 1d 09 86 a1 73 05 a1 63 a1 78 a3 73 65\n" +
			"0010  71 01 a1 74 fb a1 68 81 a1 6b a1 76 a1 70 c4 01\n" +
			"0020  70\n"},
	}
	for _, c := range cases {
		if got := hexDump(mustAppend(c.m)); got != c.dump {
			t.Errorf("%#v encodes as\n%s\nwant\n%s", c.m, got, c.dump)
		}
	}
}

// A malformed ACK names its request id when it can still be read, like a PUB, so that the ERR
// answers that request.
func TestAckMalformedSalvagesReq(t *testing.T) {
	cases := map[string]struct {
		body []byte
		req  uint64
	}{
		"bad kind after r":   {[]byte{0x82, 0xa1, 'r', 0x07, 0xa1, 'k', 0xa1, 'x'}, 7},
		"bad kind before r":  {[]byte{0x82, 0xa1, 'k', 0xcd, 1, 0, 0xa1, 'r', 0xcc, 200}, 200},
		"trailing bytes":     {[]byte{0x83, 0xa1, 'r', 0x09, 0xa1, 's', 0x01, 0xa3, 's', 'e', 'q', 0x02, 0xc0}, 9},
		"r unreadable":       {[]byte{0x82, 0xa1, 'r', 0xa1, 'x', 0xa1, 's', 0x01}, 0},
		"truncated before r": {[]byte{0x82, 0xa1, 's', 0xcf, 1}, 0},
		"no r":               {[]byte{0x81, 0xa1, 's', 0xa1, 'x'}, 0},
	}
	for name, c := range cases {
		_, err := DecodeBody(TypeAck, c.body)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeMalformedFrame || pe.Fatal || pe.Req != c.req {
			t.Errorf("%s: %#v, want non-fatal malformed_frame with req %d", name, err, c.req)
		}
	}
	// Through a Reader too (the path a server takes).
	var b []byte
	b = appendRaw(b, TypeAck, []byte{0x82, 0xa1, 'r', 0x05, 0xa3, 's', 'e', 'q', 0xc3})
	b = append(b, mustAppend(&Ack{Req: 6, Sid: 1, Seq: 2})...)
	r := NewReader(bytes.NewReader(b), 0)
	if _, err := r.Next(); !errors.Is(err, &Error{Code: CodeMalformedFrame}) || err.(*Error).Req != 5 {
		t.Fatalf("bad ACK: %#v", err)
	}
	expectFrame(t, r, &Ack{Req: 6, Sid: 1, Seq: 2})
}

// MSG stays on the fast path with an attempt, and ACK is decoded without the decoder escaping.
func TestConsumerFrameAllocs(t *testing.T) {
	plain := mustAppend(&Msg{Sid: 5, Channel: "orders.eu", Seq: 42, Time: 1, Payload: []byte("hello")})
	attempt := mustAppend(&Msg{Sid: 5, Channel: "orders.eu", Seq: 42, Time: 1, Payload: []byte("hello"), Attempt: 3})
	ack := mustAppend(&Ack{Req: 9, Sid: 3, Seq: 42, Kind: AckNak, Delay: 100})
	for _, c := range []struct {
		name  string
		t     FrameType
		body  []byte
		alias bool
		want  float64
	}{
		{"MSG copied", TypeMsg, plain[HeaderLen:], false, 3}, // Msg, channel, payload
		{"MSG with attempt copied", TypeMsg, attempt[HeaderLen:], false, 3},
		{"MSG aliased", TypeMsg, plain[HeaderLen:], true, 2}, // Msg, channel
		{"MSG with attempt aliased", TypeMsg, attempt[HeaderLen:], true, 2},
		{"ACK", TypeAck, ack[HeaderLen:], false, 1}, // Ack
	} {
		if got := testing.AllocsPerRun(200, func() { _, _ = decodeBody(c.t, c.body, c.alias) }); got != c.want {
			t.Errorf("decode %s: %v allocations, want %v", c.name, got, c.want)
		}
	}
	buf := make([]byte, 0, 256)
	for _, f := range []Frame{
		&Msg{Sid: 5, Channel: "orders.eu", Seq: 42, Time: 1, Payload: []byte("hello"), Attempt: 3},
		&Ack{Req: 9, Sid: 3, Seq: 42},
		&Acked{Req: 9},
	} {
		if got := testing.AllocsPerRun(200, func() { _, _ = AppendFrame(buf[:0], f) }); got != 0 {
			t.Errorf("encode %T: %v allocations", f, got)
		}
	}
}

func TestValidateConsumer(t *testing.T) {
	for _, ok := range []string{"a", "workers", "billing-v2.eu_1", "A.B.C", ".", "..", "-", strings.Repeat("x", MaxConsumerLen)} {
		if err := ValidateConsumer(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a*", "a/b", "é", "a\x00", strings.Repeat("x", MaxConsumerLen+1)} {
		err := ValidateConsumer(bad)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeInvalidArgument || pe.Fatal {
			t.Errorf("%q: %v, want invalid_argument", bad, err)
		}
		if bad != "" && strings.Contains(pe.Error(), bad) {
			t.Errorf("%q: the message echoes the name: %v", bad, err)
		}
	}
}

func TestConsumeValidate(t *testing.T) {
	good := Consume{Sid: 1, Channel: "jobs", Consumer: "workers"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []Consume{
		{Sid: 1, Channel: "jobs", Consumer: "w", Mode: ModeShared, DeadLetter: "jobs.dead", Start: StartTime},
		{Sid: 1, Channel: "jobs", Consumer: "w", Mode: ModeExclusive, Start: StartSeq, Seq: 5},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	cases := map[string]struct {
		edit func(*Consume)
		code ErrCode
	}{
		"zero sid":           {func(f *Consume) { f.Sid = 0 }, CodeInvalidArgument},
		"bad channel":        {func(f *Consume) { f.Channel = "a..b" }, CodeInvalidChannel},
		"no channel":         {func(f *Consume) { f.Channel = "" }, CodeInvalidChannel},
		"no consumer":        {func(f *Consume) { f.Consumer = "" }, CodeInvalidArgument},
		"bad consumer":       {func(f *Consume) { f.Consumer = "a b" }, CodeInvalidArgument},
		"bad mode":           {func(f *Consume) { f.Mode = "Shared" }, CodeInvalidArgument},
		"bad start":          {func(f *Consume) { f.Start = 4 }, CodeInvalidArgument},
		"bad dead letter":    {func(f *Consume) { f.DeadLetter = "dead*" }, CodeInvalidChannel},
		"dead letter itself": {func(f *Consume) { f.DeadLetter = f.Channel }, CodeInvalidArgument},
	}
	for name, c := range cases {
		f := good
		c.edit(&f)
		err := f.Validate()
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != c.code || pe.Fatal {
			t.Errorf("%s: %v, want %v", name, err, c.code)
		}
	}
	// The dead-letter error says which channel is wrong.
	f := good
	f.DeadLetter = "a."
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "dead-letter") {
		t.Errorf("dead letter: %v", err)
	}
}

func TestAckValidate(t *testing.T) {
	for k := AckDone; k <= AckTerm; k++ {
		if err := (&Ack{Sid: 1, Seq: 1, Kind: k}).Validate(); err != nil {
			t.Errorf("%v: %v", k, err)
		}
	}
	for _, bad := range []Ack{{Seq: 1}, {Sid: 1}, {Sid: 1, Seq: 1, Kind: AckTerm + 1}} {
		err := bad.Validate()
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeInvalidArgument || pe.Fatal {
			t.Errorf("%+v: %v, want invalid_argument", bad, err)
		}
	}
}

func TestConsumerStrings(t *testing.T) {
	for k, want := range map[AckKind]string{AckDone: "done", AckNak: "nak", AckInProgress: "in_progress", AckTerm: "term", 9: "AckKind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
	for ft, want := range map[FrameType]string{TypeConsume: "CONSUME", TypeAck: "ACK", TypeAcked: "ACKED", 18: "FrameType(18)"} {
		if ft.String() != want || ft.Known() != (ft != 18) {
			t.Errorf("%d: %q", ft, ft.String())
		}
	}
	if TypeConsume != 15 || TypeAck != 16 || TypeAcked != 17 {
		t.Fatal("consumer frame types moved")
	}
}

// Decoding a CONSUME copies its strings: it never aliases the body.
func TestConsumeDecodeDoesNotAlias(t *testing.T) {
	want := &Consume{Sid: 1, Channel: "jobs", Consumer: "workers", Mode: ModeExclusive, DeadLetter: "dead"}
	b := mustAppend(want)
	f, err := NewReader(bytes.NewReader(b), 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("%#v", f)
	}
}
