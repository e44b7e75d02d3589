package protocol

import "fmt"

// ValidateChannel checks a channel name: one or more tokens separated by
// '.', each token non-empty and made only of ASCII letters, digits, '_' and
// '-', the whole name at most MaxChannelLen (255) bytes. It returns nil or
// an *Error with CodeInvalidChannel whose message says what is wrong. The
// message never echoes the name itself, because it comes from untrusted
// input and may be large or binary.
func ValidateChannel(name string) error {
	if len(name) == 0 {
		return &Error{Code: CodeInvalidChannel, Message: "channel name is empty"}
	}
	if len(name) > MaxChannelLen {
		return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel name is %d bytes, max is %d", len(name), MaxChannelLen)}
	}
	tokenStart := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.':
			if i == tokenStart {
				return emptyToken(i)
			}
			tokenStart = i + 1
		default:
			if c >= 0x21 && c < 0x7f {
				return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel name has invalid character %q at byte %d (allowed: A-Z a-z 0-9 _ - and . between tokens)", c, i)}
			}
			return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel name has invalid byte 0x%02x at byte %d (allowed: A-Z a-z 0-9 _ - and . between tokens)", c, i)}
		}
	}
	if tokenStart == len(name) {
		return emptyToken(len(name))
	}
	return nil
}

func emptyToken(at int) error {
	return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel name has an empty token at byte %d (leading, trailing or doubled '.')", at)}
}
