package protocol

import "fmt"

// ValidateConsumer checks a consumer name: 1 to MaxConsumerLen (64) bytes of
// ASCII letters, digits, '_', '-' and '.'. It returns nil or an *Error with
// CodeInvalidArgument whose message says what is wrong; like ValidateChannel,
// the message never echoes the name.
func ValidateConsumer(name string) error {
	if len(name) == 0 {
		return &Error{Code: CodeInvalidArgument, Message: "consumer name is empty"}
	}
	if len(name) > MaxConsumerLen {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("consumer name is %d bytes, max is %d", len(name), MaxConsumerLen)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		case c >= 0x21 && c < 0x7f:
			return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("consumer name has invalid character %q at byte %d (allowed: A-Z a-z 0-9 _ - .)", c, i)}
		default:
			return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("consumer name has invalid byte 0x%02x at byte %d (allowed: A-Z a-z 0-9 _ - .)", c, i)}
		}
	}
	return nil
}

// Validate checks what a server can check of a CONSUME without any state: a
// non-zero Sid, the channel (ValidateChannel), the consumer name
// (ValidateConsumer), the mode ("", ModeShared or ModeExclusive), the start
// kind, and the dead-letter channel when set (a valid channel other than
// Channel). It returns nil or an *Error: CodeInvalidChannel for Channel or
// DeadLetter, CodeInvalidArgument for the rest. Decoding never checks these;
// a server answers the error as ERR with s=Sid.
func (f *Consume) Validate() error {
	if f.Sid == 0 {
		return &Error{Code: CodeInvalidArgument, Message: "subscription id 0 is reserved"}
	}
	if err := ValidateChannel(f.Channel); err != nil {
		return err
	}
	if err := ValidateConsumer(f.Consumer); err != nil {
		return err
	}
	switch f.Mode {
	case "", ModeShared, ModeExclusive:
	default:
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("consumer mode must be %q or %q", ModeShared, ModeExclusive)}
	}
	if f.Start > StartTime {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("unknown start kind %d", uint8(f.Start))}
	}
	if f.DeadLetter != "" {
		if err := ValidateChannel(f.DeadLetter); err != nil {
			e := *err.(*Error)
			e.Message = "dead-letter " + e.Message
			return &e
		}
		if f.DeadLetter == f.Channel {
			return &Error{Code: CodeInvalidArgument, Message: "the dead-letter channel is the consumer's own channel"}
		}
	}
	return nil
}

// Validate checks what a server can check of an ACK without any state: a
// non-zero Sid and Seq and a known Kind. It returns nil or an *Error with
// CodeInvalidArgument. Decoding never checks these; a server answers the
// error as ERR with r=Req (an ACK without a request id is not answered).
func (f *Ack) Validate() error {
	if f.Sid == 0 || f.Seq == 0 {
		return &Error{Code: CodeInvalidArgument, Message: "an ACK needs a non-zero subscription id and seq"}
	}
	if f.Kind > AckTerm {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("unknown ack kind %d", uint8(f.Kind))}
	}
	return nil
}
