package store

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/raftio"
)

// leaderWatch turns Dragonboat leader events into a channel so the test waits
// on the event instead of polling.
type leaderWatch struct{ ch chan raftio.LeaderInfo }

func (w leaderWatch) LeaderUpdated(info raftio.LeaderInfo) {
	select {
	case w.ch <- info:
	default: // never block Dragonboat's event goroutine
	}
}

func (w leaderWatch) wait(t *testing.T, shard, replica uint64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case info := <-w.ch:
			if info.ShardID == shard && info.LeaderID == replica {
				return
			}
		case <-deadline:
			t.Fatal("no leader elected")
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func quietDragonboat() {
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "raftpb", "config", "settings", "grpc", "tan"} {
		logger.GetLogger(p).SetLevel(logger.ERROR)
	}
}

func startNode(t *testing.T, dir, addr string) (*dragonboat.NodeHost, *DB, leaderWatch) {
	t.Helper()
	db, err := OpenDB(filepath.Join(dir, "kv"), DBOptions{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	w := leaderWatch{ch: make(chan raftio.LeaderInfo, 16)}
	nhc := config.NodeHostConfig{
		NodeHostDir:       filepath.Join(dir, "nh"),
		RTTMillisecond:    5,
		RaftAddress:       addr,
		RaftEventListener: w,
	}
	nhc.Expert.LogDB = config.GetTinyMemLogDBConfig()
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{ShardID: 1024, ReplicaID: 1, ElectionRTT: 10, HeartbeatRTT: 1, CheckQuorum: true}
	if err := nh.StartOnDiskReplica(map[uint64]string{1: addr}, false, NewChannelStateMachine(db), cfg); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 1024, 1)
	return nh, db, w
}

func propose(t *testing.T, nh *dragonboat.NodeHost, c *Command) PublishResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := nh.SyncPropose(ctx, nh.GetNoOPSession(1024), EncodeCommand(nil, c))
	if err != nil {
		t.Fatal(err)
	}
	if c.Op != OpPublish {
		return PublishResult{}
	}
	return pubRes(t, r)
}

func TestNodeHostIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NodeHost")
	}
	quietDragonboat()
	dir, addr := t.TempDir(), freeAddr(t)

	nh, db, _ := startNode(t, dir, addr)
	propose(t, nh, configure(1, ChannelConfig{DedupeWindow: int64(time.Hour)}))
	if pr := propose(t, nh, pubKeys(2, "a", "b")); !reflect.DeepEqual(pr.Seqs, []uint64{1, 2}) {
		t.Fatalf("%+v", pr)
	}
	if pr := propose(t, nh, pub(3, "c")); pr.Seqs[0] != 3 {
		t.Fatalf("%+v", pr)
	}
	v, err := nh.StaleRead(1024, FetchQuery{From: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := v.(*FetchResult)
	if len(before.Msgs) != 3 || string(before.Msgs[2].Payload) != "c" {
		t.Fatalf("fetch %+v", before)
	}
	nh.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	nh, db, _ = startNode(t, dir, addr)
	defer func() {
		nh.Close()
		db.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err = nh.SyncRead(ctx, 1024, FetchQuery{From: 1}) // linearizable: waits for replay
	if err != nil {
		t.Fatal(err)
	}
	if after := v.(*FetchResult); !reflect.DeepEqual(after, before) {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	// Seqs continue and dedupe state survived the restart.
	if pr := propose(t, nh, pubKeys(4, "a", "d")); !reflect.DeepEqual(pr.Seqs, []uint64{1, 4}) || !pr.Dup[0] {
		t.Fatalf("%+v", pr)
	}
	v, err = nh.StaleRead(1024, StateQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if st := v.(ChannelState); st.LastSeq != 4 || st.Msgs != 4 || !st.Configured {
		t.Fatalf("state %+v", st)
	}
}
