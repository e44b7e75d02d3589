package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// SMOption configures the channel state machines made by NewChannelStateMachine.
type SMOption func(*smOptions)

type smOptions struct {
	def ChannelConfig
}

// WithDefaultConfig sets the config a channel uses until its first OpConfigure
// is applied (without it: the zero config, i.e. unlimited, dedupe off).
//
// Determinism: the default is not replicated. Every replica of a channel must
// use the same default, otherwise retention and dedupe diverge. The robust
// pattern is for the actor to propose OpConfigure as a channel's first
// command; after that the default is never consulted again for that channel.
func WithDefaultConfig(cfg ChannelConfig) SMOption {
	return func(o *smOptions) { o.def = cfg }
}

// NewChannelStateMachine returns the Dragonboat factory for channel shards on
// this node, all storing into db.
func NewChannelStateMachine(db *DB, opts ...SMOption) func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
	var o smOptions
	for _, f := range opts {
		f(&o)
	}
	return func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
		return &channelSM{db: db, shardID: shardID, replicaID: replicaID, def: o.def, activity: db.Activity(shardID)}
	}
}

// shardState is the per-shard record stored at stateKey, written in the same
// batch as every Update.
type shardState struct {
	Applied    uint64
	FirstSeq   uint64 // LastSeq+1 when empty
	LastSeq    uint64 // never decreases: seqs are never reused
	Msgs       uint64
	Bytes      uint64 // sum of MsgSize of stored messages
	LastTime   int64  // Time of message LastSeq (kept when it is deleted)
	Clock      int64  // max Command.Time applied; message times, retention and dedupe use it
	Configured bool   // an OpConfigure has been applied; Config is authoritative
	Config     ChannelConfig
	// Epoch is the log index of the last OpConfigure applied (0: none by a build that records it).
	// Every activation proposes one, so it names the newest activation; consumer commands carrying an
	// older epoch come from an activation that was superseded and are refused (ResultSuperseded).
	Epoch uint64
	// Released: the activation of Epoch stopped and released the channel (OpTick with Release).
	Released bool
}

// A state record is format 1 (stateLen bytes) unless its config has flags (configInterest): then
// format 2, one flags byte longer; with an epoch, format 3: the flags byte and the epoch (8 bytes).
// The flags byte holds configInterest and stateReleased (format 3 only).
const (
	stateFormat  byte = 1
	stateFormat2 byte = 2
	stateFormat3 byte = 3

	stateReleased byte = 2 // shardState.Released
	stateLen           = 1 + 8*7 + 1 + 8*4
)

func encodeState(dst []byte, s *shardState) []byte {
	format := stateFormat
	switch {
	case s.Epoch != 0:
		format = stateFormat3
	case s.Config.Interest:
		format = stateFormat2
	}
	dst = append(dst, format)
	for _, v := range [...]uint64{s.Applied, s.FirstSeq, s.LastSeq, s.Msgs, s.Bytes, uint64(s.LastTime), uint64(s.Clock)} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	c := byte(0)
	if s.Configured {
		c = 1
	}
	dst = append(dst, c)
	for _, v := range [...]uint64{s.Config.MaxMsgs, s.Config.MaxBytes, uint64(s.Config.MaxAge), uint64(s.Config.DedupeWindow)} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	if format != stateFormat {
		flags := byte(0)
		if s.Config.Interest {
			flags = configInterest
		}
		if s.Released {
			flags |= stateReleased
		}
		dst = append(dst, flags)
	}
	if format == stateFormat3 {
		dst = binary.BigEndian.AppendUint64(dst, s.Epoch)
	}
	return dst
}

