package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// The on-disk registry: the metadata group's state machine on RegistryShardID, an
// IOnDiskStateMachine over the node's one pebble store (the DB every channel shard of the node
// shares). Only the nodes, the per-node replica counters and a few counters live in memory; every
// channel's entry, the per-node index and the bridge cursors are pebble keys. A registered channel
// costs no Go heap (pebble's block cache and memtables are bounded, whatever the registry's size), and
// creating one reads the counters and writes a few keys, with 10 channels registered or 1,000,000.
//
// The registry shares the channels' pebble store rather than opening its own: one WAL, so Sync (one
// fsync) covers both and a node pays for one set of memtables, one block cache and one compaction
// pipeline; the two key spaces never overlap (prefixes 0x10 and 0x20), and the store's crash semantics
// (a prefix of the WAL survives) hold for both alike. A node runs one registry, so its keys carry no
// shard id.
//
// Key layout (prefix 0x20):
//
//	0x20 0x01                         -> state record (encodeRegState): applied index, id counters, ...
//	0x20 0x02 <node 8B BE>            -> NodeInfo (msgpack)
//	0x20 0x03 <node 8B BE>            -> uvarint: channel replicas the node holds (the placement counter)
//	0x20 0x04 <name>                  -> channel entry (encodeChannel)
//	0x20 0x05 <node 8B BE> <name>     -> empty: the channel has a replica on the node (per-node index)
//	0x20 0x06 uvarint(len) <rule> <channel> -> uvarint: bridge cursor
//	0x20 0x07 <user>                  -> uvarint: channels the user created (MetaCommand.Owner)
//
// Every Update writes its entries' changes and the state record (with the applied index) in one pebble
// batch, committed without sync like the channel shards' (the Raft log already fsynced the entries);
// Sync fsyncs the WAL. Snapshots for Dragonboat's periodic compaction carry no data (it is an on-disk
// state machine); the stream a joining or lagging replica receives is every registry key, in the
// channel snapshots' format with the magic "SAMPREG1" and the 0x20 prefix stripped.

const prefixRegistry byte = 0x20

const (
	regKeyState   byte = 0x01
	regKeyNode    byte = 0x02
	regKeyLoad    byte = 0x03
	regKeyChannel byte = 0x04
	regKeyOnNode  byte = 0x05
	regKeyCursor  byte = 0x06
	regKeyOwned   byte = 0x07
)

// Origin of the registry's state (regState.Origin).
const (
	regEmpty     uint8 = 0 // nothing applied yet
	regFresh     uint8 = 1 // a command other than MetaImport applied first: nothing will be imported
	regImporting uint8 = 2 // an import started; other commands wait for it (rejected)
	regImported  uint8 = 3 // the import finished
)

// ImportStatus is the registry's answer to MetaImportQuery.
type ImportStatus struct {
	// Started: the registry is being (or was) filled from the legacy group. Done: it is complete (and
	// the registry serves); Next of Total records are in.
	Started, Done bool
	// Fresh: the registry was used without an import (a new cluster); it never takes one.
	Fresh       bool
	Next, Total uint64
}

// MetaImportQuery (on-disk registry) -> ImportStatus.
type MetaImportQuery struct{}

// regState is the registry's state record, written with every Update.
type regState struct {
	Applied       uint64
	NextShardID   uint64
	NextReplicaID uint64
	Channels      uint64 // registered channels
	Origin        uint8  // regEmpty, regFresh, regImporting or regImported
	ImportNext    uint64 // export records imported so far
	ImportTotal   uint64 // records of the export being imported
}

const regStateFormat byte = 1

