package store

import (
	"fmt"
	"runtime"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// BenchmarkMetaCreate: one channel create (one Update of one entry, as a proposal applies) on the
// on-disk registry with 10,000 or 1,000,000 channels already registered on 3 nodes. Placement reads
// the per-node counters, so the cost should not grow with the registry. It also reports the Go heap
// the registered channels hold (heap in use after a GC, with the registry against without it, per
// channel).
//
//	go test ./store -run XXX -bench MetaCreate
func BenchmarkMetaCreate(b *testing.B) {
	parent := b // its cleanups (the stores) run after every sub-benchmark
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, perChannel := registryWith(parent, b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				created++
				if r := h.update(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("new.%d", created), Replicas: 3}); r[0].Value == ResultRejected {
					b.Fatalf("%s", r[0].Data)
				}
			}
			b.ReportMetric(perChannel, "heapB/channel") // after ResetTimer, which drops reported metrics
		})
	}
}

// BenchmarkLegacyMetaCreate is the same create on the legacy in-memory state, for comparison.
func BenchmarkLegacyMetaCreate(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			before := heapInUse()
			s := NewMetaState()
			for id := uint64(1); id <= 3; id++ {
				regNode(s, id)
			}
			for i := 0; i < n; i++ {
				_, _ = s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("pre.%d", i), Replicas: 3})
			}
			perChannel := float64(heapInUse()-before) / float64(n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("new.%d", i), Replicas: 3}); err != nil {
					b.Fatal(err)
				}
			}
			runtime.KeepAlive(s)
			b.ReportMetric(perChannel, "heapB/channel")
		})
	}
}

var (
	registries = map[int]*regHarness{} // filled once per size: the benchmark function runs several times
	heapPer    = map[int]float64{}
	created    int
)

// registryWith returns a registry with n channels on 3 nodes, on a store that lives as long as parent,
// and the Go heap per channel it holds.
func registryWith(parent, b *testing.B, n int) (*regHarness, float64) {
	if h := registries[n]; h != nil {
		h.t = b
		return h, heapPer[n]
	}
	h := newRegHarness(parent)
	h.t = b
	h.update(registerCmd(1), registerCmd(2), registerCmd(3))
	before := heapInUse()
	const batch = 1000
	cmds := make([]*MetaCommand, 0, batch)
	for i := 0; i < n; i++ {
		cmds = append(cmds, &MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("pre.%07d", i), Replicas: 3})
		if len(cmds) == batch || i == n-1 {
			h.update(cmds...)
			cmds = cmds[:0]
		}
	}
	if st := h.lookup(MetaStatsQuery{}).(MetaStats); st.Channels != uint64(n) {
		b.Fatalf("%d channels registered, want %d", st.Channels, n)
	}
	heapPer[n] = float64(heapInUse()-before) / float64(n)
	registries[n] = h
	return h, heapPer[n]
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// BenchmarkMigrationImport: the import of a frozen legacy state of 100,000 channels (3 replicas each)
// into the registry, in 512 KiB chunks, as the registry's replicas apply it (without the Raft log's
// own writes). Reports channels imported per second and the chunks' encoded size.
func BenchmarkMigrationImport(b *testing.B) {
	const n = 100_000
	m := NewMetaStateMachine(LegacyMetaShardID, 1).(*metaSM)
	for id := uint64(1); id <= 3; id++ {
		_, _ = m.state.Apply(&MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: id, Raft: fmt.Sprint(id), Registry: RegistryVersion}})
	}
	for i := 0; i < n; i++ {
		_, _ = m.state.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("orders.region-%02d.customer-%07d", i%50, i), Replicas: 3})
	}
	if _, err := m.state.Apply(&MetaCommand{Op: MetaMigrate, Migrate: &MigrateInfo{Voters: map[uint64]string{1: "1"}}}); err != nil {
		b.Fatal(err)
	}
	var cmds [][]byte
	size := 0
	for from := uint64(0); ; {
		v, err := m.Lookup(&MetaExportQuery{From: from})
		if err != nil {
			b.Fatal(err)
		}
		c := v.(*ImportChunk)
		cmds = append(cmds, EncodeMetaCommand(&MetaCommand{Op: MetaImport, Import: c}))
		size += len(cmds[len(cmds)-1])
		if from = c.From + uint64(len(c.Records)); from == c.Total {
			break
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := newRegHarness(b)
		for _, cmd := range cmds {
			h.index++
			out, err := h.sm.Update([]sm.Entry{{Index: h.index, Cmd: cmd}})
			if err != nil || out[0].Result.Value == ResultRejected {
				b.Fatalf("import: %v %s", err, out[0].Result.Data)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "channels/s")
	b.ReportMetric(float64(size)/n, "B/channel")
	b.ReportMetric(float64(len(cmds)), "chunks")
}
