package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// The on-disk registry's snapshot stream: what a joining or lagging replica of the metadata group
// receives (Dragonboat's periodic snapshots of an on-disk state machine carry no data). It is every
// registry key as of PrepareSnapshot, in the channel snapshots' format (doc.go) under its own magic.

var regSnapMagic = []byte("SAMPREG1")

// PrepareSnapshot pins a pebble snapshot (Dragonboat calls it mutually exclusive with Update, so it
// captures a whole number of Updates, the state record with them).
func (s *registrySM) PrepareSnapshot() (any, error) {
	if err := s.db.rlockOpen(); err != nil {
		return nil, err
	}
	defer s.db.mu.RUnlock()
	return &snapCtx{snap: s.db.pdb.NewSnapshot()}, nil
}

// SaveSnapshot streams every registry key as of PrepareSnapshot, then releases the pebble snapshot.
func (s *registrySM) SaveSnapshot(ctx any, w io.Writer, stopc <-chan struct{}) error {
	sc, ok := ctx.(*snapCtx)
	if !ok {
		return fmt.Errorf("store: bad snapshot context %T", ctx)
	}
	defer sc.snap.Close()
	if err := s.db.rlockOpen(); err != nil {
		return err
	}
	defer s.db.mu.RUnlock()
	lo, hi := registryRange()
	return writeSnapshotRange(sc.snap, lo, hi, 1, regSnapMagic, w, stopc)
}

// RecoverFromSnapshot replaces the registry with the stream: one DeleteRange, the records in batches
// of at most recoverChunk bytes, and the state record last, once the checksum verified, in a batch
// committed with sync. A crash leaves either the whole new registry or no state record, which Open
// treats as empty (and Dragonboat sends the snapshot again).
func (s *registrySM) RecoverFromSnapshot(r io.Reader, stopc <-chan struct{}) error {
	if err := s.db.rlockOpen(); err != nil {
		return err
	}
	defer s.db.mu.RUnlock()
	lo, hi := registryRange()
	stateKey := regKey(nil, regKeyState)
	isState := func(k []byte) bool { return string(k) == string(stateKey) }
	b, state, err := s.db.recoverRange(r, regSnapMagic, []byte{prefixRegistry}, lo, hi, isState, stopc)
	defer b.Close()
	if err != nil {
		return err
	}
	if state == nil {
		return errors.New("store: registry snapshot without a state record")
	}
	if err := b.Set(stateKey, state, nil); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	h, found, err := loadRegHead(s.db.pdb)
	if err != nil {
		return err
	}
	if !found {
		return errors.New("store: registry state record missing after recovery")
	}
	s.head = h
	return nil
}

// readSnapshotRecords reads a snapshot stream with the given magic and calls fn with each record, its
// key prefixed with prefix (k and v are valid only during the call). It returns an error if the
// stream is cut, malformed or fails its checksum; fn has then seen records that must be discarded.
func readSnapshotRecords(r io.Reader, magic, prefix []byte, stopc <-chan struct{}, fn func(k, v []byte) error) error {
	crc := crc32.New(crcTable)
	br := bufio.NewReaderSize(r, 64<<10)
	tr := &teeByteReader{r: br, h: crc}
	got := make([]byte, len(magic))
	if _, err := io.ReadFull(tr, got); err != nil || string(got) != string(magic) {
		return fmt.Errorf("store: not a %s snapshot (%v)", magic, err)
	}
	key := append([]byte(nil), prefix...)
	var val []byte
	for n := 0; ; n++ {
		if n%1024 == 0 {
			select {
			case <-stopc:
				return sm.ErrSnapshotStopped
			default:
			}
		}
		kl, err := binary.ReadUvarint(tr)
		if err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
		if kl == 0 {
			break
		}
		if kl > 1<<20 {
			return errors.New("store: snapshot: key too long")
		}
		key = append(key[:len(prefix)], make([]byte, kl)...)
		if _, err := io.ReadFull(tr, key[len(prefix):]); err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
		vl, err := binary.ReadUvarint(tr)
		if err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
		if vl > 1<<31 {
			return errors.New("store: snapshot: value too long")
		}
		if uint64(cap(val)) < vl {
			val = make([]byte, vl)
		}
		val = val[:vl]
		if _, err := io.ReadFull(tr, val); err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	sum := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(br, tail[:]); err != nil {
		return fmt.Errorf("store: snapshot checksum: %w", err)
	}
	if binary.BigEndian.Uint32(tail[:]) != sum {
		return errors.New("store: snapshot checksum mismatch")
	}
	return nil
}