func decodeState(b []byte) (shardState, error) {
	var s shardState
	if !(len(b) == stateLen && b[0] == stateFormat) && !(len(b) == stateLen+1 && b[0] == stateFormat2) &&
		!(len(b) == stateLen+9 && b[0] == stateFormat3) {
		return s, errors.New("store: corrupt shard state")
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[1+8*i:]) }
	s.Applied, s.FirstSeq, s.LastSeq, s.Msgs, s.Bytes = u(0), u(1), u(2), u(3), u(4)
	s.LastTime, s.Clock = int64(u(5)), int64(u(6))
	s.Configured = b[57] == 1
	c := b[58:]
	s.Config.MaxMsgs = binary.BigEndian.Uint64(c)
	s.Config.MaxBytes = binary.BigEndian.Uint64(c[8:])
	s.Config.MaxAge = int64(binary.BigEndian.Uint64(c[16:]))
	s.Config.DedupeWindow = int64(binary.BigEndian.Uint64(c[24:]))
	if b[0] != stateFormat {
		if b[stateLen]&^(configInterest|stateReleased) != 0 || (b[stateLen]&stateReleased != 0 && b[0] != stateFormat3) {
			return s, errors.New("store: corrupt shard state (unknown settings flags)")
		}
		s.Config.Interest = b[stateLen]&configInterest != 0
		s.Released = b[stateLen]&stateReleased != 0
	}
	if b[0] == stateFormat3 {
		s.Epoch = binary.BigEndian.Uint64(b[stateLen+1:])
	}
	return s, nil
}

func freshState() shardState { return shardState{FirstSeq: 1} }

// msgMeta caches what retention needs of the oldest message.
type msgMeta struct {
	seq   uint64
	time  int64
	size  uint64
	valid bool
}

// channelSM is one channel shard's state machine.
//
// Concurrency: Dragonboat serialises Open/Update/Sync/PrepareSnapshot/
// RecoverFromSnapshot/Close; Lookup and SaveSnapshot run concurrently with them.
// st is written only by the serialised methods, under mu, right after the
// pebble commit it describes, so a Lookup that copies st and opens a pebble
// iterator under mu.RLock sees data and state from the same instant.
// Lock order: db.mu before s.mu.
type channelSM struct {
	db                 *DB
	shardID, replicaID uint64
	def                ChannelConfig
	activity           *atomic.Int64 // db.Activity(shardID)

	mu     sync.RWMutex
	st     shardState
	closed bool

	// Owned by the serialised methods only.
	oldest     msgMeta
	dedupeNext int64 // time of the oldest dedupe record; MaxInt64 when none
	// floors are the consumers' ack floors by name, for interest retention; loaded from the
	// consumer records when first needed (floorsOK), kept by applyConsumer after that.
	floors     map[string]uint64
	floorsOK   bool
	items      []itemView
	kbuf, vbuf []byte
}

var _ sm.IOnDiskStateMachine = (*channelSM)(nil)

