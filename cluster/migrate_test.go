package cluster

import "testing"

// TestNextMigrationStep walks the migration's decisions through the states a node can observe,
// including those a restart lands in (a frozen legacy state with no registry replica yet, an import
// half done, a node that switched while others have not).
func TestNextMigrationStep(t *testing.T) {
	cases := []struct {
		name string
		v    migrationView
		want string
	}{
		{"not frozen, follower", migrationView{allRegistered: true}, stepWaitNodes},
		{"not frozen, leader, an old-build node", migrationView{legacyLeader: true}, stepWaitNodes},
		{"not frozen, leader, every node upgraded", migrationView{legacyLeader: true, allRegistered: true}, stepProposeMigrate},
		{"frozen, no registry replica (restart after the freeze)", migrationView{frozen: true, legacyLeader: true}, stepStartRegistry},
		{"registry used before any import", migrationView{frozen: true, registryStarted: true, registryFresh: true, registryLeader: true}, stepStuck},
		{"importing, follower", migrationView{frozen: true, registryStarted: true}, stepWaitImport},
		{"importing, registry leader (also after a restart mid-import)", migrationView{frozen: true, registryStarted: true, registryLeader: true}, stepImport},
		{"imported, not switched", migrationView{frozen: true, registryStarted: true, imported: true}, stepSwitch},
		{"switched, not registered", migrationView{frozen: true, registryStarted: true, imported: true, switched: true, anyMigrating: true}, stepRegister},
		{"registered, others migrating", migrationView{frozen: true, registryStarted: true, imported: true, switched: true, registered: true, anyMigrating: true}, stepWaitSwitched},
		{"everyone switched", migrationView{frozen: true, registryStarted: true, imported: true, switched: true, registered: true}, stepCleanup},
	}
	for _, c := range cases {
		if got := nextMigrationStep(c.v); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
