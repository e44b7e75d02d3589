// Package store holds Sampan's replicated channel log: a Dragonboat on-disk
// state machine per channel (one Raft shard per channel) over ONE pebble/v2
// database per node that every channel shard on the node shares, and the
// cluster's metadata state machines (meta.go, registry.go), the on-disk one
// in that same database.
//
// # Determinism
//
// Update never reads a clock, a random source or map iteration order. Time
// enters only through Command.Time, assigned by the proposer (the channel
// actor). Each shard keeps a monotonic "clock": the largest Command.Time it has
// applied. A stored message's Time is that clock after applying the command
// (so max(cmd.Time, every earlier command time)), which makes message times
// non-decreasing per channel even when proposers' clocks disagree. Retention by
// age and dedupe expiry are measured against the same clock.
//
// # Durability
//
// Update writes each batch of entries, together with the shard's applied index,
// in one pebble batch committed with NoSync: the Raft log (Dragonboat's LogDB)
// has already fsynced the entries, and pebble's WAL is a prefix-ordered log, so
// after a crash the state that survives is some applied-index-consistent prefix
// and Dragonboat replays the rest. Sync fsyncs the WAL (db.LogData(nil, Sync));
// Dragonboat calls it before compacting its log.
//
// # Key layout
//
// All keys start with one prefix byte:
//
//	0x10 <shard 8B BE> 0x01                -> shard state record (see encodeState)
//	0x10 <shard 8B BE> 0x02 <seq 8B BE>    -> message value (see below)
//	0x10 <shard 8B BE> 0x03 <idem key>     -> dedupe record: seq 8B BE, time 8B BE(ordered)
//	0x10 <shard 8B BE> 0x04 <time 8B> <idem key> -> empty; dedupe expiry index
//	0x10 <shard 8B BE> 0x05 <consumer name> -> durable consumer: msgpack ConsumerInfo (consumer.go)
//
// (the on-disk metadata registry has the prefix 0x20: registry.go),
// so each shard's data is the single contiguous range [0x10|shard, 0x10|shard+1),
// which snapshots scan and RecoverFromSnapshot/Open clear with one DeleteRange.
// Times in keys are encoded order-preserving: uint64(t) XOR 1<<63, big endian.
//
// A message value is: time (8 bytes, uint64(t) BE) | headers | payload, where
// headers is uvarint(count) followed by count pairs of uvarint(len) bytes,
// uvarint(len) bytes, and the payload is the rest of the value. The size of that
// value is the message's size for ChannelState.Bytes, ChannelConfig.MaxBytes and
// FetchQuery.MaxBytes (see MsgSize).
//
// # Snapshot stream format
//
//	"SAMPSNP1"                         8-byte magic
//	repeated: uvarint(len(k)) k uvarint(len(v)) v
//	                                   k is the key with its 9-byte 0x10|shard
//	                                   prefix stripped (never empty), in key order
//	uvarint(0)                         end of records
//	crc32c (Castagnoli) BE             over every byte before it
//
// Stripping the shard id lets a snapshot be restored under any shard id.
package store
