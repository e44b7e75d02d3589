package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// Durable consumers live in their channel's shard: one record per consumer, changed only by OpConsumer
// commands, so a consumer's progress is replicated, snapshotted and restored with the messages it reads.

// Bounds of consumer commands; a command outside them is rejected.
const (
	MaxConsumers      = 1000    // consumers of one channel
	MaxConsumerName   = 64      // bytes of a consumer name
	MaxConsumerWindow = 1 << 20 // a progress command's seqs lie in (Floor, Floor+MaxConsumerWindow]
	maxDeadLetterName = 255
)

// ConsumerConfig is a consumer's settings, as the channel actor normalised them.
type ConsumerConfig struct {
	Mode          uint8  `msgpack:"mode"`            // consumer.Mode: 1 shared, 2 exclusive
	AckWait       int64  `msgpack:"ack_wait"`        // nanoseconds
	MaxDeliver    int    `msgpack:"max_deliver"`     // 0: no bound
	MaxAckPending int    `msgpack:"max_ack_pending"` // 0: the dispatcher's default
	DeadLetter    string `msgpack:"dead_letter,omitempty"`
}

// ConsumerInfo is a consumer's replicated state. Every seq <= Floor is done (acked, terminated or
// dead-lettered); Done lists the done seqs above it, ascending. Every seq up to Delivered was handed
// out at least once (deliveries go out in seq order); Deliveries counts the recorded deliveries of
// seqs above the floor that are not done and went out more than once (a count of 1 may be there too,
// in records written before Delivered existed). DeliveryCounts gives every count.
//
// First deliveries are kept as the one number Delivered, not a count per seq, so that applying a
// progress command costs what the command holds and not what is pending: the record is read and
// written whole by every ack batch.
type ConsumerInfo struct {
	Name         string         `msgpack:"name"`
	Config       ConsumerConfig `msgpack:"config"`
	Created      int64          `msgpack:"created"` // channel clock when it was created (unix ns)
	Floor        uint64         `msgpack:"floor"`
	Done         []uint64       `msgpack:"done,omitempty"`
	Delivered    uint64         `msgpack:"delivered,omitempty"`
	Deliveries   SeqCounts      `msgpack:"deliveries,omitempty"`
	Acked        uint64         `msgpack:"acked"`         // seqs made done by an ack or a term
	DeadLettered uint64         `msgpack:"dead_lettered"` // seqs made done by dead-lettering
}

// DeliveryCounts returns the recorded delivery count of every seq above the floor that is not done
// and was handed out.
func (i *ConsumerInfo) DeliveryCounts() map[uint64]int {
	out := make(map[uint64]int, len(i.Deliveries))
	done := make(map[uint64]bool, len(i.Done))
	for _, seq := range i.Done {
		done[seq] = true
	}
	for seq := i.Floor + 1; seq <= i.Delivered; seq++ {
		if !done[seq] {
			out[seq] = 1
		}
	}
	for seq, n := range i.Deliveries {
		if seq > i.Floor && !done[seq] {
			out[seq] = max(out[seq], n)
		}
	}
	return out
}

// ConsumerOpKind is what an OpConsumer command does.
type ConsumerOpKind uint8

const (
	// ConsumerCreate creates the consumer with Config and Floor unless it exists (then it answers the
	// existing one unchanged).
	ConsumerCreate ConsumerOpKind = 1
	// ConsumerDelete removes the consumer (answering what it was; an absent one answers its name only).
	ConsumerDelete ConsumerOpKind = 2
	// ConsumerProgress raises the floor to Skip (seqs retention removed before they were handed out;
	// at most the channel's first stored seq - 1), marks Done seqs done (those also in DeadLettered
	// count as dead-lettered) and raises delivery counts to Deliveries. It is idempotent: applying it
	// twice changes nothing more.
	ConsumerProgress ConsumerOpKind = 3
)

// ConsumerCommand is the body of an OpConsumer command.
type ConsumerCommand struct {
	Kind         ConsumerOpKind `msgpack:"k"`
	Name         string         `msgpack:"n"`
	Config       ConsumerConfig `msgpack:"c,omitempty"`
	Floor        uint64         `msgpack:"f,omitempty"`
	Done         []uint64       `msgpack:"d,omitempty"`
	DeadLettered []uint64       `msgpack:"x,omitempty"`
	Deliveries   SeqCounts      `msgpack:"v,omitempty"`
	Skip         uint64         `msgpack:"s,omitempty"` // progress: every seq <= Skip is done
	// Epoch is the proposing activation's (StateResult.Epoch of its settings): a command with an
	// epoch older than the channel's is refused with ResultSuperseded. 0: not fenced.
	Epoch uint64 `msgpack:"e,omitempty"`
}

// SeqCounts counts something per seq (a consumer's deliveries). It encodes its keys in order, so
// equal counts encode to equal bytes on every replica.
type SeqCounts map[uint64]int