// encodeRegState: format byte | origin byte | uvarint Applied, NextShardID, NextReplicaID, Channels,
// ImportNext, ImportTotal.
func encodeRegState(dst []byte, st *regState) []byte {
	dst = append(dst, regStateFormat, st.Origin)
	for _, v := range [...]uint64{st.Applied, st.NextShardID, st.NextReplicaID, st.Channels, st.ImportNext, st.ImportTotal} {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

func decodeRegState(b []byte) (regState, error) {
	var st regState
	if len(b) < 2 || b[0] != regStateFormat {
		return st, errors.New("store: registry: corrupt state record")
	}
	st.Origin = b[1]
	r := reader{b: b[2:]}
	for _, p := range [...]*uint64{&st.Applied, &st.NextShardID, &st.NextReplicaID, &st.Channels, &st.ImportNext, &st.ImportTotal} {
		*p = r.uvarint()
	}
	if r.err != nil || len(r.b) != 0 || st.Origin > regImported {
		return regState{}, errors.New("store: registry: corrupt state record")
	}
	return st, nil
}

// regHead is the part of the registry kept in memory, a copy of what the pebble keys say.
type regHead struct {
	st    regState
	nodes map[uint64]*NodeInfo // never changed in place: a change stores a new NodeInfo
	loads map[uint64]int
}

func freshRegHead() regHead {
	return regHead{st: regState{NextShardID: FirstChannelShardID, NextReplicaID: 1},
		nodes: map[uint64]*NodeInfo{}, loads: map[uint64]int{}}
}

func regKey(dst []byte, kind byte) []byte { return append(dst, prefixRegistry, kind) }

func regIDKey(dst []byte, kind byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(regKey(dst, kind), id)
}

func regChannelKey(dst []byte, name string) []byte {
	return append(regKey(dst, regKeyChannel), name...)
}

func regOnNodeKey(dst []byte, node uint64, name string) []byte {
	return append(regIDKey(dst, regKeyOnNode, node), name...)
}

func regCursorKey(dst []byte, rule, channel string) []byte {
	dst = binary.AppendUvarint(regKey(dst, regKeyCursor), uint64(len(rule)))
	dst = append(dst, rule...)
	return append(dst, channel...)
}

// prefixEnd returns the smallest key greater than every key starting with p (nil: none).
func prefixEnd(p []byte) []byte {
	end := slices.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// registryRange is the [lo, hi) of every registry key.
func registryRange() (lo, hi []byte) { return []byte{prefixRegistry}, []byte{prefixRegistry + 1} }

const channelFormat byte = 1

// encodeChannel: format byte | uvarint shard | uvarint n | n x {uvarint replica, uvarint node, flags}
// (flags bit 0: Joining). The name is the key.
func encodeChannel(dst []byte, ch *ChannelInfo) []byte {
	dst = append(dst, channelFormat)
	dst = binary.AppendUvarint(dst, ch.ShardID)
	dst = binary.AppendUvarint(dst, uint64(len(ch.Replicas)))
	for _, r := range ch.Replicas {
		dst = binary.AppendUvarint(dst, r.ReplicaID)
		dst = binary.AppendUvarint(dst, r.NodeID)
		var f byte
		if r.Joining {
			f = 1
		}
		dst = append(dst, f)
	}
	return dst
}

func decodeChannel(name string, v []byte) (*ChannelInfo, error) {
	if len(v) == 0 || v[0] != channelFormat {
		return nil, fmt.Errorf("store: registry: corrupt entry of channel %s", name)
	}
	r := reader{b: v[1:]}
	ch := &ChannelInfo{Name: name, ShardID: r.uvarint()}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b))/3 {
		return nil, fmt.Errorf("store: registry: corrupt entry of channel %s", name)
	}
	ch.Replicas = make([]Replica, n)
	for i := range ch.Replicas {
		ch.Replicas[i].ReplicaID = r.uvarint()
		ch.Replicas[i].NodeID = r.uvarint()
		if r.err == nil && len(r.b) == 0 {
			r.err = errShort
		}
		if r.err != nil {
			return nil, fmt.Errorf("store: registry: corrupt entry of channel %s", name)
		}
		ch.Replicas[i].Joining = r.b[0]&1 != 0
		r.b = r.b[1:]
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("store: registry: corrupt entry of channel %s", name)
	}
	return ch, nil
}

// registrySM is the on-disk registry's state machine.
//
// Concurrency: Dragonboat serialises Open/Update/Sync/PrepareSnapshot/RecoverFromSnapshot/Close;
// Lookup and SaveSnapshot run concurrently with them. head is replaced (never changed in place) by the
// serialised methods, under mu, right after the pebble commit it describes, so a Lookup sees the
// in-memory part and the keys of the same instant as long as it reads pebble after taking mu.
// Lock order: db.mu before mu.
type registrySM struct {
	db *DB

	mu     sync.RWMutex
	head   regHead // replaced by the serialised methods (Open, Update, RecoverFromSnapshot)
	closed bool    // set by Close
}

var _ sm.IOnDiskStateMachine = (*registrySM)(nil)

// NewRegistryStateMachine is the Dragonboat factory for the on-disk registry (RegistryShardID) on a
// node whose store is db.
func NewRegistryStateMachine(db *DB) func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
	return func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
		return &registrySM{db: db, head: freshRegHead()}
	}
}

