package protocol

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func FuzzReader(f *testing.F) {
	// Valid frames of every type, alone and concatenated.
	var all []byte
	for _, fr := range sampleFrames() {
		b := mustAppend(fr)
		if len(b) < 4096 {
			f.Add(b)
		}
		all = append(all, b...)
	}
	f.Add(all[:4096])
	// Broken ones.
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, byte(TypePing)})
	f.Add([]byte{0, 0, 0, 3, 99, 0x80, 0x80})
	f.Add([]byte{0, 0, 0, 9, byte(TypePub), 0x81, 0xa1, 'c', 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 7, byte(TypePub), 0xdf, 0xff, 0xff, 0xff, 0xff, 0x80})
	f.Add([]byte{0, 0, 0, 10, byte(TypeMsg), 0x81, 0xa1, 'z', 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0})
	f.Add(append(mustAppend(&PubAck{Req: 1}), 0, 0, 0, 2, byte(TypePong), 0xc1))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 1<<16)
		for i := 0; i < 1000; i++ {
			fr, err := r.Next()
			if err != nil {
				var pe *Error
				if errors.As(err, &pe) {
					if pe.Fatal {
						return
					}
					if pe.Code != CodeMalformedFrame && pe.Code != CodeUnknownFrame {
						t.Fatalf("unexpected code %v", pe.Code)
					}
					continue
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			b, err := AppendFrame(nil, fr)
			if err != nil {
				t.Fatalf("re-encode %T: %v", fr, err)
			}
			fr2, err := DecodeBody(FrameType(b[4]), b[HeaderLen:])
			if err != nil {
				t.Fatalf("decode re-encoded %T: %v", fr, err)
			}
			if !reflect.DeepEqual(fr, fr2) {
				t.Fatalf("re-encode mismatch:\n%#v\n%#v", fr, fr2)
			}
		}
	})
}

func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{"", "a", "a.b", ".", "a..b", "a.", ".a", "a b", "é", strings.Repeat("x", 256), "orders.eu-1_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateChannel(s)
		// Reference implementation via strings.Split.
		want := len(s) > 0 && len(s) <= MaxChannelLen
		if want {
			for _, tok := range strings.Split(s, ".") {
				if tok == "" || strings.IndexFunc(tok, func(r rune) bool {
					return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
				}) >= 0 {
					want = false
					break
				}
			}
		}
		if want != (err == nil) {
			t.Fatalf("ValidateChannel(%q) = %v, reference says valid=%v", s, err, want)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeInvalidChannel || len(pe.Message) > 200 {
				t.Fatalf("bad error %v", err)
			}
		}
	})
}

// A CONNECT's String never shows its password or token.
func TestConnectStringRedacts(t *testing.T) {
	c := &Connect{Version: 1, User: "alice", Password: "hunter2", Token: "tok-secret"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-secret") || !strings.Contains(s, "alice") {
			t.Fatalf("String: %s", s)
		}
	}
}
