package protocol

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestReaderStream(t *testing.T) {
	var stream []byte
	frames := sampleFrames()
	for _, f := range frames {
		stream = mustAppend2(t, stream, f)
	}
	// OneByteReader exercises every partial-read path of the bufio layer.
	for name, src := range map[string]io.Reader{
		"whole":   bytes.NewReader(stream),
		"onebyte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		r := NewReader(src, 0)
		for i, want := range frames {
			got, err := r.Next()
			if err != nil {
				t.Fatalf("%s: frame %d: %v", name, i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: frame %d mismatch", name, i)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("%s: at end got %v, want io.EOF", name, err)
		}
	}
}

func mustAppend2(t *testing.T, dst []byte, f Frame) []byte {
	t.Helper()
	b, err := AppendFrame(dst, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReaderEOF(t *testing.T) {
	full := mustAppend(&Pub{Req: 1, Channel: "c", Payload: []byte("hello")})
	if _, err := NewReader(bytes.NewReader(nil), 0).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	// Every strict prefix of a frame is an unexpected EOF.
	for i := 1; i < len(full); i++ {
		if _, err := NewReader(bytes.NewReader(full[:i]), 0).Next(); err != io.ErrUnexpectedEOF {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	// Large-body path (> bufio size) truncated.
	big := mustAppend(&Pub{Req: 1, Channel: "c", Payload: make([]byte, 100000)})
	if _, err := NewReader(bytes.NewReader(big[:len(big)-1]), 0).Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("big truncated: %v", err)
	}
	// Unknown type truncated.
	if _, err := NewReader(bytes.NewReader([]byte{0, 0, 0, 10, 200, 1}), 0).Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("unknown truncated: %v", err)
	}
	// Underlying errors pass through unchanged.
	boom := errors.New("boom")
	if _, err := NewReader(iotest.ErrReader(boom), 0).Next(); err != boom {
		t.Fatalf("read error: %v", err)
	}
}

func TestReaderFrameTooLarge(t *testing.T) {
	// A length of 0xFFFFFFFF with nothing after it: the limit must be
	// enforced from the header alone, not after trying to read the body.
	r := NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), 0)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	_, err := r.Next()
	runtime.ReadMemStats(&ms1)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeFrameTooLarge || !pe.Fatal {
		t.Fatalf("got %v, want fatal frame_too_large", err)
	}
	if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 16<<10 {
		t.Fatalf("rejecting an oversized frame allocated %d bytes", d)
	}

	// Exactly at the limit is fine; one over is not.
	f := &Pub{Req: 1, Channel: "c", Payload: make([]byte, 100)}
	b := mustAppend(f)
	n := uint32(len(b) - 4)
	if _, err := NewReader(bytes.NewReader(b), n).Next(); err != nil {
		t.Fatalf("at limit: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(b), n-1).Next(); !errors.Is(err, &Error{Code: CodeFrameTooLarge}) {
		t.Fatalf("over limit: %v", err)
	}
	// SetMaxFrame applies to following frames.
	r = NewReader(bytes.NewReader(append(append([]byte{}, b...), b...)), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	r.SetMaxFrame(n - 1)
	if _, err := r.Next(); !errors.Is(err, &Error{Code: CodeFrameTooLarge}) {
		t.Fatalf("after SetMaxFrame: %v", err)
	}
}

func TestReaderOversizedAllocs(t *testing.T) {
	hdr := []byte{0x7f, 0xff, 0xff, 0xff}
	src := bytes.NewReader(hdr)
	r := NewReader(src, 0)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(hdr)
		r.br.Reset(src)
		if _, err := r.Next(); !errors.Is(err, &Error{Code: CodeFrameTooLarge}) {
			t.Fatal(err)
		}
	})
	// Only the *Error and its message; nothing proportional to the length.
	if allocs > 4 {
		t.Fatalf("%v allocs per rejected frame", allocs)
	}
}

func TestReaderZeroLength(t *testing.T) {
	_, err := NewReader(bytes.NewReader([]byte{0, 0, 0, 0}), 0).Next()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeMalformedFrame || !pe.Fatal {
		t.Fatalf("got %v, want fatal malformed_frame", err)
	}
}

func TestReaderRecoversAfterNonFatal(t *testing.T) {
	var s []byte
	// 1. malformed PUB body (string where uint expected)
	s = append(s, 0, 0, 0, 6, byte(TypePub), 0x81, 0xa1, 'r', 0xa1, 'x')
	// 2. a valid frame
	s = mustAppend2(t, s, &PubAck{Req: 1, Seq: 2})
	// 3. unknown frame type with a 100 KiB body (skipped without buffering)
	unk := make([]byte, 5+100<<10)
	unk[0], unk[1], unk[2], unk[3], unk[4] = 0, 0x01, 0x90, 0x01, 0xee
	s = append(s, unk...)
	// 4. a type-only frame (N=1): empty body is malformed, non-fatal
	s = append(s, 0, 0, 0, 1, byte(TypePing))
	// 5. a valid deeply nested unknown field
	body := append([]byte{0x82, 0xa1, 's', 0x05, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 50000)...)
	body = append(body, 0xc0)
	s = appendRaw(s, TypeUnsub, body)
	// 6. a big valid frame (large-body path)
	bigPub := &Pub{Req: 9, Channel: "big", Payload: bytes.Repeat([]byte{7}, 200000)}
	s = mustAppend2(t, s, bigPub)
	s = mustAppend2(t, s, &Pong{})

	r := NewReader(bytes.NewReader(s), 0)
	expectCode(t, r, CodeMalformedFrame)
	expectFrame(t, r, &PubAck{Req: 1, Seq: 2})
	expectCode(t, r, CodeUnknownFrame)
	expectCode(t, r, CodeMalformedFrame)
	expectFrame(t, r, &Unsub{Sid: 5})
	expectFrame(t, r, bigPub)
	expectFrame(t, r, &Pong{})
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func appendRaw(dst []byte, t FrameType, body []byte) []byte {
	n := len(body) + 1
	dst = append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), byte(t))
	return append(dst, body...)
}

func expectCode(t *testing.T, r *Reader, code ErrCode) {
	t.Helper()
	f, err := r.Next()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != code || pe.Fatal {
		t.Fatalf("got %v / %v, want non-fatal %v", f, err, code)
	}
}

func expectFrame(t *testing.T, r *Reader, want Frame) {
	t.Helper()
	got, err := r.Next()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v / %v, want %T", got, err, want)
	}
}

func TestReaderOwnership(t *testing.T) {
	// Two frames that share one bufio fill: the first frame's payload must
	// not change when the second is read (i.e. nothing aliases the buffer).
	s := mustAppend(&Msg{Sid: 1, Channel: "c", Payload: []byte("first")})
	s = mustAppend2(t, s, &Msg{Sid: 1, Channel: "c", Payload: []byte("XXXXX")})
	r := NewReader(bytes.NewReader(s), 0)
	f1, _ := r.Next()
	if r.Buffered() == 0 {
		t.Fatal("Buffered should report the second frame")
	}
	_, _ = r.Next()
	if string(f1.(*Msg).Payload) != "first" {
		t.Fatal("payload aliases the reader buffer")
	}
}