// Open loads the state record, the nodes and the counters and returns the durably applied index. A
// registry without a state record has its keys cleared first: that is the leftover of an interrupted
// RecoverFromSnapshot (which writes the state record last), and Dragonboat will apply from scratch.
func (s *registrySM) Open(<-chan struct{}) (uint64, error) {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	if s.db.closed {
		return 0, ErrClosed
	}
	h, found, err := loadRegHead(s.db.pdb)
	if err != nil {
		return 0, err
	}
	if !found {
		lo, hi := registryRange()
		if err := s.db.pdb.DeleteRange(lo, hi, pebble.NoSync); err != nil {
			return 0, err
		}
		h = freshRegHead()
	}
	s.mu.Lock()
	s.head = h
	s.mu.Unlock()
	return h.st.Applied, nil
}

// pebbleReader is what loadRegHead reads from: the DB, a batch or a snapshot.
type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

func loadRegHead(r pebbleReader) (regHead, bool, error) {
	h := freshRegHead()
	v, closer, err := r.Get(regKey(nil, regKeyState))
	if errors.Is(err, pebble.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	h.st, err = decodeRegState(v)
	closer.Close()
	if err != nil {
		return h, false, err
	}
	if err := scanPrefix(r, regKey(nil, regKeyNode), func(k, v []byte) error {
		var n NodeInfo
		if err := msgpack.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("store: registry: corrupt node record: %w", err)
		}
		h.nodes[n.ID] = &n
		return nil
	}); err != nil {
		return h, false, err
	}
	if err := scanPrefix(r, regKey(nil, regKeyLoad), func(k, v []byte) error {
		n, l := binary.Uvarint(v)
		if l <= 0 || len(k) != 10 {
			return errors.New("store: registry: corrupt placement counter")
		}
		h.loads[binary.BigEndian.Uint64(k[2:])] = int(n)
		return nil
	}); err != nil {
		return h, false, err
	}
	return h, true, nil
}

