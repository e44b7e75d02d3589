package testkit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestNetworkPartitionAndHeal(t *testing.T) {
	n := NewNetwork(1)
	all := []NodeID{1, 2, 3, 4, 5}
	n.Partition(all, []NodeID{1, 2}, []NodeID{3, 4})
	for _, c := range []struct {
		a, b    NodeID
		blocked bool
	}{{1, 2, false}, {2, 1, false}, {3, 4, false}, {1, 3, true}, {4, 2, true}, {5, 1, true}, {3, 5, true}} {
		if got := n.blocked(c.a, c.b); got != c.blocked {
			t.Errorf("%d->%d blocked %v, want %v (%s)", c.a, c.b, got, c.blocked, n)
		}
		if lost, _ := n.decide(c.a, c.b); lost != c.blocked {
			t.Errorf("%d->%d lost %v, want %v", c.a, c.b, lost, c.blocked)
		}
	}
	n.Heal()
	if n.blocked(1, 3) || n.String() != "healthy" {
		t.Fatalf("after heal: %s", n)
	}
	n.setDown(2, true)
	if !n.blocked(1, 2) || !n.blocked(2, 3) || n.blocked(1, 3) {
		t.Fatalf("down node 2: %s", n)
	}
	n.Heal()
	if !n.blocked(1, 2) {
		t.Fatal("heal brought a down node back")
	}
}

func TestNetworkDropRateIsSeededAndRoughlyRight(t *testing.T) {
	run := func(seed uint64) []bool {
		n := NewNetwork(seed)
		n.SetLink(1, 2, Link{Drop: 0.3, Delay: time.Millisecond})
		out := make([]bool, 2000)
		for i := range out {
			var d time.Duration
			out[i], d = n.decide(1, 2)
			if d != time.Millisecond {
				t.Fatalf("delay %v", d)
			}
		}
		return out
	}
	a, b := run(9), run(9)
	lost := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different drop decisions")
		}
		if a[i] {
			lost++
		}
	}
	if lost < 450 || lost > 750 {
		t.Fatalf("%d of 2000 lost at p=0.3", lost)
	}
}

// TestDialerObeysLinks: the actor dialer refuses a blocked link and a partition cuts a connection that
// is already open.
func TestDialerObeysLinks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	n := NewNetwork(1)
	n.actor[ln.Addr().String()] = 2
	dial := n.dialer(1)
	c, err := dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	n.Partition([]NodeID{1, 2}, []NodeID{1}, []NodeID{2})
	if _, err := c.Write([]byte("again")); err == nil {
		t.Fatal("write on a connection across a partition succeeded")
	}
	if _, err := dial(t.Context(), ln.Addr().String()); !errors.Is(err, ErrLinkBlocked) {
		t.Fatalf("dial across a partition: %v", err)
	}
	n.Heal()
	c2, err := dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	c2.Close()
}
