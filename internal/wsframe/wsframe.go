// Package wsframe carries the protocol's frames over a WebSocket connection: one frame (its 4-byte
// length prefix included) per binary WebSocket message, in both directions (protocol/PROTOCOL.md §1).
// Conn presents the connection as the byte stream a TCP connection is, so that the server's session
// and the Go client read and write it with the same code; the rule of one frame per message is
// checked as the bytes stream through, without buffering a message whole.
package wsframe

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/protocol"
)

// Conn is a net.Conn over a WebSocket connection. Read belongs to one goroutine (the connection's
// reader) and Write to one other (its writer), as gorilla/websocket requires; Close and the deadlines
// may be called from any goroutine.
type Conn struct {
	ws *websocket.Conn

	// Owned by the reading goroutine.
	msg    io.Reader // the message being read; nil between messages
	hdr    [4]byte   // the current frame's length prefix
	hdrOut int       // bytes of hdr handed to the caller; 4 once its body is being read
	left   int64     // body bytes of the current frame not read yet
	rerr   error     // once set, every Read returns it

	// Owned by the writing goroutine.
	part []byte // the start of a frame whose end the next Write brings
}

// New wraps ws. The caller has set its read limit (the largest frame plus its 4-byte prefix).
func New(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// WebSocket is the underlying connection.
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }

func malformed(format string, args ...any) error {
	e := protocol.NewError(protocol.CodeMalformedFrame, format, args...)
	e.Fatal = true
	return e
}

// Read reads the frames of consecutive messages as one stream. A message that is not binary, is
// empty, ends inside its frame or holds more than one frame is a fatal malformed_frame error
// (*protocol.Error); a normal close by the peer is io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rerr != nil {
		return 0, c.rerr
	}
	n, err := c.read(p)
	if err != nil {
		c.rerr = err
	}
	return n, err
}

func (c *Conn) read(p []byte) (int, error) {
	for {
		if c.msg == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, malformed("a text WebSocket message: frames travel in binary messages, one each")
			}
			c.msg, c.hdrOut = r, -1
		}
		if c.hdrOut < 0 { // the message's first bytes: a frame's length prefix
			n, err := io.ReadFull(c.msg, c.hdr[:])
			switch {
			case err == io.EOF:
				return 0, malformed("an empty WebSocket message: each carries one frame")
			case err == io.ErrUnexpectedEOF:
				return 0, malformed("a WebSocket message of %d bytes: a frame's length prefix is 4", n)
			case err != nil:
				return 0, err
			}
			c.hdrOut, c.left = 0, int64(binary.BigEndian.Uint32(c.hdr[:]))
		}
		if c.hdrOut < 4 {
			n := copy(p, c.hdr[c.hdrOut:])
			c.hdrOut += n
			return n, nil
		}
		if c.left > 0 {
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.msg.Read(p)
			c.left -= int64(n)
			if err == io.EOF {
				if c.left > 0 {
					return n, malformed("a WebSocket message ended %d bytes inside its frame of %d", c.left, binary.BigEndian.Uint32(c.hdr[:]))
				}
				err = nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		// The frame is complete: its message must end here.
		var one [1]byte
		n, err := c.msg.Read(one[:])
		for n == 0 && err == nil {
			n, err = c.msg.Read(one[:])
		}
		switch {
		case n > 0:
			return 0, malformed("a WebSocket message holds more than one frame: one each")
		case err != io.EOF:
			return 0, err
		}
		c.msg = nil
	}
}

// Write sends each complete frame of p as one binary message; the start of a frame that p cuts off
// waits for the Write that completes it.
func (c *Conn) Write(p []byte) (int, error) {
	buf := p
	if len(c.part) > 0 {
		c.part = append(c.part, p...)
		buf = c.part
	}
	for len(buf) >= 4 {
		end := 4 + int(binary.BigEndian.Uint32(buf))
		if len(buf) < end {
			break
		}
		if err := c.ws.WriteMessage(websocket.BinaryMessage, buf[:end]); err != nil {
			return 0, err
		}
		buf = buf[end:]
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
