package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FirstChannelShardID is the first channel shard id the metadata group allocates (lower ids are for
// Sampan's own groups, e.g. MetaShardID).
// Lower ids are left for system shards (e.g. the metadata group).
const FirstChannelShardID uint64 = 1024

var (
	// ErrChannelNotFound is returned by registry lookups when create is false and
	// the channel is not registered.
	ErrChannelNotFound = errors.New("sampan: channel not found")
	// ErrClosed is returned by queries on a closed state machine or DB.
	ErrClosed = errors.New("sampan: store closed")
)

// DBOptions configures OpenDB.
type DBOptions struct {
	// FS is the filesystem; nil means vfs.Default. vfs.NewMem() is handy in tests.
	FS vfs.FS
	// Logger receives pebble's log output; nil means pebble's default (the
	// standard library log package).
	Logger pebble.Logger
	// CacheSize is pebble's block cache in bytes; 0 means 64 MiB.
	CacheSize int64
	// MemTableSize is the size of one of pebble's memtables in bytes; 0 means DefaultMemTableSize.
	MemTableSize uint64
}

// DefaultMemTableSize is the store's memtable size. Every publish writes the store, and pebble's
// default (4 MiB) flushed so often under sustained publishing that compactions took 41-48% of a
// node's CPU (one R = 1 publisher at window 256, 600,000 messages); with 32 MiB it is 12-14%, and
// the node spends 28-35% less CPU per message over 1,500,000 messages, for up to two memtables
// (64 MiB) held while writing.
const DefaultMemTableSize = 32 << 20

// DB is the node's one embedded KV, shared by every channel shard on the node.
//
// Close it only after every state machine using it is done (after
// NodeHost.Close): Update on a closed DB returns an error, which Dragonboat
// treats as fatal. Queries on a closed DB return ErrClosed.
type DB struct {
	pdb *pebble.DB

	// mu guards closed. Readers (Update commits, Lookups, snapshots) hold it
	// shared for the duration of their pebble use so Close never runs under an
	// open iterator (pebble panics on use after close).
	mu     sync.RWMutex
	closed bool

	regMu sync.Mutex // serialises registry allocation

	activity sync.Map // shard id -> *atomic.Int64 (see Activity)
}

// Activity returns the clock of a shard's last activity on this node, in unix nanoseconds: the shard's
// state machine stores the time of every apply, and the node's bound on resident shards reads it to
// pick the least recently used one (a follower replica sees no other sign of use). Others may store
// their own activity into it (the channel's actor does). It lives until Forget.
func (db *DB) Activity(shardID uint64) *atomic.Int64 {
	if v, ok := db.activity.Load(shardID); ok {
		return v.(*atomic.Int64)
	}
	v, _ := db.activity.LoadOrStore(shardID, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Forget drops a shard's activity clock once its replica no longer runs on this node.
func (db *DB) Forget(shardID uint64) { db.activity.Delete(shardID) }

// OpenDB opens (creating if needed) the node's pebble database in dir.
func OpenDB(dir string, opts DBOptions) (*DB, error) {
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = 64 << 20
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref() // pebble holds its own reference while open
	mem := opts.MemTableSize
	if mem == 0 {
		mem = DefaultMemTableSize
	}
	po := &pebble.Options{FS: fs, Logger: opts.Logger, Cache: cache, MemTableSize: mem}
	// Dedupe lookups of new idempotency keys are misses: bloom filters keep them
	// from touching every level's data blocks.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &DB{pdb: pdb}, nil
}

// Close closes the database. It waits for in-flight queries; later calls are no-ops.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	return db.pdb.Close()
}

// ShardState reads a channel shard's state straight from this node's store, without its state machine
// running (e.g. for a cold channel). ok is false when this node holds no data for the shard. It is as
// current as this replica's last apply.
func (db *DB) ShardState(shardID uint64) (st ChannelState, ok bool, err error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ChannelState{}, false, ErrClosed
	}
	v, closer, err := db.pdb.Get(stateKey(nil, shardID))
	if errors.Is(err, pebble.ErrNotFound) {
		return ChannelState{}, false, nil
	}
	if err != nil {
		return ChannelState{}, false, err
	}
	defer closer.Close()
	s, err := decodeState(v)
	if err != nil {
		return ChannelState{}, false, err
	}
	return ChannelState{FirstSeq: s.FirstSeq, LastSeq: s.LastSeq, Msgs: s.Msgs, Bytes: s.Bytes, LastTime: s.LastTime,
		Config: s.Config, Applied: s.Applied, Clock: s.Clock, Configured: s.Configured}, true, nil
}

// DeleteShard deletes every key of a shard from this node's store: its replica here was removed from the
// shard (moved to another node) and Dragonboat's own data for it removed. It must not run while the
// shard's state machine is open on this node.
func (db *DB) DeleteShard(shardID uint64) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	lo, hi := shardRange(shardID)
	return db.pdb.DeleteRange(lo, hi, pebble.Sync)
}

// ShardMessages reads up to max stored messages of a shard from this node's store, from seq from on,
// without its state machine running: what this replica holds as of its last apply. Tests and the
// testkit's checkers compare replicas with it; it is not a serving path.
func (db *DB) ShardMessages(shardID, from uint64, max int) ([]Message, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	lo, hi := kindRange(shardID, kindMsg)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Message
	for ok := it.SeekGE(msgKey(nil, shardID, from)); ok && len(out) < max; ok = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[shardPrefixLen+1:])
		m, err := decodeMsgValue(seq, it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, it.Error()
}
