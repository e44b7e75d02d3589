package cluster

import (
	"net"
	"testing"
	"time"
)

// TestLivenessDownFor: a node whose address stops answering is down from its second missed probe,
// DownFor counts from then (also for one marked down by Suspect), and a successful probe ends it.
func TestLivenessDownFor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	l := NewLiveness(func() map[uint64]string { return map[uint64]string{2: addr} }, nil)
	l.Interval = 10 * time.Millisecond
	l.Start()
	defer l.Stop()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("node 2 up", func() bool { return !l.UpSince(2).IsZero() })
	if d := l.DownFor(2, time.Now()); d != 0 {
		t.Fatalf("DownFor of a node that answers: %v", d)
	}
	l.Suspect(addr)
	if d := l.DownFor(2, time.Now().Add(time.Minute)); d < time.Minute {
		t.Fatalf("DownFor a minute after Suspect: %v", d)
	}
	waitFor("node 2 up again after its next probe", func() bool { return l.DownFor(2, time.Now()) == 0 && l.Up(2) })
	ln.Close() // from now on every probe fails
	waitFor("node 2 down", func() bool { return !l.Up(2) })
	downAt := time.Now()
	if d := l.DownFor(2, downAt.Add(10*time.Minute)); d < 10*time.Minute || d > 10*time.Minute+time.Second {
		t.Fatalf("DownFor ten minutes after it went down: %v", d)
	}
	// More failed probes must not move the start of the down period.
	waitFor("three more failed probes", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.misses[2] >= l.Misses+3
	})
	if d := l.DownFor(2, downAt.Add(10*time.Minute)); d < 10*time.Minute || d > 10*time.Minute+time.Second {
		t.Fatalf("DownFor after more failed probes: %v", d)
	}
}
