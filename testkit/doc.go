// Package testkit runs a whole Sampan cluster inside one `go test` process and breaks it on purpose:
// what hashicorp/raft's in-memory transport and Jepsen's nemesis give, in plain Go, for a system built
// from actors.
//
// NewCluster starts N real nodes (actor system, Dragonboat NodeHost, pebble store, client and HTTP
// listeners on 127.0.0.1 ephemeral ports) and stops them at t.Cleanup. Nothing of the product is mocked;
// only its plumbing is replaced through broker.Hooks:
//
//   - Raft traffic goes over Dragonboat's in-process channel transport (plugin/chan), wrapped so that
//     the cluster's Network decides per message batch and per link whether it arrives, late, or not at
//     all;
//   - actor traffic (protoactor remote, gRPC over real TCP) is dialled through a dialer that refuses
//     blocked links, cuts open connections when a link becomes blocked, and delays writes on slow ones;
//     the nodes' liveness probes use the same dialer, so they see what a real partition would show;
//   - by default every node's disks are in memory with crash semantics: Dragonboat's on lni/vfs
//     StrictMem, the message store's on pebble's crashable MemFS. Crash loses every write the node had
//     not fsynced, as a power failure would; Restart reopens what survived.
//
// The nemesis: Partition, Isolate, Heal, Crash, Restart, Stop, SlowLink, DropRate, and seeded random
// schedules (NewSchedule, Cluster.Run): a failing test prints its seed, and -testkit.seed=N replays it.
//
// Workloads record a History: Publisher publishes with idempotency keys and retries, Subscriber records
// what a subscription delivers across reconnects, ConsumerMember records what a durable consumer
// delivers to one member and the outcome of each of its acks. Cluster.Converge waits until replicas and subscribers
// caught up and returns every replica's log; CheckHistory then checks Sampan's promises (every acked
// publish on every replica at its seq, no seq reused, idempotent publishes stored once, subscribers in
// order with no gap) and names the channel, the seq and the history around each violation.
// Cluster.DrainConsumers waits until durable consumers settled everything; CheckConsumers then checks
// their promises (every stored message acked or dead-lettered, no phantom delivery, no delivery long
// after a confirmed ack).
//
// Cluster.ProbeGateways is a protoactor-go TestProbe that sees every message the nodes' gateway actors
// receive, for actor-level assertions (for example: one publish reaches exactly one gateway per node
// with subscribers).
//
// Several actor systems in one process trip an upstream race in protoactor-go's gRPC logger setup, so
// NewCluster with more than one node skips the test under -race; the pure parts (link state,
// schedules, checkers) are race-tested. See testkit/README.md for a complete failure test.
package testkit
