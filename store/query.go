package store

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Default limits of a FetchQuery whose limits are zero or negative.
const (
	DefaultFetchMaxMsgs  = 1000
	DefaultFetchMaxBytes = 4 << 20
)

// FetchQuery reads stored messages from seq From (a From below FirstSeq starts
// at FirstSeq). It returns at most MaxMsgs messages and stops before exceeding
// MaxBytes (summed MsgSize), but always returns at least one message when any
// is at or after From, so a reader always progresses. Lookup answers *FetchResult.
type FetchQuery struct {
	From     uint64
	MaxMsgs  int
	MaxBytes int
}

// FetchResult holds consecutive messages and the channel's bounds at the same
// instant. Msgs is empty when From > LastSeq.
type FetchResult struct {
	Msgs              []Message
	FirstSeq, LastSeq uint64
	Epoch             uint64 // the channel's epoch as this replica has applied it (shardState.Epoch)
}

// StateQuery asks for the ChannelState.
type StateQuery struct{}

// ChannelState summarises a channel. FirstSeq = LastSeq+1 when it is empty.
type ChannelState struct {
	FirstSeq, LastSeq, Msgs, Bytes uint64
	LastTime                       int64         // Time of message LastSeq (0 before the first publish)
	Config                         ChannelConfig // effective config (the default until configured)
	Applied                        uint64
	Clock                          int64  // largest command time applied (ticks included)
	Configured                     bool   // an OpConfigure has been applied
	Epoch                          uint64 // the last OpConfigure's log index (shardState.Epoch)
}

// SeqForTimeQuery asks for the first stored seq whose Time >= Time, or
// LastSeq+1 when there is none. Lookup answers uint64.
type SeqForTimeQuery struct{ Time int64 }

// Lookup answers FetchQuery (-> *FetchResult), StateQuery (-> ChannelState),
// SeqForTimeQuery (-> uint64), ConsumerQuery (-> *ConsumerInfo, nil when absent)
// and ConsumersQuery (-> []ConsumerInfo); pointers to them are accepted too. After
// Close, or once the DB is closed, it returns ErrClosed.
func (s *channelSM) Lookup(q interface{}) (interface{}, error) {
	switch v := q.(type) {
	case *FetchQuery:
		if v == nil {
			return nil, fmt.Errorf("store: nil query")
		}
		return s.fetch(*v)
	case FetchQuery:
		return s.fetch(v)
	case StateQuery, *StateQuery:
		st, _, err := s.view(false)
		if err != nil {
			return nil, err
		}
		return s.channelState(&st), nil
	case *SeqForTimeQuery:
		if v == nil {
			return nil, fmt.Errorf("store: nil query")
		}
		return s.seqForTime(v.Time)
	case SeqForTimeQuery:
		return s.seqForTime(v.Time)
	case ConsumerQuery:
		return s.consumer(v.Name)
	case *ConsumerQuery:
		if v == nil {
			return nil, fmt.Errorf("store: nil query")
		}
		return s.consumer(v.Name)
	case ConsumersQuery, *ConsumersQuery:
		return s.consumers()
	default:
		return nil, fmt.Errorf("store: unknown query type %T", q)
	}
}

func (s *channelSM) channelState(st *shardState) ChannelState {
	return ChannelState{
		FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Msgs: st.Msgs, Bytes: st.Bytes,
		LastTime: st.LastTime, Config: s.config(st), Applied: st.Applied,
		Clock: st.Clock, Configured: st.Configured, Epoch: st.Epoch,
	}
}

// view returns the state and, with iter, a pebble iterator over the shard's
// messages taken at the same instant (pebble iterators pin a point-in-time
// view; Update commits under s.mu). With iter the caller holds the DB lock
// (dbRLock) until it has closed the iterator.
func (s *channelSM) view(iter bool) (shardState, *pebble.Iterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return shardState{}, nil, ErrClosed
	}
	if !iter {
		return s.st, nil, nil
	}
	lo, hi := kindRange(s.shardID, kindMsg)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	return s.st, it, err
}

// dbRLock takes the DB's shared lock, failing when the DB is closed.
func (s *channelSM) dbRLock() error { return s.db.rlockOpen() }

// commitApplied commits an Update's batch (not synced: the Raft log is the write-ahead log) while the
// DB is open, holding mu, the state machine's lock over what it serves, while publish makes the new
// state visible: a reader sees it only once its batch is committed.
func (db *DB) commitApplied(b *pebble.Batch, mu *sync.RWMutex, publish func()) error {
	if err := db.rlockOpen(); err != nil {
		return err
	}
	defer db.mu.RUnlock()
	mu.Lock()
	defer mu.Unlock()
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	publish()
	return nil
}

// rlockOpen read-locks the DB and reports ErrClosed (not locked) once it is closed; the caller unlocks
// db.mu after a nil error.
func (db *DB) rlockOpen() error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *channelSM) fetch(q FetchQuery) (*FetchResult, error) {
	if err := s.dbRLock(); err != nil {
		return nil, err
	}
	defer s.db.mu.RUnlock()
	st, it, err := s.view(true)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	res := &FetchResult{FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Epoch: st.Epoch}
	from := max(q.From, st.FirstSeq)
	if from > st.LastSeq {
		return res, nil
	}
	maxMsgs, maxBytes := q.MaxMsgs, q.MaxBytes
	if maxMsgs <= 0 {
		maxMsgs = DefaultFetchMaxMsgs
	}
	if maxBytes <= 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	bytes := 0
	for ok := it.SeekGE(msgKey(nil, s.shardID, from)); ok && len(res.Msgs) < maxMsgs; ok = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[shardPrefixLen+1:])
		if seq > st.LastSeq {
			break
		}
		v := it.Value()
		if len(res.Msgs) > 0 && bytes+len(v) > maxBytes {
			break
		}
		m, err := decodeMsgValue(seq, v)
		if err != nil {
			return nil, err
		}
		bytes += len(v)
		res.Msgs = append(res.Msgs, m)
	}
	return res, it.Error()
}

// seqForTime binary-searches [FirstSeq, LastSeq]: stored seqs are contiguous
// and their times non-decreasing.
func (s *channelSM) seqForTime(t int64) (uint64, error) {
	if err := s.dbRLock(); err != nil {
		return 0, err
	}
	defer s.db.mu.RUnlock()
	st, it, err := s.view(true)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	lo, hi := st.FirstSeq, st.LastSeq+1 // answer in [lo, hi]
	var kb []byte
	for lo < hi {
		mid := lo + (hi-lo)/2
		kb = msgKey(kb[:0], s.shardID, mid)
		if !it.SeekGE(kb) {
			return 0, fmt.Errorf("store: shard %d: message %d missing: %v", s.shardID, mid, it.Error())
		}
		v := it.Value()
		if len(v) < 8 {
			return 0, fmt.Errorf("store: shard %d: corrupt message %d", s.shardID, mid)
		}
		if int64(binary.BigEndian.Uint64(v)) >= t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}