// EncodeMsgpack encodes the counts as a msgpack map with ascending keys.
func (m SeqCounts) EncodeMsgpack(enc *msgpack.Encoder) error {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if err := enc.EncodeMapLen(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := enc.EncodeUint(k); err != nil {
			return err
		}
		if err := enc.EncodeInt(int64(m[k])); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack decodes what EncodeMsgpack encoded.
func (m *SeqCounts) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	if n <= 0 {
		*m = nil
		return nil
	}
	out := make(SeqCounts, min(n, 1024))
	for i := 0; i < n; i++ {
		k, err := dec.DecodeUint64()
		if err != nil {
			return err
		}
		v, err := dec.DecodeInt()
		if err != nil {
			return err
		}
		out[k] = v
	}
	*m = out
	return nil
}

// ConsumerQuery asks for one consumer; Lookup answers *ConsumerInfo, nil when it does not exist.
type ConsumerQuery struct{ Name string }

// ConsumersQuery asks for every consumer of the channel; Lookup answers []ConsumerInfo by name.
type ConsumersQuery struct{}

// marshalSorted encodes v with map keys sorted, so equal values encode to equal bytes on every replica.
func marshalSorted(dst []byte, v any) []byte {
	buf := bytes.NewBuffer(dst)
	enc := msgpack.NewEncoder(buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("store: encoding %T: %v", v, err)) // plain structs of ints, strings and slices
	}
	return buf.Bytes()
}

