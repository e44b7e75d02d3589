package bridge

// NATS-style patterns and the mapping between a source pattern and a destination pattern. Pure: no I/O,
// no clocks; fuzzed (FuzzMapping).

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sampan-io/sampan/protocol"
)

// Kind says what a pattern names, which decides the characters its literal tokens may hold.
type Kind uint8

const (
	// KindChannel: a Sampan channel pattern; literal tokens are [A-Za-z0-9_-] (protocol.ValidateChannel).
	KindChannel Kind = iota + 1
	// KindSubject: a NATS subject pattern; literal tokens are any printable bytes but '.', '*', '>' and
	// whitespace.
	KindSubject
)

func (k Kind) String() string {
	if k == KindChannel {
		return "channel"
	}
	return "subject"
}

// ErrInvalidPattern is matched (errors.Is) by every pattern and mapping error.
var ErrInvalidPattern = errors.New("sampan: invalid bridge pattern")

// Pattern is a parsed NATS-style pattern: tokens separated by '.', where the token '*' matches exactly
// one token and the token '>', allowed only last, matches one or more remaining tokens. A pattern
// without wildcards matches only itself. Wildcard characters inside a token ("a*") are rejected rather
// than taken literally, since that is almost always a typo.
type Pattern struct {
	raw  string
	toks []string
	// wild lists the pattern's wildcards in order ('*' or '>'): what a match captures.
	wild []byte
}

// ParsePattern parses s as a pattern of kind k. Errors match ErrInvalidPattern and say what is wrong.
func ParsePattern(s string, k Kind) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("%w: empty %s pattern", ErrInvalidPattern, k)
	}
	if k == KindChannel && len(s) > protocol.MaxChannelLen {
		return Pattern{}, fmt.Errorf("%w: %s pattern %q is over %d bytes", ErrInvalidPattern, k, s, protocol.MaxChannelLen)
	}
	p := Pattern{raw: s, toks: strings.Split(s, ".")}
	for i, t := range p.toks {
		switch {
		case t == "":
			return Pattern{}, fmt.Errorf("%w: %s pattern %q has an empty token (leading, trailing or doubled '.')", ErrInvalidPattern, k, s)
		case t == "*":
			p.wild = append(p.wild, '*')
		case t == ">":
			if i != len(p.toks)-1 {
				return Pattern{}, fmt.Errorf("%w: %s pattern %q: '>' must be the last token", ErrInvalidPattern, k, s)
			}
			p.wild = append(p.wild, '>')
		default:
			if err := validToken(t, k); err != nil {
				return Pattern{}, fmt.Errorf("%w: %s pattern %q: %v", ErrInvalidPattern, k, s, err)
			}
		}
	}
	return p, nil
}

func validToken(t string, k Kind) error {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '*' || c == '>':
			return fmt.Errorf("token %q mixes a wildcard with other characters (wildcards are whole tokens)", t)
		case k == KindChannel:
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("token %q has %q (channel tokens are A-Z a-z 0-9 _ -)", t, c)
			}
		case c <= ' ' || c == 0x7f:
			return fmt.Errorf("token %q has a space or control byte", t)
		}
	}
	return nil
}

// Prefix is what every name the pattern matches starts with: its tokens before the first wildcard,
// each followed by '.' ("orders.eu." for "orders.eu.*", "" for ">"), or the whole pattern when it
// has no wildcard. Listing the names with that prefix and matching them finds every match.
func (p Pattern) Prefix() string {
	if p.Literal() {
		return p.raw
	}
	var sb strings.Builder
	for _, t := range p.toks {
		if t == "*" || t == ">" {
			break
		}
		sb.WriteString(t)
		sb.WriteByte('.')
	}
	return sb.String()
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Literal reports whether the pattern has no wildcard.
func (p Pattern) Literal() bool { return len(p.wild) == 0 }

// Match reports whether name matches the pattern and returns what its wildcards captured, in order:
// one token per '*', the remaining tokens joined by '.' for '>'. name is split on '.' as is; an empty
// token never matches a wildcard.
func (p Pattern) Match(name string) ([]string, bool) {
	var caps []string
	rest := name
	for i, t := range p.toks {
		if t == ">" {
			if rest == "" || hasEmptyToken(rest) {
				return nil, false
			}
			return append(caps, rest), true
		}
		if rest == "" && i > 0 {
			return nil, false
		}
		tok, next, more := strings.Cut(rest, ".")
		last := i == len(p.toks)-1
		if more == last { // the name has more tokens than the pattern, or fewer
			return nil, false
		}
		switch {
		case t == "*":
			if tok == "" {
				return nil, false
			}
			caps = append(caps, tok)
		case t != tok:
			return nil, false
		}
		rest = next
	}
	return caps, true
}

func hasEmptyToken(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..")
}

// expand fills the pattern's wildcards with caps, in order. caps must come from a pattern with the same
// wildcards (Mapping guarantees it).
func (p Pattern) expand(caps []string) string {
	if len(caps) == 0 {
		return p.raw
	}
	var sb strings.Builder
	j := 0
	for i, t := range p.toks {
		if i > 0 {
			sb.WriteByte('.')
		}
		if t == "*" || t == ">" {
			sb.WriteString(caps[j])
			j++
			continue
		}
		sb.WriteString(t)
	}
	return sb.String()
}

// Mapping maps names matching From to names built from To, the wildcards' tokens carrying over in
// order: with From "orders.*" and To "sampan.orders.*", "orders.eu" maps to "sampan.orders.eu".
// Invariant (checked by NewMapping): From and To have the same wildcards in the same order.
type Mapping struct {
	From, To Pattern
}

// NewMapping parses a mapping from a pattern of kind fromKind to one of kind toKind. The destination
// must have exactly the source's wildcards, in the same order: otherwise some names would have no
// destination, or two would collide, so the rule is rejected with an error that says so.
func NewMapping(from string, fromKind Kind, to string, toKind Kind) (Mapping, error) {
	f, err := ParsePattern(from, fromKind)
	if err != nil {
		return Mapping{}, err
	}
	t, err := ParsePattern(to, toKind)
	if err != nil {
		return Mapping{}, err
	}
	if string(f.wild) != string(t.wild) {
		return Mapping{}, fmt.Errorf("%w: %q=%q: the wildcards do not match (%s has %s, %s has %s; each '*' and '>' of one side needs its counterpart, in the same order, on the other)",
			ErrInvalidPattern, from, to, from, describeWild(f.wild), to, describeWild(t.wild))
	}
	return Mapping{From: f, To: t}, nil
}

func describeWild(w []byte) string {
	if len(w) == 0 {
		return "no wildcard"
	}
	parts := make([]string, len(w))
	for i, c := range w {
		parts[i] = "'" + string(c) + "'"
	}
	return strings.Join(parts, ", ")
}

// Map returns the destination name for name, and false when name does not match From. The result is
// not validated against the destination's kind: a NATS subject token may hold characters a channel
// name may not, so importers check the result (protocol.ValidateChannel) before using it.
func (m Mapping) Map(name string) (string, bool) {
	caps, ok := m.From.Match(name)
	if !ok {
		return "", false
	}
	return m.To.expand(caps), true
}

// String returns "FROM=TO".
func (m Mapping) String() string { return m.From.raw + "=" + m.To.raw }