// Open loads the shard's state and returns its durably applied index (0 for a
// new shard). A shard without a state record has its key range cleared first:
// that is the leftover of an interrupted RecoverFromSnapshot (whose state
// record is written last), and Dragonboat will re-apply from scratch.
func (s *channelSM) Open(stopc <-chan struct{}) (uint64, error) {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	if s.db.closed {
		return 0, ErrClosed
	}
	st, found, err := s.loadState()
	if err != nil {
		return 0, err
	}
	if found {
		if err := s.resetCaches(); err != nil {
			return 0, err
		}
	} else {
		// A range without a state record (a snapshot recovery cut short) is cleared. A shard that
		// never wrote here (every new channel) has nothing to clear: a range tombstone for each would
		// make pebble fragment all of the memtable's tombstones again on the next read, a cost that
		// grows with every shard created since the last flush.
		if err := s.clearLeftovers(); err != nil {
			return 0, err
		}
		st = freshState()
		s.oldest, s.dedupeNext = msgMeta{}, math.MaxInt64
		s.floors, s.floorsOK = nil, false
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	return st.Applied, nil
}

func (s *channelSM) loadState() (shardState, bool, error) {
	v, closer, err := s.db.pdb.Get(stateKey(nil, s.shardID))
	if errors.Is(err, pebble.ErrNotFound) {
		return shardState{}, false, nil
	}
	if err != nil {
		return shardState{}, false, err
	}
	defer closer.Close()
	st, err := decodeState(v)
	return st, err == nil, err
}

// clearLeftovers deletes the shard's keys if it has any. Caller holds db.mu.
func (s *channelSM) clearLeftovers() error {
	lo, hi := shardRange(s.shardID)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	any := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil || !any {
		return err
	}
	return s.db.pdb.DeleteRange(lo, hi, pebble.NoSync)
}

// resetCaches recomputes the in-memory hints from the DB. Caller holds db.mu.
func (s *channelSM) resetCaches() error {
	s.oldest = msgMeta{}
	s.dedupeNext = math.MaxInt64
	s.floors, s.floorsOK = nil, false
	lo, hi := kindRange(s.shardID, kindDedupeEx)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	if it.First() {
		s.dedupeNext = expKeyTime(it.Key())
	}
	return errors.Join(it.Error(), it.Close())
}

func expKeyTime(k []byte) int64 {
	return unorderedTime(binary.BigEndian.Uint64(k[shardPrefixLen+1:]))
}

func (s *channelSM) config(st *shardState) ChannelConfig {
	if st.Configured {
		return st.Config
	}
	return s.def
}

// Update applies entries in one pebble batch that also records the applied
// index. Entries at or below the applied index are skipped (Dragonboat never
// sends them; the check makes replay idempotent regardless).
func (s *channelSM) Update(entries []sm.Entry) ([]sm.Entry, error) {
	st := s.st // only serialised methods write s.st; no lock needed to read it here
	// An indexed batch lets the batch read its own writes: dedupe records and
	// messages written by earlier entries of this same Update.
	b := s.db.pdb.NewIndexedBatch()
	defer b.Close()
	for i := range entries {
		e := &entries[i]
		if e.Index <= st.Applied {
			continue
		}
		res, err := s.apply(b, &st, e.Index, e.Cmd)
		if err != nil {
			return nil, err
		}
		e.Result = res
		st.Applied = e.Index
	}
	s.kbuf = stateKey(s.kbuf[:0], s.shardID)
	s.vbuf = encodeState(s.vbuf[:0], &st)
	if err := b.Set(s.kbuf, s.vbuf, nil); err != nil {
		return nil, err
	}
	if err := s.db.commitApplied(b, &s.mu, func() {
		s.st = st
		s.activity.Store(time.Now().UnixNano())
	}); err != nil {
		return nil, err
	}
	return entries, nil
}

// apply applies one command to st, writing into b. A malformed command is
// rejected (no-op result) rather than failing the shard; an error return means
// storage failure and halts the replica.
func (s *channelSM) apply(b *pebble.Batch, st *shardState, index uint64, cmd []byte) (sm.Result, error) {
	if len(cmd) == 0 {
		return sm.Result{}, nil
	}
	h, items, err := parseCommand(cmd, s.items)
	defer func() {
		clear(items) // keep no reference to the entry's bytes after Update returns
		s.items = items[:0]
	}()
	if err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}, nil
	}
	if h.time > st.Clock {
		st.Clock = h.time
	}
	free := false
	switch {
	case h.op == OpConfigure:
		// No earlier epoch (a new channel, or one last run by a build before epochs: upgrading to
		// this one stops every node) or a released one: no other activation hands out messages.
		free = st.Epoch == 0 || st.Released
		st.Config, st.Configured, st.Epoch, st.Released = h.cfg, true, index, false
	case h.op == OpTick && h.release != 0 && h.release == st.Epoch:
		st.Released = true
	}
	cfg := s.config(st)
	if err := s.expireDedupe(b, st, cfg); err != nil {
		return sm.Result{}, err
	}
	var res sm.Result
	if h.op == OpPublish {
		seqs := make([]uint64, len(items))
		dups := make([]bool, len(items))
		stored := uint64(0)
		for i, it := range items {
			seq, dup, err := s.publish(b, st, cfg, it)
			if err != nil {
				return sm.Result{}, err
			}
			seqs[i], dups[i] = seq, dup
			if !dup {
				stored++
			}
		}
		res = sm.Result{Value: stored, Data: encodePublishResult(make([]byte, 0, 1+len(seqs)*4), seqs, dups)}
	}
	if h.op == OpConsumer {
		if res, err = s.applyConsumer(b, st, h.cons); err != nil {
			return sm.Result{}, err
		}
	}
	if err := s.retain(b, st, cfg); err != nil {
		return sm.Result{}, err
	}
	if h.op == OpConfigure || h.op == OpTick {
		res = stateResult(st, free)
	}
	return res, nil
}