// validConsumerName reports whether name is 1..64 bytes of [A-Za-z0-9_.-].
func validConsumerName(name string) bool {
	if len(name) == 0 || len(name) > MaxConsumerName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validate checks what the state machine can check of a command without reading state.
func (c *ConsumerCommand) validate() error {
	if !validConsumerName(c.Name) {
		return fmt.Errorf("store: invalid consumer name %q", c.Name)
	}
	switch c.Kind {
	case ConsumerCreate:
		k := c.Config
		if k.Mode != 1 && k.Mode != 2 {
			return fmt.Errorf("store: invalid consumer mode %d", k.Mode)
		}
		if k.AckWait <= 0 || k.MaxDeliver < 0 || k.MaxAckPending < 0 || k.MaxAckPending > MaxConsumerWindow {
			return errors.New("store: invalid consumer limits")
		}
		if len(k.DeadLetter) > maxDeadLetterName {
			return errors.New("store: dead-letter channel name too long")
		}
	case ConsumerDelete, ConsumerProgress:
	default:
		return fmt.Errorf("store: unknown consumer command %d", c.Kind)
	}
	return nil
}

// DecodeConsumerResult decodes the result of an OpConsumer entry. The answer to a ConsumerProgress
// leaves Done and Deliveries out.
func DecodeConsumerResult(r sm.Result) (*ConsumerInfo, error) {
	if r.Value == ResultRejected {
		return nil, fmt.Errorf("store: consumer command rejected: %s", r.Data)
	}
	if r.Value == ResultSuperseded {
		return nil, ErrSuperseded
	}
	var info ConsumerInfo
	if err := msgpack.Unmarshal(r.Data, &info); err != nil {
		return nil, fmt.Errorf("store: corrupt consumer result: %w", err)
	}
	return &info, nil
}

func consumerKey(dst []byte, shard uint64, name string) []byte {
	dst = append(shardPrefix(dst, shard), kindConsumer)
	return append(dst, name...)
}

// getConsumer reads a consumer record through r (the Update's batch or the DB); nil when absent.
func getConsumer(r pebble.Reader, key []byte) (*ConsumerInfo, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var info ConsumerInfo
	if err := msgpack.Unmarshal(v, &info); err != nil {
		return nil, fmt.Errorf("store: corrupt consumer record %q: %w", key, err)
	}
	return &info, nil
}

func rejected(format string, args ...any) sm.Result {
	return sm.Result{Value: ResultRejected, Data: fmt.Appendf(nil, format, args...)}
}

// applyConsumer applies an OpConsumer command. The result's Value is 1 when the command changed the
// record, 0 when it did not (an existing consumer on create, an absent one on delete).
func (s *channelSM) applyConsumer(b *pebble.Batch, st *shardState, c *ConsumerCommand) (sm.Result, error) {
	if c.Epoch != 0 && c.Epoch < st.Epoch {
		// Two activations can run for a while (a partition, a node taken for dead): consumer state
		// is kept in the activation's memory, so only the newest may change it.
		return sm.Result{Value: ResultSuperseded, Data: fmt.Appendf(nil, "epoch %d, the channel's is %d", c.Epoch, st.Epoch)}, nil
	}
	key := consumerKey(nil, s.shardID, c.Name)
	info, err := getConsumer(b, key)
	if err != nil {
		return sm.Result{}, err
	}
	answer := func(changed bool, info *ConsumerInfo) sm.Result {
		v := uint64(0)
		if changed {
			v = 1
		}
		return sm.Result{Value: v, Data: marshalSorted(nil, info)}
	}
	switch c.Kind {
	case ConsumerCreate:
		if info != nil {
			return answer(false, info), nil
		}
		n, err := s.countConsumers(b)
		if err != nil {
			return sm.Result{}, err
		}
		if n >= MaxConsumers {
			return rejected("channel has %d consumers, the most it may have", MaxConsumers), nil
		}
		info = &ConsumerInfo{Name: c.Name, Config: c.Config, Created: st.Clock, Floor: c.Floor}
	case ConsumerDelete:
		if info == nil {
			return answer(false, &ConsumerInfo{Name: c.Name}), nil
		}
		if err := b.Delete(key, nil); err != nil {
			return sm.Result{}, err
		}
		if s.floorsOK {
			delete(s.floors, c.Name)
		}
		return answer(true, info), nil
	case ConsumerProgress:
		if info == nil {
			return rejected("consumer %s does not exist", c.Name), nil
		}
		if c.Skip >= st.FirstSeq {
			return rejected("cannot skip to %d: messages from %d on are stored", c.Skip, st.FirstSeq), nil
		}
		if e := progress(info, c); e != "" {
			return rejected("%s", e), nil
		}
	}
	if err := b.Set(key, marshalSorted(nil, info), nil); err != nil {
		return sm.Result{}, err
	}
	if s.floorsOK {
		s.floors[c.Name] = info.Floor
	}
	if c.Kind == ConsumerProgress {
		// The proposer keeps the done and delivered seqs itself: answering them (up to
		// MaxConsumerWindow each) would cost an encode and a decode per ack batch.
		short := *info
		short.Done, short.Deliveries = nil, nil
		return answer(true, &short), nil
	}
	return answer(true, info), nil
}

// progress applies a ConsumerProgress command to info; it returns why it refused it ("" when it did not).
func progress(info *ConsumerInfo, c *ConsumerCommand) string {
	if c.Skip > info.Floor {
		info.Floor = c.Skip
		info.Done = slices.DeleteFunc(info.Done, func(seq uint64) bool { return seq <= info.Floor })
		for seq := range info.Deliveries {
			if seq <= info.Floor {
				delete(info.Deliveries, seq)
			}
		}
	}
	inWindow := func(seq uint64) bool { return seq <= info.Floor || seq-info.Floor <= MaxConsumerWindow }
	for _, seq := range c.Done {
		if !inWindow(seq) {
			return fmt.Sprintf("seq %d is more than %d past the ack floor %d", seq, MaxConsumerWindow, info.Floor)
		}
	}
	for seq := range c.Deliveries {
		if !inWindow(seq) {
			return fmt.Sprintf("seq %d is more than %d past the ack floor %d", seq, MaxConsumerWindow, info.Floor)
		}
	}
	done := make(map[uint64]bool, len(info.Done)+len(c.Done))
	for _, seq := range info.Done {
		done[seq] = true
	}
	dead := make(map[uint64]bool, len(c.DeadLettered))
	for _, seq := range c.DeadLettered {
		dead[seq] = true
	}
	for _, seq := range c.Done {
		if seq <= info.Floor || done[seq] {
			continue
		}
		done[seq] = true
		if dead[seq] {
			info.DeadLettered++
		} else {
			info.Acked++
		}
	}
	for done[info.Floor+1] {
		delete(done, info.Floor+1)
		info.Floor++
	}
	info.Done = info.Done[:0]
	for seq := range done {
		info.Done = append(info.Done, seq)
	}
	slices.Sort(info.Done)
	for seq, n := range c.Deliveries {
		info.Delivered = max(info.Delivered, seq)
		if n > 1 && seq > info.Floor && !done[seq] && n > info.Deliveries[seq] {
			if info.Deliveries == nil {
				info.Deliveries = SeqCounts{}
			}
			info.Deliveries[seq] = n
		}
	}
	for seq := range info.Deliveries {
		if seq <= info.Floor || done[seq] {
			delete(info.Deliveries, seq)
		}
	}
	if info.Delivered <= info.Floor {
		info.Delivered = 0
	}
	if len(info.Done) == 0 {
		info.Done = nil
	}
	if len(info.Deliveries) == 0 {
		info.Deliveries = nil
	}
	return ""
}

// countConsumers counts the shard's consumer records as b sees them.
func (s *channelSM) countConsumers(b *pebble.Batch) (int, error) {
	lo, hi := kindRange(s.shardID, kindConsumer)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

// consumer answers a ConsumerQuery from the committed state.
func (s *channelSM) consumer(name string) (*ConsumerInfo, error) {
	if err := s.dbRLock(); err != nil {
		return nil, err
	}
	defer s.db.mu.RUnlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if !validConsumerName(name) {
		return nil, nil
	}
	return getConsumer(s.db.pdb, consumerKey(nil, s.shardID, name))
}

// consumers answers a ConsumersQuery from the committed state.
func (s *channelSM) consumers() ([]ConsumerInfo, error) {
	if err := s.dbRLock(); err != nil {
		return nil, err
	}
	defer s.db.mu.RUnlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	lo, hi := kindRange(s.shardID, kindConsumer)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	var out []ConsumerInfo
	for ok := it.First(); ok; ok = it.Next() {
		var info ConsumerInfo
		if err := msgpack.Unmarshal(it.Value(), &info); err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("store: shard %d: corrupt consumer record: %w", s.shardID, err)
		}
		out = append(out, info)
	}
	return out, errors.Join(it.Error(), it.Close())
}