// scanPrefix calls fn with every key starting with p and its value (both valid only during the call).
func scanPrefix(r pebbleReader, p []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// Update applies the entries in one pebble batch that also records the applied index. Entries at or
// below the applied index are skipped.
func (s *registrySM) Update(entries []sm.Entry) ([]sm.Entry, error) {
	tx := &regTxn{b: s.db.pdb.NewIndexedBatch(), h: regHead{st: s.head.st, nodes: maps.Clone(s.head.nodes), loads: maps.Clone(s.head.loads)},
		dirtyNodes: map[uint64]bool{}, dirtyLoads: map[uint64]bool{}}
	defer tx.b.Close()
	for i := range entries {
		e := &entries[i]
		if e.Index <= tx.h.st.Applied {
			continue
		}
		res, err := tx.apply(e.Cmd)
		if err != nil {
			return nil, err
		}
		e.Result = res
		tx.h.st.Applied = e.Index
	}
	if err := tx.flush(); err != nil {
		return nil, err
	}
	if err := s.db.commitApplied(tx.b, &s.mu, func() { s.head = tx.h }); err != nil {
		return nil, err
	}
	return entries, nil
}

// regTxn is one Update's view of the registry: the batch (indexed, so it reads its own writes) and a
// copy of the in-memory part.
type regTxn struct {
	b                      *pebble.Batch
	h                      regHead
	dirtyNodes, dirtyLoads map[uint64]bool
	sorted                 []*NodeInfo // nodeList's answer until the next putNode
	kbuf, vbuf             []byte
}

// apply applies one command. A command that cannot apply is answered ResultRejected; an error return
// is a storage failure and halts the replica.
func (tx *regTxn) apply(cmd []byte) (sm.Result, error) {
	var c MetaCommand
	if err := msgpack.Unmarshal(cmd, &c); err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}, nil
	}
	var (
		ch  *ChannelInfo
		err error
	)
	switch {
	case c.Op == MetaMigrate:
		err = errors.New("the on-disk registry is not a legacy metadata group")
	case c.Op == MetaImport:
		err = tx.importChunk(c.Import)
	case tx.h.st.Origin == regImporting:
		err = errors.New("the registry is being filled from the legacy metadata group; retry")
	default:
		if ch, err = applyMeta(tx, &c); err == nil && tx.h.st.Origin == regEmpty {
			tx.h.st.Origin = regFresh
		}
	}
	var se storageError
	if errors.As(err, &se) {
		return sm.Result{}, err
	}
	return metaResult(ch, err), nil
}

// flush writes the changed nodes and counters and the state record into the batch.
func (tx *regTxn) flush() error {
	for id := range tx.dirtyNodes {
		b, err := msgpack.Marshal(tx.h.nodes[id])
		if err != nil {
			return err
		}
		if err := tx.b.Set(regIDKey(tx.kbuf[:0], regKeyNode, id), b, nil); err != nil {
			return err
		}
	}
	for id := range tx.dirtyLoads {
		k := regIDKey(tx.kbuf[:0], regKeyLoad, id)
		var err error
		if n := tx.h.loads[id]; n == 0 {
			delete(tx.h.loads, id)
			err = tx.b.Delete(k, nil)
		} else {
			err = tx.b.Set(k, binary.AppendUvarint(tx.vbuf[:0], uint64(n)), nil)
		}
		if err != nil {
			return err
		}
	}
	tx.vbuf = encodeRegState(tx.vbuf[:0], &tx.h.st)
	return tx.b.Set(regKey(tx.kbuf[:0], regKeyState), tx.vbuf, nil)
}

// metaTxn (meta_core.go) over the batch.

func (tx *regTxn) nodeList() []*NodeInfo {
	if tx.sorted == nil {
		tx.sorted = make([]*NodeInfo, 0, len(tx.h.nodes))
		for _, n := range tx.h.nodes {
			tx.sorted = append(tx.sorted, n)
		}
		sort.Slice(tx.sorted, func(i, j int) bool { return tx.sorted[i].ID < tx.sorted[j].ID })
	}
	return tx.sorted
}

func (tx *regTxn) node(id uint64) *NodeInfo {
	if n := tx.h.nodes[id]; n != nil {
		c := *n
		return &c
	}
	return nil
}

func (tx *regTxn) putNode(n *NodeInfo) {
	tx.h.nodes[n.ID] = n
	tx.dirtyNodes[n.ID] = true
	tx.sorted = nil
}

func (tx *regTxn) load(id uint64) int { return tx.h.loads[id] }

func (tx *regTxn) addLoad(id uint64, delta int) {
	tx.h.loads[id] += delta
	tx.dirtyLoads[id] = true
}

func (tx *regTxn) allocShard() uint64 {
	tx.h.st.NextShardID++
	return tx.h.st.NextShardID - 1
}

