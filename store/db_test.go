package store

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestRegistryNeverReusesIDs(t *testing.T) {
	fs := vfs.NewMem()
	db := newMemDB(t, fs)
	if _, _, err := db.ChannelShard("orders", false); !errors.Is(err, ErrChannelNotFound) {
		t.Fatalf("missing channel: %v", err)
	}
	id, created, err := db.ChannelShard("orders", true)
	if err != nil || !created || id != FirstChannelShardID {
		t.Fatalf("create orders: %d %v %v", id, created, err)
	}
	id, created, err = db.ChannelShard("orders", true)
	if err != nil || created || id != FirstChannelShardID {
		t.Fatalf("existing orders: %d %v %v", id, created, err)
	}
	if id, _, _ := db.ChannelShard("audit", true); id != FirstChannelShardID+1 {
		t.Fatalf("audit got %d", id)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = newMemDB(t, fs)
	defer db.Close()
	if id, created, err := db.ChannelShard("orders", false); err != nil || created || id != FirstChannelShardID {
		t.Fatalf("orders after reopen: %d %v %v", id, created, err)
	}
	if id, created, _ := db.ChannelShard("billing", true); !created || id != FirstChannelShardID+2 {
		t.Fatalf("billing got %d", id)
	}
	chs, err := db.Channels()
	if err != nil {
		t.Fatal(err)
	}
	want := []ChannelEntry{{"audit", 1025}, {"billing", 1026}, {"orders", 1024}}
	if !reflect.DeepEqual(chs, want) {
		t.Fatalf("channels %v", chs)
	}
	if _, _, err := db.ChannelShard("", true); err == nil {
		t.Fatal("empty name accepted")
	}
}
