package protocol

import (
	"fmt"
	"strings"
)

// sampleFrames returns one or more populated instances of every frame type.
// Byte slices and maps are non-empty (empty ones decode to nil by design).
func sampleFrames() []Frame {
	return []Frame{
		&Connect{Version: Version, Name: "demo-client"},
		&Connect{Version: 1},
		&Connect{Version: 1, Name: "router", Routes: true},
		&Connect{Version: 1, User: "alice", Password: "pässwörd\x00"},
		&Connect{Version: 1, Token: strings.Repeat("t", 500)},
		&Route{Channel: "orders.eu", Node: 2, Addr: "10.0.0.2:7420"},
		&ConnAck{Version: 1, ServerID: "srv-1", MaxFrame: DefaultMaxFrame, MaxPayload: DefaultMaxPayload, MaxInflight: 1024, MaxWindow: 4096},
		&ConnAck{Version: 1, ServerID: "srv-2", MaxFrame: DefaultMaxFrame, MaxPayload: 1, MaxInflight: 1, MaxWindow: 1, MaxHeaders: 65536},
		&Pub{Req: 1, Channel: "orders.eu", Payload: []byte("hello")},
		&Pub{Req: 1<<64 - 1, Channel: "a.b-c.d_e", Payload: make([]byte, 70000), Headers: map[string]string{"content-type": "json", "trace": strings.Repeat("x", 300)}, IdemKey: "idem-42"},
		&PubAck{Req: 7, Seq: 123456789},
		&PubAck{Req: 8, Seq: 1, Dup: true},
		&Sub{Sid: 1, Channel: "orders.*x", Start: StartNew},
		&Sub{Sid: 2, Channel: "c", Start: StartSeq, Seq: 1 << 40, Window: 256},
		&Sub{Sid: 3, Channel: "c", Start: StartTime, Time: -1234567890123},
		&Sub{Sid: 4, Channel: "c", Start: StartTime, Time: 1700000000000000000},
		&SubAck{Sid: 1, StartSeq: 10, LastSeq: 9, Window: 256},
		&Credit{Sid: 1, N: 64},
		&Unsub{Sid: 99},
		&UnsubAck{Sid: 99},
		&Msg{Sid: 5, Channel: "orders.eu", Seq: 42, Time: 1700000000123456789, Payload: []byte{0, 1, 2, 0xff}},
		&Msg{Sid: 5, Channel: "x", Seq: 1, Time: -5, Headers: map[string]string{"k": "v"}, Payload: []byte("p")},
		&Ping{},
		&Pong{},
		&Err{Code: CodeTimeout, Message: "publish outcome unknown", Req: 12},
		&Err{Code: CodeNotConnected, Message: "send CONNECT first", Fatal: true},
		&Err{Code: CodeUnknownSubscription, Message: "no such sid", Sid: 3},
		&Msg{Sid: 6, Channel: "jobs", Seq: 7, Time: 1700000000000000000, Payload: []byte("job"), Attempt: 1},
		&Msg{Sid: 6, Channel: "jobs", Seq: 1 << 40, Time: 1, Headers: map[string]string{"k": "v"}, Payload: []byte("job"), Attempt: 1<<32 - 1},
		&Consume{Sid: 6, Channel: "jobs", Consumer: "workers"},
		&Consume{Sid: 1<<64 - 1, Channel: "jobs.eu", Consumer: "billing-v2.eu_1", Mode: ModeExclusive, AckWait: 5000, MaxDeliver: 5,
			DeadLetter: "jobs.dead", MaxAckPending: 1<<32 - 1, Start: StartSeq, Seq: 1 << 40, Window: 64},
		&Consume{Sid: 7, Channel: "jobs", Consumer: "w", Mode: ModeShared, Start: StartTime, Time: -1234567890123},
		&Ack{Sid: 6, Seq: 7},
		&Ack{Req: 1<<64 - 1, Sid: 6, Seq: 8, Kind: AckNak, Delay: 1<<32 - 1},
		&Ack{Req: 2, Sid: 6, Seq: 9, Kind: AckInProgress},
		&Ack{Req: 3, Sid: 6, Seq: 10, Kind: AckTerm},
		&Acked{Req: 2},
	}
}

// hexDump formats b as lines of 16 space-separated hex bytes prefixed by a
// 4-digit hex offset, the format used in PROTOCOL.md.
func hexDump(b []byte) string {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		end := min(off+16, len(b))
		fmt.Fprintf(&sb, "%04x ", off)
		for i := off; i < end; i++ {
			fmt.Fprintf(&sb, " %02x", b[i])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func mustAppend(f Frame) []byte {
	b, err := AppendFrame(nil, f)
	if err != nil {
		panic(err)
	}
	return b
}
