package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file holds a minimal msgpack encoder/decoder covering exactly what the
// protocol needs. It exists because reflection-based msgpack costs several
// allocations and hundreds of nanoseconds per frame on the hot path, and
// because we want hard guarantees for untrusted input: every length is
// checked against the remaining bytes before it is used, and skipping an
// unknown value is iterative (no recursion, so no stack exhaustion from deep
// nesting).
//
// Encoders always emit the smallest representation, matching
// vmihailenco/msgpack with compact ints. Decoders accept every
// representation the msgpack spec allows for a value of the right kind.

// ---- encoding ----

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
	}
}

func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBin(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
	}
}

func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
	}
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendStrMap(b []byte, m map[string]string) []byte {
	b = appendMapHeader(b, len(m))
	for k, v := range m {
		b = appendStr(b, k)
		b = appendStr(b, v)
	}
	return b
}

// ---- decoding ----

// errShort and errType are sentinel causes; decodeBody wraps them into a
// *Error with the frame type and field name.
var errShort = errors.New("unexpected end of body")

type typeError struct {
	want string
	got  byte
}

func (e *typeError) Error() string {
	return fmt.Sprintf("expected %s, got msgpack type byte 0x%02x", e.want, e.got)
}

var errRange = errors.New("integer out of range")

// decoder reads msgpack values from b. If alias is true, bin values are
// returned as sub-slices of b (the caller owns b); otherwise they are copied.
// Strings are always copied.
type decoder struct {
	b     []byte
	off   int
	alias bool
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte1() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errShort
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// lenN reads an n-byte big-endian length (n = 1, 2 or 4).
func (d *decoder) lenN(n int) (int, error) {
	if d.remaining() < n {
		return 0, errShort
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	switch n {
	case 1:
		return int(p[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(p)), nil
	default:
		// uint32 fits in int on 64-bit; on 32-bit a huge value becomes
		// negative, which take() rejects.
		return int(binary.BigEndian.Uint32(p)), nil
	}
}

// take returns the next n bytes without copying, after checking that they
// are really there. This is the single choke point that keeps claimed
// lengths from ever exceeding the body.
func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, errShort
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p, nil
}

// mapLen reads a map header; nil is accepted as an empty map.
func (d *decoder) mapLen() (int, error) {
	c, err := d.byte1()
	if err != nil {
		return 0, err
	}
	var n int
	switch {
	case c&0xf0 == 0x80:
		n = int(c & 0x0f)
	case c == 0xde:
		n, err = d.lenN(2)
	case c == 0xdf:
		n, err = d.lenN(4)
	case c == 0xc0:
		return 0, nil
	default:
		return 0, &typeError{"map", c}
	}
	if err != nil {
		return 0, err
	}
	// Every entry needs at least two bytes; reject absurd counts early.
	if n < 0 || n > d.remaining()/2 {
		return 0, errShort
	}
	return n, nil
}

// rawStr reads a str or bin value and returns its bytes (aliasing d.b).
// nil yields (nil, nil).
func (d *decoder) rawStr(want string) ([]byte, error) {
	c, err := d.byte1()
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = d.lenN(1)
	case c == 0xda || c == 0xc5:
		n, err = d.lenN(2)
	case c == 0xdb || c == 0xc6:
		n, err = d.lenN(4)
	case c == 0xc0:
		return nil, nil
	default:
		return nil, &typeError{want, c}
	}
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

func (d *decoder) str() (string, error) {
	p, err := d.rawStr("str")
	if err != nil || len(p) == 0 {
		return "", err
	}
	return string(p), nil
}

// bin reads a bin (or str) value. Empty and nil both decode to a nil slice
// so that decode→encode→decode is a fixed point.
func (d *decoder) bin() ([]byte, error) {
	p, err := d.rawStr("bin")
	if err != nil || len(p) == 0 {
		return nil, err
	}
	if d.alias {
		return p, nil
	}
	return append([]byte(nil), p...), nil
}

// uint reads any msgpack integer that is >= 0 and <= max. nil decodes as 0.
func (d *decoder) uint(max uint64) (uint64, error) {
	c, err := d.byte1()
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c < 0x80:
		v = uint64(c)
	case c == 0xc0:
		return 0, nil
	case c >= 0xcc && c <= 0xcf:
		n := 1 << (c - 0xcc)
		p, err := d.take(n)
		if err != nil {
			return 0, err
		}
		v = beUint(p)
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		p, err := d.take(n)
		if err != nil {
			return 0, err
		}
		s := beInt(p)
		if s < 0 {
			return 0, errRange
		}
		v = uint64(s)
	case c >= 0xe0:
		return 0, errRange // negative fixint
	default:
		return 0, &typeError{"integer", c}
	}
	if v > max {
		return 0, errRange
	}
	return v, nil
}

// int reads any msgpack integer representable as int64. nil decodes as 0.
func (d *decoder) int() (int64, error) {
	c, err := d.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c < 0x80:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c == 0xc0:
		return 0, nil
	case c >= 0xcc && c <= 0xcf:
		p, err := d.take(1 << (c - 0xcc))
		if err != nil {
			return 0, err
		}
		v := beUint(p)
		if v > math.MaxInt64 {
			return 0, errRange
		}
		return int64(v), nil
	case c >= 0xd0 && c <= 0xd3:
		p, err := d.take(1 << (c - 0xd0))
		if err != nil {
			return 0, err
		}
		return beInt(p), nil
	}
	return 0, &typeError{"integer", c}
}

