// Package cluster owns what one Sampan node needs to take part in Raft and in the actor cluster: the
// Dragonboat NodeHost (one per node, hosting every channel shard the node runs), the protoactor-go actor
// system with its cluster wiring, and the membership provider that feeds the actor cluster's member list.
//
// In the single-node broker the member list is just this node; the cluster issue replaces the static
// provider's source with the metadata Raft group without changing how actors or the gateway use it.
package cluster
