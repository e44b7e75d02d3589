// Package bridge connects Sampan channels and NATS subjects in both directions, inside the broker
// process.
//
// Export rules (CHANNEL_PATTERN=SUBJECT) publish every message of each matching channel to NATS, in
// seq order per channel, at least once: each rule keeps a cursor per channel (the last seq NATS
// accepted) in the cluster's replicated metadata, so a broker restart, a NATS outage or a change of the
// node running the bridge resumes from the cursor with no gap. Core NATS confirms with a flush
// round-trip; JetStream mode waits for the stream's PubAck and sets Nats-Msg-Id to CHANNEL:SEQ, so the
// stream drops the re-sends at-least-once delivery can produce.
//
// Import rules (SUBJECT=CHANNEL) publish each NATS message into the mapped channel through Sampan's
// client. Core NATS: a Nats-Msg-Id header becomes the idempotency key. JetStream mode: a durable pull
// consumer whose messages are acked only after Sampan acked the publish, with STREAM:SEQ as the
// idempotency key, so a replay after a crash stores nothing twice (within the channel's dedupe window).
//
// No loops: imported messages carry Sampan-Origin: nats and are never exported; exported messages carry
// Sampan-Channel and are never imported.
//
// The bridge is a cluster singleton: it runs on the node leading the metadata Raft group (Host.Leader)
// and talks to Sampan through the Go client over loopback, like any other client. Pure parts: pattern.go
// (NATS-style patterns and mappings) and config.go (rules, validation); the rest is the goroutine layer.
package bridge
