package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

func consCmd(t int64, c ConsumerCommand) *Command {
	return &Command{Op: OpConsumer, Time: t, Consumer: &c}
}

var workCfg = ConsumerConfig{Mode: 1, AckWait: 30e9, MaxDeliver: 3, MaxAckPending: 100, DeadLetter: "work.dlq"}

func (h *harness) consumer(name string) *ConsumerInfo {
	h.t.Helper()
	v, err := h.sm.Lookup(ConsumerQuery{Name: name})
	if err != nil {
		h.t.Fatal(err)
	}
	return v.(*ConsumerInfo)
}

func consResult(t *testing.T, r sm.Result) *ConsumerInfo {
	t.Helper()
	info, err := DecodeConsumerResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestConsumerCommandRoundTrip(t *testing.T) {
	c := consCmd(7, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{3, 1}, DeadLettered: []uint64{3},
		Deliveries: SeqCounts{4: 2, 9: 1, 5: 3}})
	b := EncodeCommand(nil, c)
	for i := 0; i < 5; i++ { // map keys are sorted: equal commands encode equally
		if again := EncodeCommand(nil, c); !bytes.Equal(b, again) {
			t.Fatal("consumer command encoding is not deterministic")
		}
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: got %+v want %+v", got.Consumer, c.Consumer)
	}
}

func TestConsumerLifecycle(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 9)
	if h.consumer("w") != nil {
		t.Fatal("consumer before it was created")
	}
	r := h.apply(consCmd(100, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg, Floor: 4}))
	info := consResult(t, r[0])
	if r[0].Value != 1 || info.Floor != 4 || info.Config != workCfg || info.Created != 100 {
		t.Fatalf("create answered %d %+v", r[0].Value, info)
	}
	// A second create answers the existing consumer unchanged, whatever it asks for.
	other := workCfg
	other.Mode = 2
	r = h.apply(consCmd(200, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: other, Floor: 0}))
	if info := consResult(t, r[0]); r[0].Value != 0 || info.Floor != 4 || info.Config.Mode != 1 || info.Created != 100 {
		t.Fatalf("second create answered %d %+v", r[0].Value, info)
	}

	// Out-of-order acks: 6 and 8 are done above the floor; 5 then moves the floor over 6.
	h.apply(consCmd(201, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{6, 8},
		Deliveries: SeqCounts{5: 1, 6: 1, 7: 2, 8: 1}}))
	info = h.consumer("w")
	if info.Floor != 4 || !reflect.DeepEqual(info.Done, []uint64{6, 8}) || info.Delivered != 8 || !reflect.DeepEqual(info.Deliveries, SeqCounts{7: 2}) || info.Acked != 2 {
		t.Fatalf("after acking 6 and 8: %+v", info)
	}
	if got := info.DeliveryCounts(); !reflect.DeepEqual(got, map[uint64]int{5: 1, 7: 2}) {
		t.Fatalf("delivery counts after acking 6 and 8: %v", got)
	}
	// 5 acked, 7 dead-lettered: the floor reaches 8. Lower delivery counts never lower a count.
	r = h.apply(consCmd(202, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{5, 7}, DeadLettered: []uint64{7},
		Deliveries: SeqCounts{9: 1}}))
	info = consResult(t, r[0])
	want := &ConsumerInfo{Name: "w", Config: workCfg, Created: 100, Floor: 8, Delivered: 9, Acked: 3, DeadLettered: 1}
	if !reflect.DeepEqual(info, want) || !reflect.DeepEqual(h.consumer("w"), want) {
		t.Fatalf("after 5 and 7:\n got %+v\nwant %+v", info, want)
	}
	// The same progress again (a retried proposal) changes nothing.
	h.apply(consCmd(203, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{5, 7}, DeadLettered: []uint64{7},
		Deliveries: SeqCounts{9: 1}}))
	if got := h.consumer("w"); !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed progress changed the consumer: %+v", got)
	}
	h.apply(consCmd(204, ConsumerCommand{Kind: ConsumerCreate, Name: "a", Config: workCfg}))
	v, err := h.sm.Lookup(ConsumersQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if all := v.([]ConsumerInfo); len(all) != 2 || all[0].Name != "a" || all[1].Name != "w" {
		t.Fatalf("consumers: %+v", all)
	}
	r = h.apply(consCmd(205, ConsumerCommand{Kind: ConsumerDelete, Name: "w"}))
	if info := consResult(t, r[0]); r[0].Value != 1 || info.Floor != 8 {
		t.Fatalf("delete answered %d %+v", r[0].Value, info)
	}
	if h.consumer("w") != nil {
		t.Fatal("consumer still there after delete")
	}
	if r = h.apply(consCmd(206, ConsumerCommand{Kind: ConsumerDelete, Name: "w"})); r[0].Value != 0 {
		t.Fatalf("deleting an absent consumer answered %d", r[0].Value)
	}

	// The state survives a reopen.
	h2 := newHarness(t, h.db, 9)
	if got := h2.consumer("a"); got == nil || got.Created != 204 {
		t.Fatalf("after reopen: %+v", got)
	}
}

