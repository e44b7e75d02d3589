package store

import "encoding/binary"

// Key prefixes and per-shard kinds; see doc.go for the layout.
const (
	// 0x01 was the first single-node version's local channel registry, which the metadata Raft group
	// replaced; keep it unused.
	prefixShard byte = 0x10

	kindState    byte = 0x01
	kindMsg      byte = 0x02
	kindDedupe   byte = 0x03
	kindDedupeEx byte = 0x04
	kindConsumer byte = 0x05

	shardPrefixLen = 9 // prefixShard + shard id
)

// orderedTime maps int64 to uint64 so that byte order equals numeric order.
func orderedTime(t int64) uint64 { return uint64(t) ^ (1 << 63) }

func unorderedTime(u uint64) int64 { return int64(u ^ (1 << 63)) }

// shardPrefix appends 0x10|shard to dst.
func shardPrefix(dst []byte, shard uint64) []byte {
	dst = append(dst, prefixShard)
	return binary.BigEndian.AppendUint64(dst, shard)
}

// shardRange returns the [lo, hi) bounds of every key of shard.
func shardRange(shard uint64) (lo, hi []byte) {
	lo = shardPrefix(nil, shard)
	if shard == ^uint64(0) {
		hi = []byte{prefixShard + 1}
	} else {
		hi = shardPrefix(nil, shard+1)
	}
	return lo, hi
}

func stateKey(dst []byte, shard uint64) []byte {
	return append(shardPrefix(dst, shard), kindState)
}

func msgKey(dst []byte, shard, seq uint64) []byte {
	dst = append(shardPrefix(dst, shard), kindMsg)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// kindRange returns the [lo, hi) bounds of one kind of key of shard.
func kindRange(shard uint64, kind byte) (lo, hi []byte) {
	lo = append(shardPrefix(nil, shard), kind)
	hi = append(shardPrefix(nil, shard), kind+1)
	return lo, hi
}

func dedupeKey(dst []byte, shard uint64, idem []byte) []byte {
	dst = append(shardPrefix(dst, shard), kindDedupe)
	return append(dst, idem...)
}

func dedupeExpKey(dst []byte, shard uint64, t int64, idem []byte) []byte {
	dst = append(shardPrefix(dst, shard), kindDedupeEx)
	dst = binary.BigEndian.AppendUint64(dst, orderedTime(t))
	return append(dst, idem...)
}
