package gateway

import "sync"

// budget bounds a connection's unanswered publishes, by count and by bytes. The reader acquires before
// handing a PUB on; the session actor releases when the PUB is answered. Closing it wakes a blocked
// reader for good (the session is gone).
type budget struct {
	mu       sync.Mutex
	cond     *sync.Cond
	n, bytes int
	maxN     int
	maxBytes int
	closed   bool
	reqs     map[uint64]struct{} // request ids of the unanswered publishes
}

func newBudget(maxN, maxBytes int) *budget {
	b := &budget{maxN: maxN, maxBytes: maxBytes, reqs: map[uint64]struct{}{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// fits reports whether one more publish of size bytes may go now. A publish larger than the byte budget
// still goes through when nothing else is in flight, else it could never be sent.
func (b *budget) fits(size int) bool {
	return b.n < b.maxN && (b.bytes+size <= b.maxBytes || b.n == 0)
}

// tryAcquire takes a slot without waiting.
func (b *budget) tryAcquire(size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.fits(size) {
		return false
	}
	b.n++
	b.bytes += size
	return true
}

// acquire waits for a slot; false means the budget was closed.
func (b *budget) acquire(size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.closed && !b.fits(size) {
		b.cond.Wait()
	}
	if b.closed {
		return false
	}
	b.n++
	b.bytes += size
	return true
}

// claim records req as unanswered, reporting false when it already is (a client reusing the id of
// a publish still in flight).
func (b *budget) claim(req uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.reqs[req]; dup {
		return false
	}
	b.reqs[req] = struct{}{}
	return true
}

// release frees the slots and bytes of answered publishes and their request ids.
func (b *budget) release(reqs []uint64, size int) {
	b.mu.Lock()
	b.n -= len(reqs)
	b.bytes -= size
	for _, r := range reqs {
		delete(b.reqs, r)
	}
	b.mu.Unlock()
	b.cond.Broadcast()
}

// forget frees a request id that held no publish slot (an ACK's).
func (b *budget) forget(req uint64) {
	b.mu.Lock()
	delete(b.reqs, req)
	b.mu.Unlock()
}

// inflight returns the number of unanswered publishes, or -1 once closed.
func (b *budget) inflight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return -1
	}
	return b.n
}

func (b *budget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// pubSize is what a publish weighs in the byte budget.
func pubSize(payload []byte, headers map[string]string, idemKey string) int {
	n := len(payload) + len(idemKey)
	for k, v := range headers {
		n += len(k) + len(v)
	}
	return n
}
