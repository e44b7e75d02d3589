package testkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"time"
)

// NodeID names a node of a simulated cluster: 1..N, the same as the broker's node id.
type NodeID = uint64

// Link is the fault state of the one-way link from one node to another. The zero value is a healthy
// link.
type Link struct {
	Blocked bool          // nothing gets through (a partition is two blocked links)
	Delay   time.Duration // every Raft message batch and every actor write waits this long first
	Drop    float64       // probability in [0, 1] that a Raft message batch is lost (Raft traffic only)
}

func (l Link) healthy() bool { return l == Link{} }

// Network holds the state of every link between the nodes of one cluster. The fault-injecting Raft
// transport and actor dialer of every node consult it on each send, so a change applies at once to
// traffic already flowing. Safe for concurrent use.
//
// Drops are decided by a random source seeded from the cluster's seed: which batches are lost still
// depends on timing, but the decision stream does not.
type Network struct {
	mu    sync.Mutex
	links map[[2]NodeID]Link
	down  map[NodeID]bool // crashed or stopped: every link to and from it is cut
	rng   *rand.Rand
	conns map[*faultConn]struct{}

	// raft and actor map addresses to node ids; set when the cluster is built, read-only after.
	raft  map[string]NodeID
	actor map[string]NodeID
}

// NewNetwork returns a network with every link healthy; drop decisions come from seed.
func NewNetwork(seed uint64) *Network {
	return &Network{links: map[[2]NodeID]Link{}, down: map[NodeID]bool{}, conns: map[*faultConn]struct{}{},
		rng: rand.New(rand.NewPCG(seed, 0x5a3a9)), raft: map[string]NodeID{}, actor: map[string]NodeID{}}
}

// SetLink sets the link from a to b (one direction) and cuts actor connections it now blocks.
func (n *Network) SetLink(from, to NodeID, l Link) {
	n.mu.Lock()
	if l.healthy() {
		delete(n.links, [2]NodeID{from, to})
	} else {
		n.links[[2]NodeID{from, to}] = l
	}
	n.mu.Unlock()
	n.cutBlocked()
}

// Link returns the state of the link from a to b as set (a down node's links are cut regardless).
func (n *Network) Link(from, to NodeID) Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[[2]NodeID{from, to}]
}

// update changes the link from a to b under the lock, without cutting connections.
func (n *Network) update(from, to NodeID, f func(*Link)) {
	l := n.links[[2]NodeID{from, to}]
	f(&l)
	if l.healthy() {
		delete(n.links, [2]NodeID{from, to})
	} else {
		n.links[[2]NodeID{from, to}] = l
	}
}

// Partition splits nodes into the given groups: links inside a group are left as they are, links
// between groups are blocked both ways. Nodes of nodes named in no group are each alone.
func (n *Network) Partition(nodes []NodeID, groups ...[]NodeID) {
	group := map[NodeID]int{}
	for i, g := range groups {
		for _, id := range g {
			group[id] = i + 1
		}
	}
	n.mu.Lock()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			if ga, gb := group[a], group[b]; ga == 0 || gb == 0 || ga != gb {
				n.update(a, b, func(l *Link) { l.Blocked = true })
			}
		}
	}
	n.mu.Unlock()
	n.cutBlocked()
}

// Heal makes every link healthy again (blocks, delays and drops all go). Down nodes stay down.
func (n *Network) Heal() {
	n.mu.Lock()
	n.links = map[[2]NodeID]Link{}
	n.mu.Unlock()
}

// setDown marks a node crashed or stopped (true) or running (false).
func (n *Network) setDown(id NodeID, down bool) {
	n.mu.Lock()
	n.down[id] = down
	n.mu.Unlock()
	n.cutBlocked()
}