func TestConsumerRejects(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 3)
	h.apply(consCmd(1, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg}))
	before := h.consumer("w")
	for _, tc := range []struct {
		name string
		cmd  ConsumerCommand
		want string
	}{
		{"empty name", ConsumerCommand{Kind: ConsumerCreate, Config: workCfg}, "invalid consumer name"},
		{"bad name", ConsumerCommand{Kind: ConsumerCreate, Name: "a b", Config: workCfg}, "invalid consumer name"},
		{"long name", ConsumerCommand{Kind: ConsumerCreate, Name: strings.Repeat("x", 65), Config: workCfg}, "invalid consumer name"},
		{"mode", ConsumerCommand{Kind: ConsumerCreate, Name: "m", Config: ConsumerConfig{Mode: 9, AckWait: 1}}, "mode"},
		{"ack wait", ConsumerCommand{Kind: ConsumerCreate, Name: "m", Config: ConsumerConfig{Mode: 1}}, "limits"},
		{"kind", ConsumerCommand{Kind: 77, Name: "w"}, "unknown consumer command"},
		{"absent", ConsumerCommand{Kind: ConsumerProgress, Name: "nope", Done: []uint64{1}}, "does not exist"},
		{"far ack", ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{1, MaxConsumerWindow + 1}}, "past the ack floor"},
		{"far delivery", ConsumerCommand{Kind: ConsumerProgress, Name: "w", Deliveries: SeqCounts{1 << 40: 1}}, "past the ack floor"},
	} {
		r := h.apply(consCmd(2, tc.cmd))
		if r[0].Value != ResultRejected || !strings.Contains(string(r[0].Data), tc.want) {
			t.Errorf("%s: answered %d %q, want a rejection with %q", tc.name, r[0].Value, r[0].Data, tc.want)
		}
		if _, err := DecodeConsumerResult(r[0]); err == nil {
			t.Errorf("%s: DecodeConsumerResult accepted a rejection", tc.name)
		}
	}
	// Garbage after a valid header is rejected too, and nothing changed.
	garbage := append(EncodeCommand(nil, &Command{Op: OpTick, Time: 3}), 0xde, 0xad)
	garbage[1] = byte(OpConsumer)
	if out, err := h.sm.Update([]sm.Entry{{Index: h.index + 1, Cmd: garbage}}); err != nil || out[0].Result.Value != ResultRejected {
		t.Fatalf("garbage consumer command: %v %+v", err, out)
	}
	h.index++
	if got := h.consumer("w"); !reflect.DeepEqual(got, before) {
		t.Fatalf("rejected commands changed the consumer: %+v", got)
	}
	if h.state().Applied != h.index {
		t.Fatal("rejected commands did not advance the applied index")
	}
}

func TestConsumerLimitPerChannel(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 3)
	cmds := make([]*Command, 0, MaxConsumers)
	for i := 0; i < MaxConsumers; i++ {
		cmds = append(cmds, consCmd(1, ConsumerCommand{Kind: ConsumerCreate, Name: fmt.Sprintf("c%04d", i), Config: workCfg}))
	}
	for _, r := range h.apply(cmds...) { // one Update: the count sees the batch's own writes
		if r.Value != 1 {
			t.Fatalf("create answered %d %s", r.Value, r.Data)
		}
	}
	r := h.apply(consCmd(2, ConsumerCommand{Kind: ConsumerCreate, Name: "one-more", Config: workCfg}))
	if r[0].Value != ResultRejected {
		t.Fatalf("consumer %d was created: %d", MaxConsumers+1, r[0].Value)
	}
}

