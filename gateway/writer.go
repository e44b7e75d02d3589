package gateway

import (
	"net"
	"sync"
	"time"

	"github.com/sampan-io/sampan/protocol"
)

// writer owns the socket's write side. Frames are encoded straight into a pending buffer by whoever
// produces them (reader goroutine, session actor) and a single goroutine writes the buffer out, so a
// burst of acks or messages becomes one syscall. The buffer is bounded by the session's limits, not here:
// in-flight publishes (acks), subscription windows (messages) and the reader's pause when too much is
// pending (errors, pongs).
type writer struct {
	conn    net.Conn
	timeout time.Duration

	mu      sync.Mutex
	cond    *sync.Cond // signalled when buf drained (reader backpressure)
	buf     []byte
	closed  bool
	closing bool // write what is pending, then close
	err     error

	wake chan struct{}
	done chan struct{}
}

func newWriter(conn net.Conn, timeout time.Duration) *writer {
	w := &writer{conn: conn, timeout: timeout, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.loop()
	return w
}

// send queues a frame.
func (w *writer) send(f protocol.Frame) {
	w.mu.Lock()
	if w.closed || w.closing {
		w.mu.Unlock()
		return
	}
	w.buf, _ = protocol.AppendFrame(w.buf, f) // only fails for a nil frame
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pending returns the bytes queued but not yet written.
func (w *writer) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// waitBelow blocks until fewer than n bytes are pending or the writer is closed.
func (w *writer) waitBelow(n int) {
	w.mu.Lock()
	for len(w.buf) >= n && !w.closed {
		w.cond.Wait()
	}
	w.mu.Unlock()
}

// closeAfterFlush writes what is pending, then closes the connection.
func (w *writer) closeAfterFlush() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// close closes the connection now, dropping anything pending.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	_ = w.conn.Close()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) loop() {
	defer close(w.done)
	var out []byte
	for range w.wake {
		for {
			w.mu.Lock()
			if w.closed {
				w.mu.Unlock()
				return
			}
			out, w.buf = w.buf, out[:0]
			closing := w.closing
			w.cond.Broadcast()
			w.mu.Unlock()
			if len(out) == 0 {
				if closing {
					w.close()
					return
				}
				break
			}
			if w.timeout > 0 {
				_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
			}
			if _, err := w.conn.Write(out); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				w.close()
				return
			}
			if cap(out) > 1<<20 {
				out = nil // don't pin a burst's buffer forever
			}
		}
	}
}