func beUint(p []byte) uint64 {
	switch len(p) {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	default:
		return binary.BigEndian.Uint64(p)
	}
}

func beInt(p []byte) int64 {
	switch len(p) {
	case 1:
		return int64(int8(p[0]))
	case 2:
		return int64(int16(binary.BigEndian.Uint16(p)))
	case 4:
		return int64(int32(binary.BigEndian.Uint32(p)))
	default:
		return int64(binary.BigEndian.Uint64(p))
	}
}

// bool reads a msgpack bool; nil decodes as false.
func (d *decoder) bool() (bool, error) {
	c, err := d.byte1()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc2, 0xc0:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, &typeError{"bool", c}
}

// strMap reads a map of str to str. An empty map decodes to nil (the
// encoders omit empty header maps, so this keeps round trips exact).
func (d *decoder) strMap() (map[string]string, error) {
	n, err := d.mapLen()
	if err != nil || n == 0 {
		return nil, err
	}
	m := make(map[string]string, n) // n is bounded by remaining()/2
	for i := 0; i < n; i++ {
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		v, err := d.str()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// key reads a map key, which must be a str. The returned bytes alias d.b and
// are only used for a switch (which the compiler does without allocating).
func (d *decoder) key() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if !(c&0xe0 == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb) {
		// Not a str: treat as an unknown key (skip it; the caller then
		// skips the value), so keys of other types from a newer peer do not
		// break decoding.
		if err := d.skip(); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return d.rawStr("str")
}

func (d *decoder) peek() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errShort
	}
	return d.b[d.off], nil
}

// skip skips exactly one value of any type. It is iterative: pending counts
// the values still to skip, and container headers add their elements to it.
// Because each value needs at least one byte, pending can be bounded by the
// remaining input, which defeats both deep nesting and huge claimed sizes.
func (d *decoder) skip() error {
	pending := 1
	for pending > 0 {
		pending--
		c, err := d.byte1()
		if err != nil {
			return err
		}
		var n, elems int // n: bytes of data to skip; elems: values to add
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			// fixint, nil, bool: no payload
		case c&0xf0 == 0x80: // fixmap
			elems = 2 * int(c&0x0f)
		case c&0xf0 == 0x90: // fixarray
			elems = int(c & 0x0f)
		case c&0xe0 == 0xa0: // fixstr
			n = int(c & 0x1f)
		case c == 0xc4 || c == 0xd9: // bin8, str8
			n, err = d.lenN(1)
		case c == 0xc5 || c == 0xda: // bin16, str16
			n, err = d.lenN(2)
		case c == 0xc6 || c == 0xdb: // bin32, str32
			n, err = d.lenN(4)
		case c == 0xc7: // ext8
			n, err = d.lenN(1)
			n++
		case c == 0xc8: // ext16
			n, err = d.lenN(2)
			n++
		case c == 0xc9: // ext32
			n, err = d.lenN(4)
			n++
		case c == 0xca: // float32
			n = 4
		case c == 0xcb: // float64
			n = 8
		case c >= 0xcc && c <= 0xcf: // uint8..64
			n = 1 << (c - 0xcc)
		case c >= 0xd0 && c <= 0xd3: // int8..64
			n = 1 << (c - 0xd0)
		case c >= 0xd4 && c <= 0xd8: // fixext1..16
			n = 1 + 1<<(c-0xd4)
		case c == 0xdc: // array16
			elems, err = d.lenN(2)
		case c == 0xdd: // array32
			elems, err = d.lenN(4)
		case c == 0xde: // map16
			elems, err = d.lenN(2)
			elems *= 2
		case c == 0xdf: // map32
			elems, err = d.lenN(4)
			elems *= 2
		default: // 0xc1 is "never used" in the spec
			return &typeError{"msgpack value", c}
		}
		if err != nil {
			return err
		}
		if _, err := d.take(n); err != nil {
			return err
		}
		if elems < 0 || elems > d.remaining() {
			return errShort
		}
		pending += elems
		if pending > d.remaining() {
			return errShort
		}
	}
	return nil
}