// TestConsumerSnapshot: a replica restored from a snapshot holds the same consumers.
func TestConsumerSnapshot(t *testing.T) {
	src := newHarness(t, newMemDB(t, nil), 11)
	src.apply(pub(1, "a", "b", "c"),
		consCmd(2, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg}),
		consCmd(3, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{1, 3}, Deliveries: SeqCounts{2: 2}}))
	snap := saveSnapshot(t, src)
	dst := newHarness(t, newMemDB(t, nil), 12)
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(snap), nil); err != nil {
		t.Fatal(err)
	}
	want := src.consumer("w")
	if got := dst.consumer("w"); !reflect.DeepEqual(got, want) || got.Floor != 1 || !reflect.DeepEqual(got.Done, []uint64{3}) {
		t.Fatalf("restored consumer %+v, want %+v", got, want)
	}
}

// A consumer behind what retention removed skips to the first stored message in one command; it may
// not skip over stored messages.
func TestConsumerSkip(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 5)
	h.apply(configure(0, ChannelConfig{MaxMsgs: 2}), consCmd(1, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg}))
	h.apply(pub(2, "a", "b", "c", "d", "e")) // 4 and 5 stored
	h.apply(consCmd(3, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{2}, Deliveries: SeqCounts{1: 1, 4: 1}}))
	r := h.apply(consCmd(4, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Skip: 4}))
	if r[0].Value != ResultRejected || !strings.Contains(string(r[0].Data), "are stored") {
		t.Fatalf("skipping over stored seq 4 answered %d %q", r[0].Value, r[0].Data)
	}
	r = h.apply(consCmd(5, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Skip: 3, Done: []uint64{5}}))
	want := &ConsumerInfo{Name: "w", Config: workCfg, Created: 1, Floor: 3, Done: []uint64{5}, Delivered: 4, Acked: 2}
	if info := h.consumer("w"); r[0].Value != 1 || !reflect.DeepEqual(info, want) {
		t.Fatalf("after the skip:\n got %+v\nwant %+v", info, want)
	}
}

// Interest retention deletes what every consumer has behind its ack floor, and nothing while the
// channel has no consumer; the slowest consumer holds messages back until it acks or is deleted.
// Reopened and restored from a snapshot, a replica keeps cutting at the same floor.
func TestInterestRetention(t *testing.T) {
	fs := vfs.NewMem()
	db := newMemDB(t, fs)
	h := newHarness(t, db, 21)
	interest := ChannelConfig{Interest: true, DedupeWindow: 1000}
	h.apply(configure(0, interest), pub(1, "1", "2", "3", "4", "5"))
	if st := h.state(); st.Msgs != 5 || !st.Config.Interest {
		t.Fatalf("without consumers the messages stay: %+v", st)
	}
	h.apply(consCmd(2, ConsumerCommand{Kind: ConsumerCreate, Name: "fast", Config: workCfg}),
		consCmd(2, ConsumerCommand{Kind: ConsumerCreate, Name: "slow", Config: workCfg}))
	h.apply(consCmd(3, ConsumerCommand{Kind: ConsumerProgress, Name: "fast", Done: []uint64{1, 2, 3, 4}}))
	if st := h.state(); st.FirstSeq != 1 || st.Msgs != 5 {
		t.Fatalf("slow acked nothing, yet messages went: %+v", st)
	}
	// Acks above the floor (3) do not delete; the floor reaching 2 deletes 1 and 2.
	h.apply(consCmd(4, ConsumerCommand{Kind: ConsumerProgress, Name: "slow", Done: []uint64{1, 3}}))
	if st := h.state(); st.FirstSeq != 2 || st.Msgs != 4 {
		t.Fatalf("slow's floor at 1: %+v", st)
	}
	h.apply(consCmd(5, ConsumerCommand{Kind: ConsumerProgress, Name: "slow", Done: []uint64{2}}))
	if st := h.state(); st.FirstSeq != 4 || st.Msgs != 2 {
		t.Fatalf("slow's floor at 3: %+v", st)
	}

	// The cut survives a reopen (floors reloaded from the records) and a snapshot.
	h, dst := reopenAndRestore(t, h, fs, 21, 22)
	if st := h.state(); st.FirstSeq != 4 || !st.Config.Interest {
		t.Fatalf("after reopen: %+v", st)
	}
	for name, r := range map[string]*harness{"reopened": h, "restored": dst} {
		// Deleting the slow consumer leaves fast's floor (4) as the cut.
		r.apply(consCmd(6, ConsumerCommand{Kind: ConsumerDelete, Name: "slow"}))
		if st := r.state(); st.FirstSeq != 5 || st.Msgs != 1 || st.LastSeq != 5 {
			t.Fatalf("%s, slow deleted: %+v", name, st)
		}
		// The last consumer gone, new messages stay.
		r.apply(consCmd(7, ConsumerCommand{Kind: ConsumerDelete, Name: "fast"}), pub(8, "6"))
		if st := r.state(); st.FirstSeq != 5 || st.Msgs != 2 {
			t.Fatalf("%s, no consumers: %+v", name, st)
		}
		// Back to limits retention: a consumer's floor no longer deletes.
		r.apply(configure(9, ChannelConfig{}), consCmd(9, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg, Floor: 6}))
		if st := r.state(); st.Msgs != 2 || st.Config.Interest {
			t.Fatalf("%s, limits retention: %+v", name, st)
		}
	}
}

