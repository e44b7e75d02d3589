package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Moving the legacy group's state into the on-disk registry (docs/decisions/0016-on-disk-registry.md).
//
// The legacy group's leader proposes MetaMigrate once every node registered with RegistryVersion.
// Every legacy replica applies it at the same log index, so all of them hold the same state there, and
// from then on that state is frozen: every command is answered ResultMigrated. The voters it names
// start the registry's group (RegistryShardID) as its initial members; the registry's leader then reads
// the frozen state from its own legacy replica, a chunk at a time (MetaExportQuery), and proposes each
// chunk to the registry (MetaImport). The registry's state is therefore a function of its own log
// alone: a replica that joins it later, from a data dir that never held the legacy group, replays the
// import or receives it in a snapshot like any other state.
//
// The export is a sequence of records in an order every legacy replica computes the same way: one
// header (id counters), the nodes by id, the channels by name, the bridge cursors by rule and channel.
// The registry accepts a chunk only if it starts where the previous one ended, so a chunk proposed
// twice (a retry, or two leaders one after the other) is applied once.

// MigrateInfo is MetaMigrate's payload and, once applied, the legacy state's record of it.
type MigrateInfo struct {
	// Voters are the legacy group's voting members (node id -> Raft address) as the proposer read them:
	// the registry's group starts with exactly these as initial members; every other node joins it.
	Voters map[uint64]string `msgpack:"voters"`
	// Index is the legacy log index MetaMigrate was applied at, set by the legacy state machine.
	Index uint64 `msgpack:"index"`
}

// MetaMigrationQuery (legacy group) -> *MigrateInfo: nil while the state is not frozen.
type MetaMigrationQuery struct{}

// MetaExportQuery (legacy group, frozen) -> *ImportChunk: the export records from From on, about
// MaxBytes of them (0: 512 KiB), at least one while any is left.
type MetaExportQuery struct {
	From     uint64
	MaxBytes int
}

// ImportChunk is MetaImport's payload: records From .. From+len(Records)-1 of an export of Total.
type ImportChunk struct {
	From    uint64         `msgpack:"from"`
	Total   uint64         `msgpack:"total"`
	Records []ImportRecord `msgpack:"records"`
}

// ImportRecord is one record of the export: exactly one field is set.
type ImportRecord struct {
	Head    *ImportHead   `msgpack:"h,omitempty"`
	Node    *NodeInfo     `msgpack:"n,omitempty"`
	Channel *ChannelInfo  `msgpack:"c,omitempty"`
	Cursor  *CursorRecord `msgpack:"b,omitempty"`
}

// ImportHead is the export's first record: the legacy state's id counters.
type ImportHead struct {
	NextShardID   uint64 `msgpack:"next_shard"`
	NextReplicaID uint64 `msgpack:"next_replica"`
	LegacyIndex   uint64 `msgpack:"legacy_index"` // MigrateInfo.Index
}

// CursorRecord is one bridge cursor: rule, channel, last exported seq.
type CursorRecord struct {
	Rule    string `msgpack:"rule"`
	Channel string `msgpack:"channel"`
	Seq     uint64 `msgpack:"seq"`
}

const defaultExportBytes = 512 << 10

// migrate freezes the state. It refuses while a node that can hold a legacy replica registered with
// an older build: that node would reject MetaMigrate, keep applying commands to a state the others
// froze, and be left with a metadata group nobody else runs.
func (s *MetaState) migrate(m *MigrateInfo, index uint64) error {
	if m == nil || len(m.Voters) == 0 {
		return errors.New("migrate without voters")
	}
	for _, n := range s.nodeList() {
		if !n.Removed && !n.Pending && n.Registry < RegistryVersion {
			return fmt.Errorf("node %d runs a build without the on-disk registry", n.ID)
		}
	}
	s.Migrated = &MigrateInfo{Voters: m.Voters, Index: index}
	return nil
}

// legacyExport is the frozen state's record order, computed once.
type legacyExport struct {
	nodes   []uint64
	names   []string
	cursors []CursorRecord
}

func (e *legacyExport) total() uint64 {
	return 1 + uint64(len(e.nodes)) + uint64(len(e.names)) + uint64(len(e.cursors))
}

// frozenExport returns the export of the frozen state, nil while the state is not frozen.
func (m *metaSM) frozenExport() *legacyExport {
	names := m.sortedNames()
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	if m.export != nil {
		return m.export
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.state
	if s.Migrated == nil || len(names) != len(s.Channels) {
		return nil
	}
	ex := &legacyExport{names: names}
	for _, n := range s.nodeList() {
		ex.nodes = append(ex.nodes, n.ID)
	}
	for rule, cs := range s.BridgeCursors {
		for ch, seq := range cs {
			ex.cursors = append(ex.cursors, CursorRecord{Rule: rule, Channel: ch, Seq: seq})
		}
	}
	slices.SortFunc(ex.cursors, func(a, b CursorRecord) int {
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Channel, b.Channel)
	})
	m.export = ex
	return ex
}

// exportChunk answers MetaExportQuery.
func (m *metaSM) exportChunk(q *MetaExportQuery) (*ImportChunk, error) {
	ex := m.frozenExport()
	if ex == nil {
		return nil, errors.New("store: the legacy metadata is not frozen (no MetaMigrate applied)")
	}
	maxBytes := q.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultExportBytes
	}
	total := ex.total()
	if q.From > total {
		return nil, fmt.Errorf("store: export has %d records, asked from %d", total, q.From)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.state
	c := &ImportChunk{From: q.From, Total: total}
	size := 0
	for i := q.From; i < total && (size < maxBytes || len(c.Records) == 0); i++ {
		var r ImportRecord
		switch j := i - 1; {
		case i == 0:
			r.Head = &ImportHead{NextShardID: s.NextShardID, NextReplicaID: s.NextReplicaID, LegacyIndex: s.Migrated.Index}
			size += 48
		case j < uint64(len(ex.nodes)):
			n := *s.Nodes[ex.nodes[j]]
			r.Node = &n
			size += 64 + len(n.Raft) + len(n.Client) + len(n.Actor) + len(n.HTTP)
		case j < uint64(len(ex.nodes)+len(ex.names)):
			ch := s.Channels[ex.names[j-uint64(len(ex.nodes))]].clone()
			r.Channel = ch
			size += 24 + len(ch.Name) + 12*len(ch.Replicas)
		default:
			cr := ex.cursors[j-uint64(len(ex.nodes)+len(ex.names))]
			r.Cursor = &cr
			size += 24 + len(cr.Rule) + len(cr.Channel)
		}
		c.Records = append(c.Records, r)
	}
	return c, nil
}
