package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/sampan-io/sampan/store"
)

// The move of a cluster's metadata from the legacy in-memory group (store.LegacyMetaShardID) to the
// on-disk registry (store.RegistryShardID), run by every node whose data dir holds the legacy group
// (docs/decisions/0016-on-disk-registry.md). Each node repeatedly observes where it stands
// (migrationView) and takes the one step nextMigrationStep names; every step is idempotent or
// recorded before it is taken, so a node that crashes anywhere takes up from what its data dir and
// the two groups say when it restarts:
//
//	propose-migrate  the legacy leader, once every node registered with this build, freezes the
//	                 legacy state with MetaMigrate (naming the legacy voters)
//	start-registry   each node whose legacy replica applied it starts its registry replica: as an
//	                 initial member if it is one of those voters, else as a joining one (the
//	                 registry's leader adds it, as it adds any node that is not a member)
//	import           the registry's leader copies the frozen state into the registry, chunk by chunk
//	switch           a node whose registry replica applied the last chunk reads and proposes there
//	register         ... and registers there, which clears its Migrating flag
//	cleanup          once no node is Migrating (every node has switched, so none needs the legacy log
//	                 any more), each node writes the marker file, stops its legacy replica and removes
//	                 its data
//
// While the legacy state is frozen and a node has not switched, it serves from the frozen state and
// its metadata changes wait for the switch (Meta.syncPropose).

// Migration steps, as nextMigrationStep names them, MigrationStatus shows them and MetaConfig.Hook
// is given them.
const (
	stepWaitNodes      = "wait-for-nodes" // the legacy state is not frozen: waiting for this node to lead and every node to run this build
	stepProposeMigrate = "propose-migrate"
	stepStartRegistry  = "start-registry"
	stepWaitImport     = "wait-for-import" // another node leads the registry and imports
	stepImport         = "import"
	stepSwitch         = "switch"
	stepRegister       = "register"
	stepWaitSwitched   = "wait-for-nodes-to-switch"
	stepCleanup        = "cleanup"
	stepDone           = "done"
	stepStuck          = "stuck" // the registry was used before the import: it takes none (see the log)
)

// migrationView is what a node observes of the migration.
type migrationView struct {
	frozen          bool // this node's legacy replica applied MetaMigrate
	legacyLeader    bool // this node leads the legacy group
	allRegistered   bool // every node that can hold a legacy replica registered with this build
	registryStarted bool // this node's registry replica runs
	registryFresh   bool // the registry applied other commands before any import
	imported        bool // this node's registry replica applied the import's last chunk
	registryLeader  bool // this node leads the registry's group
	switched        bool // this node reads and proposes on the registry
	registered      bool // this node's registry entry is not Migrating any more
	anyMigrating    bool // some node's registry entry still is
}

// nextMigrationStep is the step a node takes from what it observes. Pure.
func nextMigrationStep(v migrationView) string {
	switch {
	case !v.frozen:
		if v.legacyLeader && v.allRegistered {
			return stepProposeMigrate
		}
		return stepWaitNodes
	case !v.registryStarted:
		return stepStartRegistry
	case v.registryFresh:
		return stepStuck
	case !v.imported:
		if v.registryLeader {
			return stepImport
		}
		return stepWaitImport
	case !v.switched:
		return stepSwitch
	case !v.registered:
		return stepRegister
	case v.anyMigrating:
		return stepWaitSwitched
	}
	return stepCleanup
}

// MigrationStatus is where this node's migration to the on-disk registry stands.
type MigrationStatus struct {
	Step     string `json:"step"`               // the step last taken or waited at (see nextMigrationStep)
	Imported uint64 `json:"imported,omitempty"` // export records in this node's registry replica
	Total    uint64 `json:"total,omitempty"`    // of an export of this many
	Halted   bool   `json:"halted,omitempty"`   // stopped by MetaConfig.Hook (tests)
	Err      string `json:"error,omitempty"`    // the last step's error, if it failed
}

