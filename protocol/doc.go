// Package protocol implements the Sampan wire protocol: frame types, their
// msgpack encoding, a bounded stream reader and channel-name validation.
//
// The byte-level specification lives in PROTOCOL.md next to this file; it is
// the normative document for clients in other languages, and tests pin the
// example bytes it shows to this implementation.
//
// The package is pure: it performs no I/O beyond the io.Reader / io.Writer it
// is handed, keeps no global mutable state apart from a buffer pool, and never
// panics on untrusted input. Every length read from the wire is checked
// against the bytes actually available before anything is allocated, so a
// hostile peer cannot make the decoder allocate more than the frame it sent.
//
// The hot frames (PUB, PUBACK, MSG, ACK) — and in fact all frames — are encoded and
// decoded by hand-written msgpack routines instead of reflection. The types
// also implement msgpack.CustomEncoder / msgpack.CustomDecoder so that
// msgpack.Marshal of a frame produces exactly the same body bytes.
package protocol
