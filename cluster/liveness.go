package cluster

import (
	"context"
	"net"
	"sync"
	"time"
)

// Liveness tracks which nodes answer, by dialling each node's actor (remote) address: a node whose
// process died refuses connections at once, so a short interval detects it in a few hundred ms. A node
// is down after Misses consecutive failed probes and up again at its first success. It is a local,
// best-effort view used for placement and for skipping dead nodes; correctness never depends on it (two
// nodes that disagree may briefly run two activations of a channel, and Raft still orders everything).
type Liveness struct {
	Interval time.Duration
	Timeout  time.Duration
	Misses   int
	// Addrs returns node id -> address to probe (this node excluded).
	Addrs func() map[uint64]string
	// OnDown, when set, is called (on the probing goroutine) when a node goes from up to down.
	OnDown func(id uint64, addr string)
	// Dial, when set before Start, replaces the plain TCP dial of a probe (the testkit's fault-injecting
	// dialer, so that a simulated partition is seen by the probes as it would be by a real one).
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	mu        sync.Mutex
	misses    map[uint64]int
	upSince   map[uint64]time.Time // first success of the current up period
	downSince map[uint64]time.Time // when the current down period was counted (Misses reached)
	stop      chan struct{}
	done      chan struct{}
}

// NewLiveness returns a tracker probing every 100 ms with a 200 ms timeout, down after 2 misses. Up and
// Suspect may be called before Start (every node counts as up until probed).
func NewLiveness(addrs func() map[uint64]string, onDown func(id uint64, addr string)) *Liveness {
	return &Liveness{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond, Misses: 2,
		Addrs: addrs, OnDown: onDown, misses: map[uint64]int{}, upSince: map[uint64]time.Time{}, downSince: map[uint64]time.Time{}}
}

// Start probes in the background until Stop.
func (l *Liveness) Start() {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.loop()
}

func (l *Liveness) loop() {
	defer close(l.done)
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		addrs := l.Addrs()
		var wg sync.WaitGroup
		for id, addr := range addrs {
			wg.Add(1)
			go func(id uint64, addr string) {
				defer wg.Done()
				c, err := l.dial(addr)
				if err == nil {
					c.Close()
				}
				l.mu.Lock()
				if err == nil {
					if l.misses[id] >= l.Misses || l.upSince[id].IsZero() {
						l.upSince[id] = time.Now()
					}
					l.misses[id] = 0
					delete(l.downSince, id)
				} else {
					l.misses[id]++
				}
				wentDown := l.misses[id] == l.Misses
				if _, ok := l.downSince[id]; !ok && l.misses[id] >= l.Misses {
					l.downSince[id] = time.Now()
				}
				l.mu.Unlock()
				if wentDown && l.OnDown != nil {
					l.OnDown(id, addr)
				}
			}(id, addr)
		}
		wg.Wait()
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

func (l *Liveness) dial(addr string) (net.Conn, error) {
	if l.Dial == nil {
		return net.DialTimeout("tcp", addr, l.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()
	return l.Dial(ctx, addr)
}

// Up reports whether node id is believed alive (unknown nodes are).
func (l *Liveness) Up(id uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.misses[id] < l.Misses
}

// UpFor reports whether node id has answered every probe for at least d (a node that just came back,
// or whose probes flap under load, is not). Decisions that move work to a node use it, so that a busy
// machine's late probe does not shuffle channels around.
func (l *Liveness) UpFor(id uint64, d time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, ok := l.upSince[id]
	return l.misses[id] < l.Misses && ok && time.Since(since) >= d
}

// UpSince returns when node id was last seen coming up (its first successful probe after being down,
// or after probing started); zero while it is down or not probed yet.
func (l *Liveness) UpSince(id uint64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.misses[id] >= l.Misses {
		return time.Time{}
	}
	return l.upSince[id]
}

// DownFor returns how long node id has been down without a successful probe, as this node has seen
// it (0 while it is up or not probed yet; a node that was down when this one started counts from its
// first failed probes).
func (l *Liveness) DownFor(id uint64, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, ok := l.downSince[id]
	if !ok || l.misses[id] < l.Misses {
		return 0
	}
	return now.Sub(since)
}

// Stop ends probing.
func (l *Liveness) Stop() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
}

// Suspect marks the node at addr down now (a peer saw its connection die); the next successful probe
// brings it back up.
func (l *Liveness) Suspect(addr string) {
	var down []uint64
	for id, a := range l.Addrs() {
		if a == addr {
			down = append(down, id)
		}
	}
	l.mu.Lock()
	for _, id := range down {
		l.misses[id] = l.Misses
		delete(l.upSince, id)
		if _, ok := l.downSince[id]; !ok {
			l.downSince[id] = time.Now()
		}
	}
	l.mu.Unlock()
}
