package client

import (
	"errors"

	"github.com/sampan-io/sampan/protocol"
)

// Error is a server error (an ERR frame). Match it with errors.Is against the sentinels below, which
// compare by code, or errors.As to read the message.
type Error = protocol.Error

// One sentinel per server error code.
var (
	ErrMalformedFrame      = &Error{Code: protocol.CodeMalformedFrame}
	ErrUnknownFrame        = &Error{Code: protocol.CodeUnknownFrame}
	ErrFrameTooLarge       = &Error{Code: protocol.CodeFrameTooLarge}
	ErrPayloadTooLarge     = &Error{Code: protocol.CodePayloadTooLarge}
	ErrInvalidChannel      = &Error{Code: protocol.CodeInvalidChannel}
	ErrNotConnected        = &Error{Code: protocol.CodeNotConnected}
	ErrUnsupportedVersion  = &Error{Code: protocol.CodeUnsupportedVersion}
	ErrTimeout             = &Error{Code: protocol.CodeTimeout} // outcome unknown: retry with an idempotency key
	ErrUnavailable         = &Error{Code: protocol.CodeUnavailable}
	ErrInternal            = &Error{Code: protocol.CodeInternal}
	ErrUnknownSubscription = &Error{Code: protocol.CodeUnknownSubscription}
	ErrInvalidArgument     = &Error{Code: protocol.CodeInvalidArgument}
	ErrShuttingDown        = &Error{Code: protocol.CodeShuttingDown}
	ErrTooManyInflight     = &Error{Code: protocol.CodeTooManyInflight}
	ErrAuthFailed          = &Error{Code: protocol.CodeAuthFailed}
	ErrPermissionDenied    = &Error{Code: protocol.CodePermissionDenied}
	ErrLimitExceeded       = &Error{Code: protocol.CodeLimitExceeded}
	ErrNotFound            = &Error{Code: protocol.CodeNotFound}
)

// Client-side errors.
var (
	// ErrClosed is returned by calls on a client after Close.
	ErrClosed = errors.New("sampan: client closed")
	// ErrConnectionLost is returned for requests whose connection broke before they were answered. A
	// publish that fails with it may or may not have been stored.
	ErrConnectionLost = errors.New("sampan: connection lost")
)