func (tx *regTxn) allocReplica() uint64 {
	tx.h.st.NextReplicaID++
	return tx.h.st.NextReplicaID - 1
}

func (tx *regTxn) channel(name string) (*ChannelInfo, error) {
	tx.kbuf = regChannelKey(tx.kbuf[:0], name)
	v, closer, err := tx.b.Get(tx.kbuf)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storageError{err}
	}
	defer closer.Close()
	ch, err := decodeChannel(name, v)
	if err != nil {
		return nil, storageError{err}
	}
	return ch, nil
}

func (tx *regTxn) putChannel(old, ch *ChannelInfo) error {
	tx.vbuf = encodeChannel(tx.vbuf[:0], ch)
	if err := tx.b.Set(regChannelKey(tx.kbuf[:0], ch.Name), tx.vbuf, nil); err != nil {
		return storageError{err}
	}
	var was []Replica
	if old != nil {
		was = old.Replicas
	} else {
		tx.h.st.Channels++
	}
	for _, r := range was {
		if ReplicaOn(ch.Replicas, r.NodeID) == 0 {
			if err := tx.b.Delete(regOnNodeKey(tx.kbuf[:0], r.NodeID, ch.Name), nil); err != nil {
				return storageError{err}
			}
		}
	}
	for _, r := range ch.Replicas {
		if ReplicaOn(was, r.NodeID) == 0 {
			if err := tx.b.Set(regOnNodeKey(tx.kbuf[:0], r.NodeID, ch.Name), nil, nil); err != nil {
				return storageError{err}
			}
		}
	}
	return nil
}

func (tx *regTxn) channelsOn(node uint64, fn func(*ChannelInfo) bool) error {
	p := regIDKey(nil, regKeyOnNode, node)
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return storageError{err}
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		name := string(it.Key()[len(p):])
		ch, err := tx.channel(name)
		if err != nil {
			return err
		}
		if ch == nil {
			return storageError{fmt.Errorf("per-node index names channel %s, which is not registered", name)}
		}
		if !fn(ch) {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return storageError{err}
	}
	return nil
}

func (tx *regTxn) owned(owner string) (int, error) {
	n, err := readOwned(tx.b, owner)
	if err != nil {
		return 0, storageError{err}
	}
	return n, nil
}

func (tx *regTxn) addOwned(owner string) error {
	n, err := tx.owned(owner)
	if err != nil {
		return err
	}
	if err := tx.b.Set(regOwnedKey(owner), binary.AppendUvarint(nil, uint64(n+1)), nil); err != nil {
		return storageError{err}
	}
	return nil
}

func regOwnedKey(owner string) []byte { return append(regKey(nil, regKeyOwned), owner...) }

// readOwned reads an owner's count from a batch or the DB.
func readOwned(r interface {
	Get([]byte) ([]byte, io.Closer, error)
}, owner string) (int, error) {
	v, closer, err := r.Get(regOwnedKey(owner))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, errors.New("store: registry: corrupt owner count")
	}
	return int(n), nil
}

func (tx *regTxn) raiseCursors(rule string, cursors map[string]uint64) error {
	for ch, seq := range cursors { // order does not matter: max per key
		k := regCursorKey(nil, rule, ch)
		old := uint64(0)
		v, closer, err := tx.b.Get(k)
		switch {
		case err == nil:
			old, _ = binary.Uvarint(v)
			closer.Close()
		case !errors.Is(err, pebble.ErrNotFound):
			return storageError{err}
		}
		if seq > old {
			if err := tx.b.Set(k, binary.AppendUvarint(nil, seq), nil); err != nil {
				return storageError{err}
			}
		}
	}
	return nil
}