// publish stores one item (or reports it as a duplicate).
func (s *channelSM) publish(b *pebble.Batch, st *shardState, cfg ChannelConfig, it itemView) (uint64, bool, error) {
	dedupe := len(it.key) > 0 && cfg.DedupeWindow > 0
	if dedupe {
		s.kbuf = dedupeKey(s.kbuf[:0], s.shardID, it.key)
		v, closer, err := b.Get(s.kbuf)
		if err == nil {
			if len(v) != 16 {
				closer.Close()
				return 0, false, fmt.Errorf("store: shard %d: corrupt dedupe record", s.shardID)
			}
			// expireDedupe already removed records older than the window.
			seq := binary.BigEndian.Uint64(v)
			closer.Close()
			return seq, true, nil
		}
		if !errors.Is(err, pebble.ErrNotFound) {
			return 0, false, err
		}
	}
	// Clock >= every earlier message time and >= this command's time.
	t := st.Clock
	seq := st.LastSeq + 1
	s.vbuf = appendMsgValue(s.vbuf[:0], t, it.headers, it.payload)
	size := uint64(len(s.vbuf))
	s.kbuf = msgKey(s.kbuf[:0], s.shardID, seq)
	if err := b.Set(s.kbuf, s.vbuf, nil); err != nil {
		return 0, false, err
	}
	if st.Msgs == 0 {
		st.FirstSeq = seq
		s.oldest = msgMeta{seq: seq, time: t, size: size, valid: true}
	}
	st.LastSeq, st.LastTime = seq, t
	st.Msgs++
	st.Bytes += size
	if dedupe {
		s.vbuf = binary.BigEndian.AppendUint64(s.vbuf[:0], seq)
		s.vbuf = binary.BigEndian.AppendUint64(s.vbuf, orderedTime(t))
		s.kbuf = dedupeKey(s.kbuf[:0], s.shardID, it.key)
		if err := b.Set(s.kbuf, s.vbuf, nil); err != nil {
			return 0, false, err
		}
		s.kbuf = dedupeExpKey(s.kbuf[:0], s.shardID, t, it.key)
		if err := b.Set(s.kbuf, nil, nil); err != nil {
			return 0, false, err
		}
		if t < s.dedupeNext {
			s.dedupeNext = t
		}
	}
	return seq, false, nil
}

// expireDedupe deletes dedupe records older than Clock-DedupeWindow (all of
// them when dedupe is disabled), walking the expiry index in time order.
func (s *channelSM) expireDedupe(b *pebble.Batch, st *shardState, cfg ChannelConfig) error {
	cutoff := int64(math.MaxInt64) // window 0: drop everything
	all := cfg.DedupeWindow <= 0
	if !all {
		if st.Clock < math.MinInt64+cfg.DedupeWindow {
			return nil
		}
		cutoff = st.Clock - cfg.DedupeWindow
	}
	if s.dedupeNext == math.MaxInt64 || (!all && s.dedupeNext >= cutoff) {
		return nil
	}
	lo, hi := kindRange(s.shardID, kindDedupeEx)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	next := int64(math.MaxInt64)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		t := expKeyTime(k)
		if !all && t >= cutoff {
			next = t
			break
		}
		if err := b.Delete(k, nil); err != nil {
			_ = it.Close()
			return err
		}
		s.kbuf = dedupeKey(s.kbuf[:0], s.shardID, k[shardPrefixLen+9:])
		if err := b.Delete(s.kbuf, nil); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	s.dedupeNext = next
	return nil
}

