package gateway

import "github.com/sampan-io/sampan/store"

// cursor is the pure core of one subscription: which seq comes next, how much credit is left, and whether
// it must read from the store. It never buffers messages: a live message it cannot take right now (no
// credit, or a gap before it) is dropped and read back from the store later, which is what keeps a slow
// subscriber's memory bounded and lets it never slow anyone else.
//
// Invariants: next-1 is the last seq handed out; 0 <= credit <= window; handed-out seqs are consecutive
// except where retention deleted messages (next jumps to the store's first seq).
type cursor struct {
	next     uint64 // next seq to hand out (valid once resolved)
	tip      uint64 // highest committed seq known to exist
	credit   int
	window   int
	resolved bool
	fetching bool
}

func newCursor(window int) *cursor { return &cursor{credit: window, window: window} }

// resolve sets the start position once the channel answered.
func (c *cursor) resolve(start, last uint64) {
	c.next, c.resolved = start, true
	c.seeTip(last)
}

func (c *cursor) seeTip(last uint64) {
	if last > c.tip {
		c.tip = last
	}
}

// live offers committed messages in seq order; it returns those to hand out now.
func (c *cursor) live(msgs []store.Message, last uint64) []store.Message {
	c.seeTip(last)
	if n := len(msgs); n > 0 {
		c.seeTip(msgs[n-1].Seq)
	}
	if !c.resolved || c.fetching {
		return nil
	}
	return c.take(msgs)
}

// fetched takes a page read from the store.
func (c *cursor) fetched(msgs []store.Message, first, last uint64) []store.Message {
	c.fetching = false
	c.seeTip(last)
	if first > c.next {
		c.next = first // retention deleted what this subscriber had not read yet
	}
	out := c.take(msgs)
	if len(msgs) == 0 && c.next <= c.tip && last < c.next {
		// The store has nothing at or after next: what we thought was the tip is not readable (yet).
		c.tip = last
	}
	return out
}

func (c *cursor) take(msgs []store.Message) []store.Message {
	i := 0
	for i < len(msgs) && msgs[i].Seq < c.next {
		i++ // already handed out
	}
	j := i
	for j < len(msgs) && c.credit > 0 && msgs[j].Seq == c.next {
		c.next++
		c.credit--
		j++
	}
	return msgs[i:j]
}

// creditBack returns credit for n messages written to the socket.
func (c *cursor) creditBack(n int) {
	c.credit += n
	if c.credit > c.window {
		c.credit = c.window
	}
}

// wantFetch reports whether the subscription should read from the store now, and how many messages.
func (c *cursor) wantFetch() (bool, int) {
	if !c.resolved || c.fetching || c.credit == 0 || c.next > c.tip {
		return false, 0
	}
	return true, c.credit
}