// importChunk applies one MetaImport chunk: all of it, or (a rejection) nothing.
func (tx *regTxn) importChunk(c *ImportChunk) error {
	st := &tx.h.st
	switch {
	case c == nil || c.Total == 0 || len(c.Records) == 0:
		return errors.New("empty import chunk")
	case st.Origin == regFresh:
		return errors.New("the registry is in use: it takes no import")
	case st.Origin == regImported:
		return errors.New("the import is complete")
	case c.From != st.ImportNext:
		return fmt.Errorf("import chunk starts at record %d; the registry has %d", c.From, st.ImportNext)
	case st.Origin == regImporting && c.Total != st.ImportTotal:
		return fmt.Errorf("import chunk of an export of %d records; the registry imports one of %d", c.Total, st.ImportTotal)
	case c.From+uint64(len(c.Records)) > c.Total:
		return fmt.Errorf("import chunk runs past the export's %d records", c.Total)
	}
	for i, r := range c.Records {
		set := 0
		for _, p := range []bool{r.Head != nil, r.Node != nil, r.Channel != nil, r.Cursor != nil} {
			if p {
				set++
			}
		}
		switch {
		case set != 1:
			return fmt.Errorf("import record %d has %d parts, want 1", c.From+uint64(i), set)
		case (c.From+uint64(i) == 0) != (r.Head != nil):
			return fmt.Errorf("import record %d: the header is record 0 and only it", c.From+uint64(i))
		case r.Node != nil && r.Node.ID == 0:
			return fmt.Errorf("import record %d: node id 0", c.From+uint64(i))
		case r.Channel != nil && (r.Channel.Name == "" || len(r.Channel.Replicas) == 0):
			return fmt.Errorf("import record %d: a channel needs a name and a replica", c.From+uint64(i))
		case r.Cursor != nil && r.Cursor.Rule == "":
			return fmt.Errorf("import record %d: bridge cursor without a rule", c.From+uint64(i))
		}
	}
	for _, r := range c.Records {
		switch {
		case r.Head != nil:
			st.NextShardID, st.NextReplicaID = r.Head.NextShardID, r.Head.NextReplicaID
		case r.Node != nil:
			n := *r.Node
			n.Migrating = !n.Removed && !n.Pending
			tx.putNode(&n)
		case r.Channel != nil:
			old, err := tx.channel(r.Channel.Name)
			if err != nil {
				return err
			}
			if old != nil {
				for _, rp := range old.Replicas {
					tx.addLoad(rp.NodeID, -1)
				}
			}
			for _, rp := range r.Channel.Replicas {
				tx.addLoad(rp.NodeID, 1)
			}
			if err := tx.putChannel(old, r.Channel); err != nil {
				return err
			}
		case r.Cursor != nil:
			if err := tx.raiseCursors(r.Cursor.Rule, map[string]uint64{r.Cursor.Channel: r.Cursor.Seq}); err != nil {
				return err
			}
		}
	}
	st.ImportNext += uint64(len(c.Records))
	st.ImportTotal = c.Total
	st.Origin = regImporting
	if st.ImportNext == st.ImportTotal {
		st.Origin = regImported
	}
	return nil
}

