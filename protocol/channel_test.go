package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateChannel(t *testing.T) {
	cases := []struct {
		name    string
		ok      bool
		msgPart string
	}{
		{"orders", true, ""},
		{"orders.eu.west-1", true, ""},
		{"A_b-9.x", true, ""},
		{"-", true, ""},
		{strings.Repeat("a", 255), true, ""},
		{strings.Repeat("a.", 127) + "a", true, ""},
		{"", false, "empty"},
		{strings.Repeat("a", 256), false, "256 bytes"},
		{".a", false, "empty token at byte 0"},
		{"a.", false, "empty token at byte 2"},
		{"a..b", false, "empty token at byte 2"},
		{".", false, "empty token"},
		{"a b", false, "0x20"},
		{"a*", false, `'*'`},
		{"a>", false, `'>'`},
		{"a/b", false, `'/'`},
		{"é", false, "0xc3"},
		{"a\x00", false, "0x00"},
		{"a\n", false, "0x0a"},
	}
	for _, c := range cases {
		err := ValidateChannel(c.name)
		if c.ok {
			if err != nil {
				t.Errorf("%q: unexpected %v", c.name, err)
			}
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeInvalidChannel || pe.Fatal {
			t.Errorf("%q: got %v, want invalid_channel", c.name, err)
			continue
		}
		if !strings.Contains(pe.Message, c.msgPart) {
			t.Errorf("%q: message %q does not mention %q", c.name, pe.Message, c.msgPart)
		}
	}
}
