package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

var snapMagic = []byte("SAMPSNP1")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// recoverChunk bounds the size of each pebble batch RecoverFromSnapshot commits.
const recoverChunk = 4 << 20

type snapCtx struct{ snap *pebble.Snapshot }

// PrepareSnapshot pins a pebble snapshot (Dragonboat calls it mutually
// exclusive with Update, so it captures a whole number of Updates).
func (s *channelSM) PrepareSnapshot() (interface{}, error) {
	if err := s.dbRLock(); err != nil {
		return nil, err
	}
	defer s.db.mu.RUnlock()
	return &snapCtx{snap: s.db.pdb.NewSnapshot()}, nil
}

// SaveSnapshot streams every key of the shard as of PrepareSnapshot in the
// format documented in doc.go, then releases the pebble snapshot.
func (s *channelSM) SaveSnapshot(ctx interface{}, w io.Writer, stopc <-chan struct{}) error {
	sc, ok := ctx.(*snapCtx)
	if !ok {
		return fmt.Errorf("store: bad snapshot context %T", ctx)
	}
	if err := s.dbRLock(); err != nil {
		return err
	}
	defer s.db.mu.RUnlock()
	defer sc.snap.Close()
	return writeSnapshot(sc.snap, s.shardID, w, stopc)
}

// writeSnapshot writes the shard's range of r (a pebble snapshot) to w.
func writeSnapshot(r *pebble.Snapshot, shard uint64, w io.Writer, stopc <-chan struct{}) error {
	lo, hi := shardRange(shard)
	return writeSnapshotRange(r, lo, hi, shardPrefixLen, snapMagic, w, stopc)
}

// writeSnapshotRange writes the keys of r in [lo, hi), each with its first strip bytes removed, in
// the stream format of doc.go under magic.
func writeSnapshotRange(r *pebble.Snapshot, lo, hi []byte, strip int, magic []byte, w io.Writer, stopc <-chan struct{}) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	if _, err := bw.Write(magic); err != nil {
		return err
	}
	var hdr []byte
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%1024 == 0 {
			select {
			case <-stopc:
				return sm.ErrSnapshotStopped
			default:
			}
		}
		k, v := it.Key()[strip:], it.Value()
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(k)))
		hdr = append(hdr, k...)
		hdr = binary.AppendUvarint(hdr, uint64(len(v)))
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := bw.WriteByte(0); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// RecoverFromSnapshot replaces the shard's data with the stream: one
// DeleteRange of the shard range, then the records in batches of at most
// recoverChunk bytes, the state record (which carries the applied index) in
// the last batch, written only after the checksum verified. Pebble's WAL is
// prefix-ordered, so a crash leaves either the full new state or no state
// record, and Open clears a range without a state record.
func (s *channelSM) RecoverFromSnapshot(r io.Reader, stopc <-chan struct{}) error {
	if err := s.dbRLock(); err != nil {
		return err
	}
	defer s.db.mu.RUnlock()
	lo, hi := shardRange(s.shardID)
	isState := func(key []byte) bool { return len(key) == shardPrefixLen+1 && key[shardPrefixLen] == kindState }
	b, state, err := s.db.recoverRange(r, snapMagic, shardPrefix(nil, s.shardID), lo, hi, isState, stopc)
	defer b.Close()
	if err != nil {
		return err
	}
	st, err := decodeState(state)
	if err != nil {
		return fmt.Errorf("store: snapshot state: %w", err)
	}
	if err := b.Set(stateKey(nil, s.shardID), state, nil); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	s.st = st
	return s.resetCaches()
}

// recoverRange starts replacing [lo, hi) with a snapshot stream's records (magic, keys under prefix):
// a DeleteRange and the records in batches of at most recoverChunk bytes, each committed unsynced as it
// fills. The state record (isState) is not written but returned, with the last batch still open: the
// caller adds the state to it once the stream verified and commits it. It returns the open batch even
// with an error, for the caller to close. The DB is read-locked by the caller.
func (db *DB) recoverRange(r io.Reader, magic, prefix, lo, hi []byte, isState func(key []byte) bool,
	stopc <-chan struct{}) (*pebble.Batch, []byte, error) {
	b := db.pdb.NewBatch()
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		return b, nil, err
	}
	var state []byte
	err := readSnapshotRecords(r, magic, prefix, stopc, func(key, val []byte) error {
		if isState(key) {
			state = append([]byte(nil), val...)
			return nil
		}
		if err := b.Set(key, val, nil); err != nil { // Set copies key and val
			return err
		}
		if b.Len() < recoverChunk {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Close()
		b = db.pdb.NewBatch()
		return nil
	})
	return b, state, err
}

// teeByteReader feeds everything read through it into a hash.
type teeByteReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	one [1]byte
}

func (t *teeByteReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.h.Write(p[:n])
	return n, err
}

func (t *teeByteReader) ReadByte() (byte, error) {
	c, err := t.r.ReadByte()
	if err == nil {
		t.one[0] = c
		t.h.Write(t.one[:])
	}
	return c, err
}
