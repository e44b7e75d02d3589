package store

import (
	"path/filepath"
	"strconv"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func benchCmd(n, size int, keyed bool, seq *int) *Command {
	c := &Command{Op: OpPublish, Time: int64(*seq)}
	for i := 0; i < n; i++ {
		it := PublishItem{Payload: make([]byte, size)}
		if keyed {
			it.IdemKey = "key-" + strconv.Itoa(*seq)
		}
		*seq++
		c.Msgs = append(c.Msgs, it)
	}
	return c
}

// BenchmarkUpdate measures Update on a real on-disk pebble DB (NoSync commits)
// with 64 messages of 128 B per Update call, either as one entry of 64 items
// or as 64 single-item entries (what many concurrent proposals coalesce into).
func BenchmarkUpdate(b *testing.B) {
	cases := []struct {
		name           string
		entries, items int
		keyed          bool
		cfg            ChannelConfig
	}{
		{"1x64", 1, 64, false, ChannelConfig{}},
		{"64x1", 64, 1, false, ChannelConfig{}},
		{"1x64-dedupe", 1, 64, true, ChannelConfig{DedupeWindow: 1 << 40}},
		{"1x64-maxmsgs", 1, 64, false, ChannelConfig{MaxMsgs: 10_000}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			db, err := OpenDB(filepath.Join(b.TempDir(), "kv"), DBOptions{Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			h := newHarness(b, db, 1024, WithDefaultConfig(c.cfg))
			seq := 0
			batches := make([][]sm.Entry, 256)
			for i := range batches {
				cmds := make([]*Command, c.entries)
				for j := range cmds {
					cmds[j] = benchCmd(c.items, 128, c.keyed, &seq)
				}
				batches[i] = h.entries(cmds...)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				es := batches[i%len(batches)]
				if i >= len(batches) { // re-index reused batches past the applied index
					for j := range es {
						es[j].Index += uint64(len(batches) * len(es))
					}
				}
				if _, err := h.sm.Update(es); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			msgs := float64(b.N * c.entries * c.items)
			b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkEncodeCommand(b *testing.B) {
	seq := 0
	c := benchCmd(64, 128, false, &seq)
	c.Msgs[0].Headers = map[string]string{"content-type": "application/json"}
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = EncodeCommand(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeCommand(b *testing.B) {
	seq := 0
	enc := EncodeCommand(nil, benchCmd(64, 128, true, &seq))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeCommand(enc); err != nil {
			b.Fatal(err)
		}
	}
}