// The interest flag is encoded only when set: a config without it encodes as builds before it did,
// and a config with an unknown flag is rejected.
func TestConfigureInterestEncoding(t *testing.T) {
	plain := EncodeCommand(nil, configure(1, ChannelConfig{MaxMsgs: 5}))
	withFlag := EncodeCommand(nil, configure(1, ChannelConfig{MaxMsgs: 5, Interest: true}))
	if len(withFlag) != len(plain)+1 || !bytes.Equal(withFlag[:len(plain)], plain) {
		t.Fatalf("plain %x, interest %x", plain, withFlag)
	}
	for _, b := range [][]byte{plain, withFlag} {
		c, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if again := EncodeCommand(nil, c); !bytes.Equal(again, b) {
			t.Fatalf("round trip %x -> %x", b, again)
		}
	}
	bad := append(append([]byte{}, plain...), 4)
	if _, err := DecodeCommand(bad); err == nil || !strings.Contains(err.Error(), "flags") {
		t.Fatalf("unknown flag: %v", err)
	}
	st := shardState{FirstSeq: 1, Configured: true, Config: ChannelConfig{MaxAge: 9}}
	if b := encodeState(nil, &st); len(b) != stateLen || b[0] != stateFormat {
		t.Fatalf("state without flags: %d bytes, format %d", len(b), b[0])
	}
	st.Config.Interest = true
	b := encodeState(nil, &st)
	got, err := decodeState(b)
	if err != nil || got != st {
		t.Fatalf("state with interest: %+v %v", got, err)
	}
}

// TestConsumerEpochFence: every OpConfigure makes its own log index the channel's epoch (answered in
// its state result, kept across a reopen and a snapshot); a consumer command carrying an older epoch
// is refused as superseded and changes nothing, one with the current epoch (or none) applies.
func TestConsumerEpochFence(t *testing.T) {
	fs := vfs.NewMem()
	db := newMemDB(t, fs)
	h := newHarness(t, db, 31)
	epochOf := func(r sm.Result) uint64 {
		t.Helper()
		st, err := DecodeStateResult(r)
		if err != nil {
			t.Fatal(err)
		}
		return st.Epoch
	}
	first := epochOf(h.apply(configure(1, ChannelConfig{}))[0])
	if first != h.index {
		t.Fatalf("epoch %d, want the entry's index %d", first, h.index)
	}
	h.apply(pub(2, "a", "b", "c"), consCmd(2, ConsumerCommand{Kind: ConsumerCreate, Name: "w", Config: workCfg, Epoch: first}))
	second := epochOf(h.apply(configure(3, ChannelConfig{}))[0]) // a second activation
	if second <= first {
		t.Fatalf("second epoch %d after %d", second, first)
	}
	res := h.apply(consCmd(4, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{1}, Epoch: first}))
	if _, err := DecodeConsumerResult(res[0]); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("progress from the superseded activation: %v, want ErrSuperseded", err)
	}
	if info := h.consumer("w"); info.Floor != 0 {
		t.Fatalf("a superseded progress changed the consumer: %+v", info)
	}
	for _, epoch := range []uint64{second, 0} {
		if _, err := DecodeConsumerResult(h.apply(consCmd(5, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{1}, Epoch: epoch}))[0]); err != nil {
			t.Fatalf("progress with epoch %d: %v", epoch, err)
		}
	}
	if info := h.consumer("w"); info.Floor != 1 {
		t.Fatalf("floor %d, want 1", info.Floor)
	}
	// The epoch survives a reopen and a snapshot: the old activation stays fenced.
	h, dst := reopenAndRestore(t, h, fs, 31, 32)
	for name, r := range map[string]*harness{"reopened": h, "restored": dst} {
		res := r.apply(consCmd(6, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{2}, Epoch: first}))
		if _, err := DecodeConsumerResult(res[0]); !errors.Is(err, ErrSuperseded) {
			t.Fatalf("%s: progress from the superseded activation: %v", name, err)
		}
		if _, err := DecodeConsumerResult(r.apply(consCmd(6, ConsumerCommand{Kind: ConsumerProgress, Name: "w", Done: []uint64{2}, Epoch: second}))[0]); err != nil {
			t.Fatalf("%s: progress of the current activation: %v", name, err)
		}
	}
	// The state record: format 3 with an epoch, decoded back whole.
	st := shardState{FirstSeq: 4, Configured: true, Epoch: 77, Config: ChannelConfig{Interest: true}}
	b := encodeState(nil, &st)
	if got, err := decodeState(b); err != nil || got != st || b[0] != stateFormat3 {
		t.Fatalf("state with an epoch: %+v %v (format %d)", got, err, b[0])
	}
}