// retain deletes the oldest messages while a limit of cfg is exceeded, and with interest retention
// those behind every consumer's ack floor.
func (s *channelSM) retain(b *pebble.Batch, st *shardState, cfg ChannelConfig) error {
	ageCut, ageOn := int64(0), cfg.MaxAge > 0 && st.Clock >= math.MinInt64+cfg.MaxAge
	if ageOn {
		ageCut = st.Clock - cfg.MaxAge
	}
	interestCut := uint64(0) // every seq <= interestCut is done for every consumer
	if cfg.Interest {
		var err error
		if interestCut, err = s.interestCut(b); err != nil {
			return err
		}
	}
	// One batch iterator walks the oldest messages forward: far cheaper than a
	// point Get per deleted message. It is created lazily (after this entry's
	// writes, which it therefore sees) and never needs to see later deletes.
	var it *pebble.Iterator
	defer func() {
		if it != nil {
			_ = it.Close()
		}
	}()
	for st.Msgs > 0 {
		over := (cfg.MaxMsgs > 0 && st.Msgs > cfg.MaxMsgs) || (cfg.MaxBytes > 0 && st.Bytes > cfg.MaxBytes) ||
			st.FirstSeq <= interestCut
		if !over && !ageOn {
			return nil
		}
		if !s.oldest.valid || s.oldest.seq != st.FirstSeq {
			var err error
			if it == nil {
				lo, hi := kindRange(s.shardID, kindMsg)
				if it, err = b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi}); err != nil {
					return err
				}
				it.SeekGE(msgKey(s.kbuf[:0], s.shardID, st.FirstSeq))
			} else {
				it.Next()
			}
			if s.oldest, err = iterMeta(it, st.FirstSeq); err != nil {
				return fmt.Errorf("store: shard %d: %w", s.shardID, err)
			}
		}
		m := s.oldest
		if !over && m.time >= ageCut {
			return nil
		}
		s.kbuf = msgKey(s.kbuf[:0], s.shardID, m.seq)
		if err := b.Delete(s.kbuf, nil); err != nil {
			return err
		}
		st.FirstSeq++
		st.Msgs--
		st.Bytes -= m.size
	}
	return nil
}

// interestCut is the lowest ack floor of the channel's consumers (0 without consumers), loading the
// floors from the consumer records as b sees them the first time it is needed.
func (s *channelSM) interestCut(b *pebble.Batch) (uint64, error) {
	if !s.floorsOK {
		floors := map[string]uint64{}
		lo, hi := kindRange(s.shardID, kindConsumer)
		it, err := b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return 0, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			var info ConsumerInfo
			if err := msgpack.Unmarshal(it.Value(), &info); err != nil {
				_ = it.Close()
				return 0, fmt.Errorf("store: shard %d: corrupt consumer record: %w", s.shardID, err)
			}
			floors[info.Name] = info.Floor
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return 0, err
		}
		s.floors, s.floorsOK = floors, true
	}
	if len(s.floors) == 0 {
		return 0, nil
	}
	cut := uint64(math.MaxUint64)
	for _, f := range s.floors {
		cut = min(cut, f)
	}
	return cut, nil
}

// iterMeta reads time and size of message seq at the iterator's position.
func iterMeta(it *pebble.Iterator, seq uint64) (msgMeta, error) {
	if !it.Valid() {
		return msgMeta{}, fmt.Errorf("oldest message %d missing (%v)", seq, it.Error())
	}
	k := it.Key()
	if got := binary.BigEndian.Uint64(k[shardPrefixLen+1:]); got != seq {
		return msgMeta{}, fmt.Errorf("oldest message %d missing (found %d)", seq, got)
	}
	v := it.Value()
	if len(v) < 9 {
		return msgMeta{}, fmt.Errorf("corrupt message %d", seq)
	}
	return msgMeta{seq: seq, time: int64(binary.BigEndian.Uint64(v)), size: uint64(len(v)), valid: true}, nil
}

// syncWAL fsyncs pebble's WAL, making every write applied so far durable (the state machines' Sync).
func (db *DB) syncWAL() error {
	if err := db.rlockOpen(); err != nil {
		return err
	}
	defer db.mu.RUnlock()
	return db.pdb.LogData(nil, pebble.Sync)
}

// Sync fsyncs pebble's WAL, making every Update applied so far durable.
func (s *channelSM) Sync() error { return s.db.syncWAL() }

// Close marks the state machine closed; later Lookups return ErrClosed. The
// shared DB stays open.
func (s *channelSM) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
