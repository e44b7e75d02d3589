package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/sampan-io/sampan/store"
)

// BenchmarkReplicaStartStop starts and stops new channel shards (R = 1) from 64 goroutines, as a
// node does while channels are created and passivate, with resident other replicas loaded meanwhile
// (each start and stop makes Dragonboat's workers rescan the loaded ones). It reports starts/s and
// the process's CPU per start + stop. Decision 0017 has the figures of upstream Dragonboat and of
// Sampan's copy:
//
//	go test ./cluster -run XXX -bench ReplicaStartStop -benchtime 3000x
func BenchmarkReplicaStartStop(b *testing.B) {
	for _, resident := range []int{0, 1000} {
		b.Run(fmt.Sprintf("resident=%d", resident), func(b *testing.B) {
			nh, db, addr := startTestHost(b, nil) // Sampan's default host config

			shardConfig := ShardConfigFor(DefaultHostConfig("", "").RTTMillisecond)
			members := map[uint64]dragonboat.Target{1: addr}
			channelSM := store.NewChannelStateMachine(db)
			next := store.FirstChannelShardID
			for range resident {
				if err := nh.StartOnDiskReplica(members, false, channelSM, shardConfig(next, 1)); err != nil {
					b.Fatal(err)
				}
				next++
			}
			var n atomic.Int64
			var wg sync.WaitGroup
			cpu0 := processCPU()
			b.ResetTimer()
			start := time.Now()
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
						shard := next + uint64(i)
						if err := nh.StartOnDiskReplica(members, false, channelSM, shardConfig(shard, 1)); err != nil {
							b.Error(err)
							return
						}
						if err := nh.StopShard(shard); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "starts/s")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