// decide returns what happens to one Raft message batch from a to b: lost (blocked or dropped) and/or
// delayed.
func (n *Network) decide(from, to NodeID) (lost bool, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down[from] || n.down[to] {
		return true, 0
	}
	l := n.links[[2]NodeID{from, to}]
	if l.Blocked {
		return true, 0
	}
	if l.Drop > 0 && n.rng.Float64() < l.Drop {
		return true, l.Delay
	}
	return false, l.Delay
}

// actorLink returns what happens to one write on an actor connection from a to b. Drops do not apply:
// a byte stream cannot lose a message and stay usable, and remote's messages are at-most-once anyway.
func (n *Network) actorLink(from, to NodeID) (blocked bool, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down[from] || n.down[to] {
		return true, 0
	}
	l := n.links[[2]NodeID{from, to}]
	return l.Blocked, l.Delay
}

// blocked reports whether nothing gets from a to b now.
func (n *Network) blocked(from, to NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down[from] || n.down[to] || n.links[[2]NodeID{from, to}].Blocked
}

// String lists the faulty links, e.g. "1->2 blocked; 2->3 delay 20ms; node 3 down", for failure reports.
func (n *Network) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var parts []string
	for k, l := range n.links {
		var s []string
		if l.Blocked {
			s = append(s, "blocked")
		}
		if l.Delay > 0 {
			s = append(s, "delay "+l.Delay.String())
		}
		if l.Drop > 0 {
			s = append(s, fmt.Sprintf("drop %.2f", l.Drop))
		}
		parts = append(parts, fmt.Sprintf("%d->%d %s", k[0], k[1], strings.Join(s, ",")))
	}
	for id, d := range n.down {
		if d {
			parts = append(parts, fmt.Sprintf("node %d down", id))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, "; ")
}

// nodeByRaft and nodeByActor map a peer's address to its id (0: not a node of this cluster).
func (n *Network) nodeByRaft(addr string) NodeID  { return n.raft[addr] }
func (n *Network) nodeByActor(addr string) NodeID { return n.actor[addr] }

// track and untrack keep the live actor connections, so a partition can cut them.
func (n *Network) track(c *faultConn) {
	n.mu.Lock()
	n.conns[c] = struct{}{}
	n.mu.Unlock()
}

func (n *Network) untrack(c *faultConn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

// cutBlocked closes every tracked actor connection whose link is now blocked: a partition must also
// end the gRPC streams already open, not only refuse new ones.
func (n *Network) cutBlocked() {
	n.mu.Lock()
	var cut []*faultConn
	for c := range n.conns {
		if n.down[c.from] || n.down[c.to] || n.links[[2]NodeID{c.from, c.to}].Blocked {
			cut = append(cut, c)
		}
	}
	n.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// ErrLinkBlocked is returned by a node's dialer and transport when the simulated network does not let
// its traffic through.
var ErrLinkBlocked = errors.New("testkit: link blocked")

// faultConn is an actor (gRPC) connection from one node to another that obeys the link's state on
// every write.
type faultConn struct {
	net.Conn
	net      *Network
	from, to NodeID
	once     sync.Once
}

func (c *faultConn) Write(p []byte) (int, error) {
	blocked, delay := c.net.actorLink(c.from, c.to)
	if delay > 0 {
		time.Sleep(delay)
	}
	if blocked {
		// What remote sees when a real link goes away: the connection breaks.
		c.Close()
		return 0, ErrLinkBlocked
	}
	return c.Conn.Write(p)
}

// dialer returns node from's actor dialer (broker.Hooks.DialActor).
func (n *Network) dialer(from NodeID) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		to := n.nodeByActor(addr)
		if to != 0 && n.blocked(from, to) {
			return nil, fmt.Errorf("dial %s (node %d): %w", addr, to, ErrLinkBlocked)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil || to == 0 {
			return c, err
		}
		fc := &faultConn{Conn: c, net: n, from: from, to: to}
		n.track(fc)
		return fc, nil
	}
}

func (c *faultConn) Close() error {
	c.once.Do(func() { c.net.untrack(c) })
	return c.Conn.Close()
}
