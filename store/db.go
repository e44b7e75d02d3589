package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FirstChannelShardID is the first shard id the local registry allocates.
// Lower ids are left for system shards (e.g. the metadata group).
const FirstChannelShardID uint64 = 1024

var (
	// ErrChannelNotFound is returned by ChannelShard when create is false and
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
}

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
}

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
	po := &pebble.Options{FS: fs, Logger: opts.Logger, Cache: cache}
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

// ChannelEntry is one registered channel.
type ChannelEntry struct {
	Name    string
	ShardID uint64
}

// ChannelShard returns the shard id of channel name. With create, a missing
// channel gets the next id (monotonic from FirstChannelShardID, never reused,
// even across restarts) and the allocation is fsynced before returning;
// created reports whether this call allocated it. Without create a missing
// channel yields ErrChannelNotFound. Names are opaque here (validation is the
// caller's job) but must not be empty.
func (db *DB) ChannelShard(name string, create bool) (shardID uint64, created bool, err error) {
	if name == "" {
		return 0, false, errors.New("store: empty channel name")
	}
	db.regMu.Lock()
	defer db.regMu.Unlock()
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return 0, false, ErrClosed
	}
	key := registryKey(name)
	id, found, err := db.getUint64(key)
	if err != nil || found {
		return id, false, err
	}
	if !create {
		return 0, false, ErrChannelNotFound
	}
	next, found, err := db.getUint64(nextIDKey)
	if err != nil {
		return 0, false, err
	}
	if !found || next < FirstChannelShardID {
		next = FirstChannelShardID
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	_ = b.Set(key, binary.BigEndian.AppendUint64(nil, next), nil)
	_ = b.Set(nextIDKey, binary.BigEndian.AppendUint64(nil, next+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, false, err
	}
	return next, true, nil
}

// Channels lists the registered channels sorted by name (byte order).
func (db *DB) Channels() ([]ChannelEntry, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixMeta, metaChannel},
		UpperBound: []byte{prefixMeta, metaChannel + 1},
	})
	if err != nil {
		return nil, err
	}
	var out []ChannelEntry
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) != 8 {
			_ = it.Close()
			return nil, fmt.Errorf("store: corrupt registry entry %q", it.Key())
		}
		out = append(out, ChannelEntry{Name: string(it.Key()[2:]), ShardID: binary.BigEndian.Uint64(v)})
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, err
	}
	return out, it.Close()
}

// getUint64 reads an 8-byte big-endian value. Caller holds db.mu.
func (db *DB) getUint64(key []byte) (uint64, bool, error) {
	v, closer, err := db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("store: corrupt value at %q", key)
	}
	return binary.BigEndian.Uint64(v), true, nil
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
