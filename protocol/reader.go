package protocol

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// readerBufSize is the bufio buffer size. Frames whose body fits in it are
// decoded straight out of the bufio buffer (no intermediate copy); larger
// bodies are read into a fresh buffer that the decoded payload then aliases,
// so each body byte is copied out of the kernel's data at most once more.
const readerBufSize = 64 << 10

// Reader reads frames from a byte stream, enforcing a maximum frame size.
// It is not safe for concurrent use.
type Reader struct {
	br       *bufio.Reader
	maxFrame uint32
	hdr      [4]byte
}

// NewReader returns a Reader over r that rejects frames whose length field N
// (type byte + body) exceeds maxFrame; maxFrame 0 means DefaultMaxFrame.
// It wraps r in a 64 KiB bufio.Reader (or reuses r if it already is one at
// least that large).
func NewReader(r io.Reader, maxFrame uint32) *Reader {
	if maxFrame == 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Reader{br: bufio.NewReaderSize(r, readerBufSize), maxFrame: maxFrame}
}

// SetMaxFrame changes the limit applied to subsequent frames (0 means
// DefaultMaxFrame); a client uses it to adopt CONNACK.MaxFrame.
func (r *Reader) SetMaxFrame(maxFrame uint32) {
	if maxFrame == 0 {
		maxFrame = DefaultMaxFrame
	}
	r.maxFrame = maxFrame
}

// Buffered reports how many bytes are already buffered and can be consumed
// without another read from the underlying stream; a server can use it to
// batch the handling (and the replies) of frames that arrived together.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Next reads and decodes one frame.
//
// Errors:
//   - io.EOF: the stream ended cleanly at a frame boundary.
//   - io.ErrUnexpectedEOF: the stream ended inside a frame.
//   - *Error{CodeFrameTooLarge, Fatal: true}: the length exceeds the max
//     frame size. Nothing is allocated and the body is not consumed; the
//     stream must be abandoned.
//   - *Error{CodeMalformedFrame, Fatal: true}: the length is 0 (no type
//     byte); the stream must be abandoned.
//   - *Error{CodeMalformedFrame, Fatal: false}: the body is not valid for
//     its type. The frame was consumed; Next may be called again.
//   - *Error{CodeUnknownFrame, Fatal: false}: unknown frame type. The frame
//     was consumed (without buffering its body); Next may be called again.
//   - any other error from the underlying reader, unchanged.
//
// Returned frames never alias the Reader's buffers: payload slices and
// header maps belong to the caller.
func (r *Reader) Next() (Frame, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return nil, err // io.EOF if nothing was read, else io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n == 0 {
		return nil, &Error{Code: CodeMalformedFrame, Message: "frame length 0 (a frame has at least a type byte)", Fatal: true}
	}
	if n > r.maxFrame {
		// Built without fmt: this path is hit by hostile peers, keep it cheap.
		var buf [64]byte
		msg := append(buf[:0], "frame length "...)
		msg = strconv.AppendUint(msg, uint64(n), 10)
		msg = append(msg, " exceeds max frame "...)
		msg = strconv.AppendUint(msg, uint64(r.maxFrame), 10)
		return nil, &Error{Code: CodeFrameTooLarge, Message: string(msg), Fatal: true}
	}
	tb, err := r.br.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	t := FrameType(tb)
	bodyLen := int(n - 1)

	if !t.Known() {
		// Skip without buffering: the body may be large and is useless.
		if _, err := r.br.Discard(bodyLen); err != nil {
			return nil, unexpected(err)
		}
		return nil, &Error{Code: CodeUnknownFrame, Message: fmt.Sprintf("unknown frame type %d", tb)}
	}

	if bodyLen <= r.br.Size() {
		// Fast path: decode in place from the bufio buffer. The decoder
		// copies everything it keeps (alias=false), so discarding the bytes
		// afterwards is safe.
		body, err := r.br.Peek(bodyLen)
		if err != nil {
			return nil, unexpected(err)
		}
		f, derr := decodeBody(t, body, false)
		if _, err := r.br.Discard(bodyLen); err != nil {
			return nil, unexpected(err) // cannot happen after a full Peek
		}
		return f, derr
	}

	// Large body: read into a fresh buffer (bounded by maxFrame, which was
	// checked above) and let the payload alias it instead of copying again.
	body := make([]byte, bodyLen)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, unexpected(err)
	}
	return decodeBody(t, body, true)
}

// unexpected maps a clean EOF inside a frame to io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// FrameBuffered reports whether a whole frame is already buffered, so that Next returns without waiting
// for the network. A server batches the frames that arrived together and must not hold them back while
// only part of the next frame has arrived.
func (r *Reader) FrameBuffered() bool {
	n := r.br.Buffered()
	if n < 4 {
		return false
	}
	h, err := r.br.Peek(4)
	if err != nil {
		return false
	}
	return uint64(n) >= 4+uint64(binary.BigEndian.Uint32(h))
}
