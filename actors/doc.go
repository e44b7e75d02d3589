// Package actors holds Sampan's virtual actors. The channel actor (kind "channel", identity = channel name)
// owns its channel's Dragonboat shard on this node: it is activated by the first message for the channel,
// starts or reopens the shard, makes every proposal for it (many in flight; each session batch is one Raft
// entry and Dragonboat coalesces entries into batched applies), acknowledges a publish only after the entry
// is committed and applied, delivers committed messages to the gateways that registered interest, and is
// passivated after an idle time, stopping its shard and releasing its memory.
//
// Invariants:
//   - Completions are processed in proposal order, so acks and deliveries leave in seq order.
//   - The actor passivates only with no proposal in flight: every publish it accepted has been answered.
//   - Subscriptions do not live here but in sessions and gateways: passivation loses none of them.
package actors
