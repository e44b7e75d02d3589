package store

import (
	"reflect"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	cmds := []*Command{
		{Op: OpPublish, Time: -5, Msgs: []PublishItem{
			{IdemKey: "k1", Headers: map[string]string{"a": "1", "bb": ""}, Payload: []byte("hello")},
			{Payload: []byte{}},
		}},
		{Op: OpConfigure, Time: 1 << 62, Config: &ChannelConfig{MaxMsgs: 1, MaxBytes: 1 << 40, MaxAge: -1, DedupeWindow: 7}},
		{Op: OpTick, Time: 42},
	}
	for _, c := range cmds {
		b := EncodeCommand([]byte("prefix"), c)
		got, err := DecodeCommand(b[len("prefix"):])
		if err != nil {
			t.Fatal(err)
		}
		if c.Op == OpPublish {
			// Empty payloads decode as empty, non-nil; nil headers stay nil.
			if !reflect.DeepEqual(got.Msgs[0], c.Msgs[0]) || len(got.Msgs[1].Payload) != 0 || got.Msgs[1].Headers != nil {
				t.Fatalf("got %+v", got.Msgs)
			}
			continue
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("got %+v want %+v", got, c)
		}
	}
	// Configure with nil Config encodes the zero config.
	got, err := DecodeCommand(EncodeCommand(nil, &Command{Op: OpConfigure}))
	if err != nil || *got.Config != (ChannelConfig{}) {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestDecodeCommandRejectsGarbage(t *testing.T) {
	good := EncodeCommand(nil, &Command{Op: OpPublish, Time: 1, Msgs: []PublishItem{{IdemKey: "k", Headers: map[string]string{"h": "v"}, Payload: []byte("p")}}})
	for i := 0; i < len(good); i++ {
		if _, err := DecodeCommand(good[:i]); err == nil {
			t.Fatalf("truncation at %d accepted", i)
		}
	}
	if _, err := DecodeCommand(append(append([]byte{}, good...), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	// Huge counts must not allocate or panic.
	huge := []byte{cmdFormat, byte(OpPublish), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	if _, err := DecodeCommand(huge); err == nil {
		t.Fatal("huge count accepted")
	}
}

func TestPublishResultRoundTrip(t *testing.T) {
	in := PublishResult{Seqs: []uint64{1, 1 << 60, 3}, Dup: []bool{false, true, false}}
	out, err := DecodePublishResult(EncodePublishResult(nil, in))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestMsgSizeMatchesStoredValue(t *testing.T) {
	h := map[string]string{"key": "value", "k2": string(make([]byte, 200))}
	p := make([]byte, 300)
	raw := appendHeaders(nil, h)
	if got := uint64(len(appendMsgValue(nil, 1, raw, p))); got != MsgSize(h, p) {
		t.Fatalf("stored %d, MsgSize %d", got, MsgSize(h, p))
	}
}
