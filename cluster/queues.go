package cluster

import (
	_ "unsafe" // go:linkname
)

// Dragonboat sizes the fixed queues of every replica it loads from process-wide "soft settings"
// (internal/settings), read once into package variables when the dragonboat package initialises: the
// inbound Raft message queue (ReceiveQueueLength, default 1024: two 1024-slot arrays of ~300-byte
// messages, ~620 KB), the proposal queue (IncomingProposalQueueLength, 2048: ~330 KB) and the
// read-index queue (IncomingReadIndexQueueLength, 4096: ~64 KB). Together ~1.16 MB per resident
// replica, allocated at start and scanned by every GC, whether or not the channel is busy. Upstream
// offers no API to change them other than a dragonboat-soft-settings.json file in the process's
// working directory (or a test-only build tag), which a broker cannot rely on; so Sampan sets the
// package variables, before any NodeHost starts, through go:linkname. See
// docs/decisions/0014-residency.md for the sizes chosen and what they cost.

//go:linkname dragonboatReceiveQueueLen github.com/lni/dragonboat/v4.receiveQueueLen
var dragonboatReceiveQueueLen uint64

//go:linkname dragonboatProposalQueueLen github.com/lni/dragonboat/v4.incomingProposalsMaxLen
var dragonboatProposalQueueLen uint64

//go:linkname dragonboatReadIndexQueueLen github.com/lni/dragonboat/v4.incomingReadIndexMaxLen
var dragonboatReadIndexQueueLen uint64

//go:linkname dragonboatPendingProposalShards github.com/lni/dragonboat/v4.pendingProposalShards
var dragonboatPendingProposalShards uint64

//go:linkname dragonboatEntrySliceSize github.com/lni/dragonboat/v4/internal/raft.entrySliceSize
var dragonboatEntrySliceSize uint64

//go:linkname dragonboatMinEntrySliceSize github.com/lni/dragonboat/v4/internal/raft.minEntrySliceSize
var dragonboatMinEntrySliceSize uint64

// QueueSizes are the per-replica queue lengths (see above). Zero keeps Dragonboat's value.
//
// Two more fixed costs of a replica are set with them. PendingProposalShards (Dragonboat: 16) splits a
// replica's pending proposals over that many locked maps, each with its own math/rand source (~5 KB):
// ~85 KB per replica, for proposers racing on one shard, while a Sampan channel has one proposer (its
// actor). EntrySlice (Dragonboat: 512 entries, ~38 KB) is the initial capacity of the in-memory Raft
// log; a busy replica grows it as needed (MinEntrySliceFree is the free room that triggers a new slice).
type QueueSizes struct {
	Receive, Proposals, ReadIndex uint64
	PendingProposalShards         uint64
	EntrySlice, MinEntrySliceFree uint64
}

// DefaultQueueSizes are sized for a node that keeps thousands of replicas resident: ~0.2 MB each
// instead of ~1.16 MB. A proposal that finds its queue full is answered "busy" by Dragonboat and
// proposed again by the channel actor a moment later (never lost); the publish path coalesces a
// session's publishes into one proposal, so a queue of 256 is rarely full.
var DefaultQueueSizes = QueueSizes{Receive: 128, Proposals: 256, ReadIndex: 128,
	PendingProposalShards: 1, EntrySlice: 64, MinEntrySliceFree: 16}

// SetQueueSizes sets the queue lengths of replicas started from now on (process-wide: every NodeHost in
// the process). Call it before StartNodeHost; it must not race with replica starts.
func SetQueueSizes(q QueueSizes) {
	if q.Receive > 0 {
		dragonboatReceiveQueueLen = q.Receive
	}
	if q.Proposals > 0 {
		dragonboatProposalQueueLen = q.Proposals
	}
	if q.ReadIndex > 0 {
		dragonboatReadIndexQueueLen = q.ReadIndex
	}
	if q.PendingProposalShards > 0 {
		dragonboatPendingProposalShards = q.PendingProposalShards
	}
	if q.EntrySlice > 0 && q.MinEntrySliceFree > 0 && q.MinEntrySliceFree < q.EntrySlice {
		// Dragonboat panics on a replica start when min >= size.
		dragonboatEntrySliceSize, dragonboatMinEntrySliceSize = q.EntrySlice, q.MinEntrySliceFree
	}
}