// Lookup answers the metadata queries (meta.go) and MetaImportQuery. After Close, or once the DB is
// closed, it returns ErrClosed.
func (s *registrySM) Lookup(q any) (any, error) {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	s.mu.RLock()
	h, closed := s.head, s.closed
	s.mu.RUnlock()
	if closed || s.db.closed {
		return nil, ErrClosed
	}
	switch q := q.(type) {
	case *MetaChannelQuery:
		return s.lookupChannel(q.Name)
	case MetaChannelQuery:
		return s.lookupChannel(q.Name)
	case *MetaNodesQuery, MetaNodesQuery:
		out := make([]NodeInfo, 0, len(h.nodes))
		for _, n := range h.nodes {
			out = append(out, *n)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, nil
	case *MetaChannelsQuery:
		return s.channelPage(q.Prefix, q.After, q.Limit)
	case MetaChannelsQuery:
		return s.channelPage(q.Prefix, q.After, q.Limit)
	case *MetaNodeChannelsQuery:
		return s.nodeChannelPage(q.Node, q.After, q.Limit)
	case MetaNodeChannelsQuery:
		return s.nodeChannelPage(q.Node, q.After, q.Limit)
	case *MetaLoadsQuery, MetaLoadsQuery:
		return maps.Clone(h.loads), nil
	case *MetaStatsQuery, MetaStatsQuery:
		return MetaStats{Channels: h.st.Channels}, nil
	case *MetaOwnedQuery:
		return readOwned(s.db.pdb, q.Owner)
	case MetaOwnedQuery:
		return readOwned(s.db.pdb, q.Owner)
	case *MetaBridgeCursorsQuery:
		return s.cursors(q.Rule)
	case *MetaImportQuery, MetaImportQuery:
		st := h.st
		return ImportStatus{Started: st.Origin >= regImporting, Done: st.Origin == regImported, Fresh: st.Origin == regFresh,
			Next: st.ImportNext, Total: st.ImportTotal}, nil
	default:
		return nil, fmt.Errorf("unknown metadata query %T", q)
	}
}

// lookupChannel reads one entry; the caller holds db.mu.
func (s *registrySM) lookupChannel(name string) (*ChannelInfo, error) {
	v, closer, err := s.db.pdb.Get(regChannelKey(nil, name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeChannel(name, v)
}

// channelPage lists channels by name from one pebble iterator (a consistent view).
func (s *registrySM) channelPage(prefix, after string, limit int) (*ChannelPage, error) {
	limit = pageLimit(limit)
	p := regChannelKey(nil, prefix)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	page := &ChannelPage{}
	ok := it.First()
	if after >= prefix && after != "" {
		ok = it.SeekGE(append(regChannelKey(nil, after), 0))
	}
	for ; ok; ok = it.Next() {
		if len(page.Channels) == limit {
			page.Next = page.Channels[limit-1].Name
			break
		}
		ch, err := decodeChannel(string(it.Key()[2:]), it.Value())
		if err != nil {
			return nil, err
		}
		page.Channels = append(page.Channels, *ch)
	}
	return page, it.Error()
}

// nodeChannelPage lists the channels with a replica on node from the per-node index, reading the
// index and the entries from one pebble snapshot.
func (s *registrySM) nodeChannelPage(node uint64, after string, limit int) (*ChannelPage, error) {
	limit = pageLimit(limit)
	snap := s.db.pdb.NewSnapshot()
	defer snap.Close()
	p := regIDKey(nil, regKeyOnNode, node)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	page := &ChannelPage{}
	ok := it.First()
	if after != "" {
		ok = it.SeekGE(append(regOnNodeKey(nil, node, after), 0))
	}
	for ; ok; ok = it.Next() {
		if len(page.Channels) == limit {
			page.Next = page.Channels[limit-1].Name
			break
		}
		name := string(it.Key()[len(p):])
		v, closer, err := snap.Get(regChannelKey(nil, name))
		if err != nil {
			return nil, fmt.Errorf("store: registry: per-node index names %s: %w", name, err)
		}
		ch, err := decodeChannel(name, v)
		closer.Close()
		if err != nil {
			return nil, err
		}
		page.Channels = append(page.Channels, *ch)
	}
	return page, it.Error()
}

func (s *registrySM) cursors(rule string) (map[string]uint64, error) {
	p := regCursorKey(nil, rule, "")
	out := map[string]uint64{}
	err := scanPrefix(s.db.pdb, p, func(k, v []byte) error {
		seq, n := binary.Uvarint(v)
		if n <= 0 {
			return errors.New("store: registry: corrupt bridge cursor")
		}
		out[string(k[len(p):])] = seq
		return nil
	})
	return out, err
}

// Sync fsyncs pebble's WAL, making every Update applied so far durable.
func (s *registrySM) Sync() error { return s.db.syncWAL() }

// Close marks the state machine closed; later Lookups return ErrClosed. The shared DB stays open.
func (s *registrySM) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