// DeliveryCounts reads first deliveries from Delivered and more from Deliveries, and a record
// written before Delivered existed (a count of 1 per seq) the same way.
func TestDeliveryCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		info ConsumerInfo
		want map[uint64]int
	}{
		{"none", ConsumerInfo{Floor: 5}, map[uint64]int{}},
		{"first deliveries", ConsumerInfo{Floor: 2, Done: []uint64{4}, Delivered: 6}, map[uint64]int{3: 1, 5: 1, 6: 1}},
		{"redelivered", ConsumerInfo{Floor: 2, Delivered: 4, Deliveries: SeqCounts{3: 3}}, map[uint64]int{3: 3, 4: 1}},
		{"earlier record", ConsumerInfo{Floor: 2, Done: []uint64{4}, Deliveries: SeqCounts{3: 1, 4: 1, 5: 2}}, map[uint64]int{3: 1, 5: 2}},
	} {
		if got := tc.info.DeliveryCounts(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An activation that stops releases its epoch (OpTick with Release): the next settings proposal
// answers Free. One that did not (a crash, a partition) or a release of an older epoch leaves the next
// activation not free. Released survives a reopen and a snapshot; the command round-trips.
func TestEpochRelease(t *testing.T) {
	fs := vfs.NewMem()
	h := newHarness(t, newMemDB(t, fs), 41)
	settings := func(tm int64) StateResult {
		t.Helper()
		st, err := DecodeStateResult(h.apply(configure(tm, ChannelConfig{}))[0])
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := settings(1)
	if !first.Free {
		t.Fatal("the first activation of a new channel is not free")
	}
	second := settings(2) // the first never released: it may still run
	if second.Free {
		t.Fatal("an activation after one that did not release is free")
	}
	h.apply(&Command{Op: OpTick, Time: 3, Release: first.Epoch}) // a late release of the older epoch
	if settings(4).Free {
		t.Fatal("a release of an older epoch freed the channel")
	}
	cur := h.sm.st.Epoch
	h.apply(&Command{Op: OpTick, Time: 5, Release: cur})
	h, dst := reopenAndRestore(t, h, fs, 41, 42)
	for name, r := range map[string]*harness{"reopened": h, "restored": dst} {
		st, err := DecodeStateResult(r.apply(configure(6, ChannelConfig{}))[0])
		if err != nil || !st.Free {
			t.Fatalf("%s: settings after a release: %+v %v", name, st, err)
		}
	}
	c, err := DecodeCommand(EncodeCommand(nil, &Command{Op: OpTick, Time: 7, Release: 99}))
	if err != nil || c.Release != 99 || c.Op != OpTick {
		t.Fatalf("release command decoded as %+v %v", c, err)
	}
	st := shardState{FirstSeq: 4, Configured: true, Epoch: 77, Released: true}
	if got, err := decodeState(encodeState(nil, &st)); err != nil || got != st {
		t.Fatalf("released state decoded as %+v %v", got, err)
	}
}

// reopenAndRestore closes h (shard, on fs) and opens it again, and restores a snapshot of it into a
// fresh DB as shard restored: the two replicas a test checks that state survived into.
func reopenAndRestore(t *testing.T, h *harness, fs vfs.FS, shard, restored uint64) (reopened, dst *harness) {
	t.Helper()
	h.closeAll()
	reopened = newHarness(t, newMemDB(t, fs), shard)
	snap := saveSnapshot(t, reopened)
	dst = newHarness(t, newMemDB(t, nil), restored)
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(snap), nil); err != nil {
		t.Fatal(err)
	}
	dst.index = reopened.index
	return reopened, dst
}
