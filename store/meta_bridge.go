package store

// The NATS bridge's export cursors in the metadata group: per export rule, per channel, the last seq
// the bridge knows NATS accepted. They live in the replicated metadata (not on one node's disk) because
// the bridge runs on whichever node leads the metadata group: after a restart or a leader change the
// next bridge resumes from them. Cursors only move forward: a write is applied as max(old, new) per
// channel, so a late write from a bridge that lost leadership cannot move a cursor back and re-export
// (and an at-least-once re-export after a crash only repeats what came after the last write).

// BridgeCursors is the payload of MetaSetBridgeCursors.
type BridgeCursors struct {
	Rule    string            `msgpack:"rule"`
	Cursors map[string]uint64 `msgpack:"cursors"` // channel -> last exported seq
}

// MetaBridgeCursorsQuery -> map[string]uint64 (channel -> seq), a copy; empty for an unknown rule.
type MetaBridgeCursorsQuery struct{ Rule string }

func (s *MetaState) raiseCursors(rule string, cursors map[string]uint64) error {
	if s.BridgeCursors == nil {
		s.BridgeCursors = map[string]map[string]uint64{}
	}
	m := s.BridgeCursors[rule]
	if m == nil {
		m = map[string]uint64{}
		s.BridgeCursors[rule] = m
	}
	for ch, seq := range cursors { // order does not matter: max per key
		if seq > m[ch] {
			m[ch] = seq
		}
	}
	return nil
}

func (s *MetaState) bridgeCursors(rule string) map[string]uint64 {
	out := map[string]uint64{}
	for ch, seq := range s.BridgeCursors[rule] {
		out[ch] = seq
	}
	return out
}
