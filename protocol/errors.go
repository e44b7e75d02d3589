package protocol

import (
	"fmt"
	"strconv"
)

// ErrCode is the stable numeric code carried by ERR frames. Codes are never
// renumbered or reused; clients should switch on the code, never on the
// message text.
type ErrCode uint16

// Error codes. "Fatal" notes the usual behaviour; the authoritative signal is
// the Fatal flag of each ERR frame / Error value.
const (
	// CodeMalformedFrame: the body is not valid msgpack for its frame type.
	// Non-fatal, because length framing is still intact; fatal only for a
	// length of 0, which cannot be a frame at all.
	CodeMalformedFrame ErrCode = 1
	// CodeUnknownFrame: the frame type is unknown, or not valid in the
	// direction it was sent. Non-fatal: the frame is skipped.
	CodeUnknownFrame ErrCode = 2
	// CodeFrameTooLarge: the length prefix exceeds the max frame size.
	// Fatal: the stream cannot be trusted (and is not drained).
	CodeFrameTooLarge ErrCode = 3
	// CodePayloadTooLarge: a PUB payload exceeds max_payload. Non-fatal.
	CodePayloadTooLarge ErrCode = 4
	// CodeInvalidChannel: the channel name fails ValidateChannel. Non-fatal.
	CodeInvalidChannel ErrCode = 5
	// CodeNotConnected: a frame other than CONNECT arrived before CONNECT.
	// Fatal.
	CodeNotConnected ErrCode = 6
	// CodeUnsupportedVersion: the CONNECT version is not supported. Fatal.
	CodeUnsupportedVersion ErrCode = 7
	// CodeTimeout: the publish outcome is unknown — it may or may not have
	// been stored. Retry with the same idempotency key to be safe.
	// Non-fatal.
	CodeTimeout ErrCode = 8
	// CodeUnavailable: the channel is temporarily unavailable (e.g. no
	// leader); the request was not executed and may be retried. Non-fatal.
	CodeUnavailable ErrCode = 9
	// CodeInternal: an unexpected server error. Non-fatal unless flagged.
	CodeInternal ErrCode = 10
	// CodeUnknownSubscription: UNSUB for a sid that is not active, or ACK
	// for a sid that is not an active consumer subscription. Non-fatal.
	CodeUnknownSubscription ErrCode = 11
	// CodeInvalidArgument: a well-formed frame with an invalid value, e.g.
	// bad start position, duplicate or zero sid, zero req, headers too
	// large. Non-fatal.
	CodeInvalidArgument ErrCode = 12
	// CodeShuttingDown: the server is shutting down. Fatal when sent
	// without r/s (connection-level); with r or s it only rejects that
	// request/subscription.
	CodeShuttingDown ErrCode = 13
	// CodeTooManyInflight: the PUB exceeds max_inflight. Non-fatal.
	CodeTooManyInflight ErrCode = 14
	// CodeAuthFailed: CONNECT's credentials were missing or wrong. Fatal.
	CodeAuthFailed ErrCode = 15
	// CodePermissionDenied: the user may not publish to (r set) or subscribe to (s set) the channel.
	// Non-fatal: the connection stays usable.
	CodePermissionDenied ErrCode = 16
	// CodeLimitExceeded: a server limit was reached (connections per node or per user: fatal;
	// subscriptions per connection: non-fatal, s set).
	CodeLimitExceeded ErrCode = 17
	// CodeNotFound: the named thing does not exist (a durable consumer that was never created, or was
	// removed: s set). Non-fatal.
	CodeNotFound ErrCode = 18
	// CodeMoved: a CONSUME from a client that asked for routes (CONNECT routes), for a channel served
	// by another node: the ROUTE frame sent just before names it; join there, or send the CONSUME
	// again with direct set to join through this server. s set. Non-fatal.
	CodeMoved ErrCode = 19
)

var errCodeNames = [...]string{
	CodeMalformedFrame:      "malformed_frame",
	CodeUnknownFrame:        "unknown_frame",
	CodeFrameTooLarge:       "frame_too_large",
	CodePayloadTooLarge:     "payload_too_large",
	CodeInvalidChannel:      "invalid_channel",
	CodeNotConnected:        "not_connected",
	CodeUnsupportedVersion:  "unsupported_version",
	CodeTimeout:             "timeout",
	CodeUnavailable:         "unavailable",
	CodeInternal:            "internal",
	CodeUnknownSubscription: "unknown_subscription",
	CodeInvalidArgument:     "invalid_argument",
	CodeShuttingDown:        "shutting_down",
	CodeTooManyInflight:     "too_many_inflight",
	CodeAuthFailed:          "auth_failed",
	CodePermissionDenied:    "permission_denied",
	CodeLimitExceeded:       "limit_exceeded",
	CodeNotFound:            "not_found",
	CodeMoved:               "moved",
}

// String returns the snake_case name of the code ("malformed_frame", ...)
// or "code_<n>" for a code this version does not know, so that newer
// servers' codes still print usefully.
func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) && errCodeNames[c] != "" {
		return errCodeNames[c]
	}
	return "code_" + strconv.Itoa(int(c))
}

// DefaultFatal reports whether an error with this code normally closes the
// connection: frame_too_large, not_connected and unsupported_version.
// NewError uses it to initialise Error.Fatal.
func (c ErrCode) DefaultFatal() bool {
	switch c {
	case CodeFrameTooLarge, CodeNotConnected, CodeUnsupportedVersion:
		return true
	}
	return false
}

// Error is the Go error form of an ERR frame. Fatal means the connection is
// (or must be) closed after the error.
type Error struct {
	Code    ErrCode
	Message string
	Fatal   bool
	// Req is the request the error answers when the decoder could tell: a malformed PUB or ACK whose
	// request id could still be read (0: none).
	Req uint64
}

// Error implements error as "sampan: <code name>: <message>" (or
// "sampan: <code name>" when Message is empty).
func (e *Error) Error() string {
	if e.Message == "" {
		return "sampan: " + e.Code.String()
	}
	return "sampan: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &protocol.Error{Code: protocol.CodeTimeout}) works
// regardless of message and fatality.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Frame converts the error into an ERR frame correlated with request req
// and/or subscription sid (0 = none).
func (e *Error) Frame(req, sid uint64) *Err {
	return &Err{Code: e.Code, Message: e.Message, Req: req, Sid: sid, Fatal: e.Fatal}
}

// NewError returns an *Error with the given code, a message formatted with
// fmt.Sprintf semantics (used verbatim when args is empty), and Fatal set to
// code.DefaultFatal().
func NewError(code ErrCode, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Fatal: code.DefaultFatal()}
}

// malformed builds the non-fatal decoding error returned for bad bodies.
func malformed(t FrameType, format string, args ...any) *Error {
	return &Error{Code: CodeMalformedFrame, Message: t.String() + ": " + fmt.Sprintf(format, args...)}
}