// Migration reports this node's migration, ok false when the node started on the registry.
func (m *Meta) Migration() (MigrationStatus, bool) {
	if st := m.migration.Load(); st != nil {
		return *st, true
	}
	return MigrationStatus{}, false
}

// migrate runs the migration until it is done, halted by the hook, or the node stops.
func (m *Meta) migrate(registryStarted bool) {
	defer m.wg.Done()
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, info, st, err := m.observe(ctx, registryStarted)
		step := stepWaitNodes
		if err == nil {
			step = nextMigrationStep(v)
		}
		if step != last {
			m.cfg.Log.Info().Str("step", step).Msg("metadata migration to the on-disk registry")
			last = step
		}
		status := &MigrationStatus{Step: step, Imported: st.Next, Total: st.Total}
		wait := step == stepWaitNodes || step == stepWaitImport || step == stepWaitSwitched || step == stepStuck
		if !wait && m.cfg.Hook != nil && !m.cfg.Hook(step) {
			status.Halted = true
			m.migration.Store(status)
			cancel()
			m.cfg.Log.Warn().Str("step", step).Msg("metadata migration halted by a test hook")
			return
		}
		if err == nil && !wait {
			err = m.takeStep(ctx, step, info)
			if err == nil && step == stepStartRegistry {
				registryStarted = true
			}
		}
		cancel()
		if err != nil {
			status.Err = err.Error()
			m.cfg.Log.Debug().Err(err).Str("step", step).Msg("metadata migration step failed; retrying")
			wait = true
		}
		if step == stepCleanup && err == nil {
			status.Step = stepDone
			m.migration.Store(status)
			m.cfg.Log.Info().Msg("metadata migration done: the legacy metadata group's data is removed")
			return
		}
		if step == stepStuck {
			status.Err = "the on-disk registry was used before the import; it takes none"
			m.cfg.Log.Error().Msg("metadata migration cannot finish: the on-disk registry was used before the legacy state was imported")
		}
		m.migration.Store(status)
		if !wait {
			continue
		}
		select {
		case <-m.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// observe reads the migration's state from the two groups' local replicas.
func (m *Meta) observe(ctx context.Context, registryStarted bool) (migrationView, *store.MigrateInfo, store.ImportStatus, error) {
	self := m.cfg.Self.ID
	v := migrationView{registryStarted: registryStarted, switched: m.ShardID() == store.RegistryShardID}
	var st store.ImportStatus
	info, err := m.legacyMigration()
	if err != nil {
		return v, nil, st, err
	}
	v.frozen = info != nil
	if !v.frozen {
		leader, _, ok, err := m.nh.GetLeaderID(store.LegacyMetaShardID)
		v.legacyLeader = err == nil && ok && leader == self
		if v.legacyLeader {
			nodes, err := m.nh.StaleRead(store.LegacyMetaShardID, &store.MetaNodesQuery{})
			if err != nil {
				return v, info, st, err
			}
			v.allRegistered = len(nodes.([]store.NodeInfo)) > 0
			for _, n := range nodes.([]store.NodeInfo) {
				if !n.Removed && !n.Pending && n.Registry < store.RegistryVersion {
					v.allRegistered = false
				}
			}
		}
		return v, info, st, nil
	}
	if !registryStarted {
		return v, info, st, nil
	}
	if r, err := m.nh.StaleRead(store.RegistryShardID, &store.MetaImportQuery{}); err == nil {
		st = r.(store.ImportStatus)
	} // else not loaded yet: nothing imported
	v.imported, v.registryFresh = st.Done, st.Fresh
	leader, _, ok, err := m.nh.GetLeaderID(store.RegistryShardID)
	v.registryLeader = err == nil && ok && leader == self
	if v.imported {
		r, err := m.nh.StaleRead(store.RegistryShardID, &store.MetaNodesQuery{})
		if err != nil {
			return v, info, st, err
		}
		for _, n := range r.([]store.NodeInfo) {
			if n.ID == self {
				v.registered = !n.Migrating
			}
			v.anyMigrating = v.anyMigrating || (n.Migrating && !n.Removed)
		}
	}
	return v, info, st, nil
}

// legacyMigration reads the legacy replica's record of MetaMigrate (nil: not frozen).
func (m *Meta) legacyMigration() (*store.MigrateInfo, error) {
	v, err := m.nh.StaleRead(store.LegacyMetaShardID, &store.MetaMigrationQuery{})
	if err != nil {
		return nil, err
	}
	return v.(*store.MigrateInfo), nil
}

// takeStep carries out one step.
func (m *Meta) takeStep(ctx context.Context, step string, info *store.MigrateInfo) error {
	self := m.cfg.Self.ID
	switch step {
	case stepProposeMigrate:
		mem, err := m.nh.SyncGetShardMembership(ctx, store.LegacyMetaShardID)
		if err != nil {
			return err
		}
		voters := map[uint64]string{}
		for id, addr := range mem.Nodes {
			voters[id] = addr
		}
		cmd := &store.MetaCommand{Op: store.MetaMigrate, Migrate: &store.MigrateInfo{Voters: voters}}
		r, err := m.nh.SyncPropose(ctx, m.nh.GetNoOPSession(store.LegacyMetaShardID), store.EncodeMetaCommand(cmd))
		if err == nil && r.Value == store.ResultRejected {
			err = fmt.Errorf("migrate refused: %s", r.Data)
		}
		return err
	case stepStartRegistry:
		if _, voter := info.Voters[self]; voter {
			initial := map[uint64]dragonboat.Target{}
			for id, addr := range info.Voters {
				initial[id] = addr
			}
			return m.startRegistry(initial, false)
		}
		return m.startRegistry(nil, true)
	case stepImport:
		r, err := m.nh.SyncRead(ctx, store.RegistryShardID, &store.MetaImportQuery{})
		if err != nil {
			return err
		}
		st := r.(store.ImportStatus)
		if st.Done {
			return nil
		}
		c, err := m.nh.StaleRead(store.LegacyMetaShardID, &store.MetaExportQuery{From: st.Next, MaxBytes: m.cfg.ExportBytes})
		if err != nil {
			return err
		}
		cmd := &store.MetaCommand{Op: store.MetaImport, Import: c.(*store.ImportChunk)}
		res, err := m.nh.SyncPropose(ctx, m.nh.GetNoOPSession(store.RegistryShardID), store.EncodeMetaCommand(cmd))
		if err == nil && res.Value == store.ResultRejected {
			err = fmt.Errorf("import chunk refused: %s", res.Data)
		}
		return err
	case stepSwitch:
		m.shard.Store(store.RegistryShardID)
		close(m.switched)
		return nil
	case stepRegister:
		return m.register(ctx)
	case stepCleanup:
		if err := writeDurable(m.cfg.file(migratedFile), "the metadata moved to the on-disk registry (shard 2); the legacy group (shard 1) is removed\n"); err != nil {
			return err
		}
		return m.removeLegacy()
	}
	return fmt.Errorf("unknown migration step %q", step)
}

// removeLegacy stops this node's legacy replica, if it runs, and removes its data.
func (m *Meta) removeLegacy() error {
	if err := m.nh.StopShard(store.LegacyMetaShardID); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		return fmt.Errorf("sampan: stop the legacy metadata replica: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.nh.SyncRemoveData(ctx, store.LegacyMetaShardID, m.cfg.Self.ID); err != nil {
		return fmt.Errorf("sampan: remove the legacy metadata replica's data: %w", err)
	}
	return nil
}

// writeDurable writes a small file atomically (rename) and durably (the file and its directory
// fsynced). An empty path writes nothing.
func writeDurable(path, content string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sampan: write %s: %w", tmp, err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("sampan: write %s: %w", path, err)
	}
	return nil
}
