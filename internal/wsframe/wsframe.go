// Package wsframe carries the protocol's frames over a WebSocket connection: one frame (its 4-byte
// length prefix included) per binary WebSocket message, in both directions (protocol/PROTOCOL.md §1).
// Conn presents the connection as the byte stream a TCP connection is, so that the server's session
// and the Go client read and write it with the same code. Each message's length prefix is checked
// against the frame limit before its body is read or allocated, and its end must be the frame's.
package wsframe

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/protocol"
)

// Conn is a net.Conn over a WebSocket connection. A goroutine of its own reads messages ahead (up
// to readAhead bytes), so that Read can hand the session several frames at once and the session
// batches them as it batches a TCP stream's; Write belongs to one goroutine (the connection's
// writer). Close and the deadlines may be called from any goroutine.
type Conn struct {
	ws       *websocket.Conn
	maxFrame atomic.Uint32 // largest N accepted: a larger prefix is handed on and reading stops

	mu     sync.Mutex
	cond   *sync.Cond // signalled when q grows or shrinks, or on close
	q      [][]byte   // frames read ahead, the first one partly consumed (mu)
	qBytes int        // bytes in q (mu)
	err    error      // what ended the read-ahead, returned once q is empty (mu)
	closed bool       // (mu)

	// Owned by the writing goroutine.
	part []byte    // the start of a frame whose end the next Write brings
	cork *corkConn // under ws (and under its TLS), when it came from Listen or Dial's conn: nil otherwise
}

// readAhead bounds the bytes read ahead of the session beyond one frame: past it the read-ahead
// waits, the socket is not read, and TCP pushes back on the client.
const readAhead = 256 << 10

// New wraps ws and starts reading it; maxFrame is the largest N accepted (SetMaxFrame changes it).
// When ws runs over a connection from Listener or Cork, the messages of one Write leave in one
// syscall.
func New(ws *websocket.Conn, maxFrame uint32) *Conn {
	nc := ws.NetConn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	ck, _ := nc.(*corkConn)
	c := &Conn{ws: ws, cork: ck}
	c.cond = sync.NewCond(&c.mu)
	c.maxFrame.Store(maxFrame)
	// readMessage checks each length prefix against maxFrame before reading the body, and reads one
	// byte past the frame: gorilla's own limit is only a backstop.
	ws.SetReadLimit(1<<32 + 5)
	go c.readLoop()
	return c
}

// SetMaxFrame sets the largest frame accepted from now on.
func (c *Conn) SetMaxFrame(n uint32) { c.maxFrame.Store(n) }

func malformed(format string, args ...any) error {
	e := protocol.NewError(protocol.CodeMalformedFrame, format, args...)
	e.Fatal = true
	return e
}

// readLoop is the read-ahead goroutine: it reads one message after another, each checked to be
// exactly one frame, and queues them until an error (or a frame too large, queued as its bare length
// prefix for the session's reader to refuse).
func (c *Conn) readLoop() {
	for {
		f, err := c.readMessage()
		c.mu.Lock()
		for c.qBytes >= readAhead && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		if len(f) > 0 {
			c.q = append(c.q, f)
			c.qBytes += len(f)
		}
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// errTooLarge ends the read-ahead after a length prefix over the limit (which the session's reader
// answers with ERR frame_too_large).
var errTooLarge = errors.New("wsframe: frame too large")

// readMessage reads one message: a frame, its 4-byte prefix included.
func (c *Conn) readMessage() ([]byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			return nil, io.EOF
		}
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		return nil, malformed("a text WebSocket message: frames travel in binary messages, one each")
	}
	var hdr [4]byte
	switch n, err := io.ReadFull(r, hdr[:]); {
	case err == io.EOF:
		return nil, malformed("an empty WebSocket message: each carries one frame")
	case err == io.ErrUnexpectedEOF:
		return nil, malformed("a WebSocket message of %d bytes: a frame's length prefix is 4", n)
	case err != nil:
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > c.maxFrame.Load() {
		return hdr[:], errTooLarge
	}
	f := make([]byte, 4+int(size))
	copy(f, hdr[:])
	if n, err := io.ReadFull(r, f[4:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return f[:4+n], malformed("a WebSocket message ended %d bytes inside its frame of %d", int(size)-n, size)
		}
		return nil, err
	}
	var one [1]byte
	n, err := r.Read(one[:])
	for n == 0 && err == nil {
		n, err = r.Read(one[:])
	}
	switch {
	case n > 0:
		return f, malformed("a WebSocket message holds more than one frame: one each")
	case err != io.EOF:
		return f, err
	}
	return f, nil
}

// Read hands out the frames read ahead as one stream, as many as fit in p, waiting only when none
// is there. A message that is not binary, is empty, ends inside its frame or holds more than one
// frame is a fatal malformed_frame error (*protocol.Error) after the frames before it; a normal
// close by the peer is io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.q) == 0 && c.err == nil && !c.closed {
		c.cond.Wait()
	}
	n := 0
	for n < len(p) && len(c.q) > 0 {
		m := copy(p[n:], c.q[0])
		n += m
		if c.q[0] = c.q[0][m:]; len(c.q[0]) == 0 {
			c.q[0] = nil
			c.q = c.q[1:]
		}
	}
	if n > 0 {
		c.qBytes -= n
		c.cond.Broadcast()
		return n, nil
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.err == errTooLarge {
		return 0, io.ErrUnexpectedEOF // the reader refused the prefix already; nothing follows it
	}
	return 0, c.err
}

// Listener wraps ln so that a WebSocket connection accepted from it (TLS on top of it or not) can
// send the messages of one Write with one syscall.
func Listener(ln net.Listener) net.Listener { return corkListener{ln} }

// Cork wraps a dialled connection likewise (for websocket.Dialer's NetDialContext).
func Cork(c net.Conn) net.Conn { return &corkConn{Conn: c} }

type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &corkConn{Conn: c}, nil
}

// corkConn passes writes through, except between cork and uncork, when it gathers them and writes
// them out at uncork: one syscall for a burst of messages instead of one each. Any goroutine may
// write (gorilla's control frames come from the reader's); mu orders them.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 1<<20 {
		c.buf = nil // don't pin a burst's buffer
	}
	return err
}

// WebSocket is the underlying connection.
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }

// Write sends each complete frame of p as one binary message; the start of a frame that p cuts off
// waits for the Write that completes it.
func (c *Conn) Write(p []byte) (int, error) {
	buf := p
	if len(c.part) > 0 {
		c.part = append(c.part, p...)
		buf = c.part
	}
	if c.cork != nil {
		c.cork.cork()
	}
	for len(buf) >= 4 {
		end := 4 + int(binary.BigEndian.Uint32(buf))
		if len(buf) < end {
			break
		}
		if err := c.ws.WriteMessage(websocket.BinaryMessage, buf[:end]); err != nil {
			if c.cork != nil {
				_ = c.cork.uncork()
			}
			return 0, err
		}
		buf = buf[end:]
	}
	if c.cork != nil {
		if err := c.cork.uncork(); err != nil {
			return 0, err
		}
	}
	if len(buf) > 0 {
		c.part = append(c.part[:0], buf...)
	} else {
		c.part = c.part[:0]
	}
	return len(p), nil
}

// Close sends a normal close message (best effort, within a second) and closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	err := c.ws.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (c *Conn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
