package protocol

import (
	"bytes"
	"testing"
)

var benchPayload = bytes.Repeat([]byte{0xab}, 128)

func benchPub() *Pub {
	return &Pub{Req: 123456, Channel: "orders.eu.west", Payload: benchPayload}
}

func benchMsg() *Msg {
	return &Msg{Sid: 3, Channel: "orders.eu.west", Seq: 987654321, Time: 1700000000123456789, Payload: benchPayload}
}

func benchEncode(b *testing.B, f Frame) {
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(mustAppend(f))))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendFrame(buf[:0], f)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, f Frame) {
	frame := mustAppend(f)
	body := frame[HeaderLen:]
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBody(f.Type(), body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePub(b *testing.B) { benchEncode(b, benchPub()) }
func BenchmarkDecodePub(b *testing.B) { benchDecode(b, benchPub()) }
func BenchmarkEncodeMsg(b *testing.B) { benchEncode(b, benchMsg()) }
func BenchmarkDecodeMsg(b *testing.B) { benchDecode(b, benchMsg()) }

// BenchmarkReaderNextPub measures the full read path (framing + decode)
// over a stream of back-to-back PUB frames.
func BenchmarkReaderNextPub(b *testing.B) {
	one := mustAppend(benchPub())
	stream := bytes.Repeat(one, 1024)
	src := bytes.NewReader(stream)
	r := NewReader(src, 0)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == 1024 {
			src.Reset(stream)
			i = 0
		}
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteFramePub measures WriteFrame (pooled buffer, one Write).
func BenchmarkWriteFramePub(b *testing.B) {
	f := benchPub()
	var w discard
	b.SetBytes(int64(len(mustAppend(f))))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(w, f); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
