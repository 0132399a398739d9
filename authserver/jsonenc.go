// JSON text (RFC 8259) appended by hand for the hot fixed shapes: access token claims and the
// token response, which encoding/json built by reflection at about a tenth of a token's cost.
package authserver

import (
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// appendJSONString appends s as a JSON string (RFC 8259 §7), invalid UTF-8 replaced by U+FFFD
// as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ = jsontext.AppendQuote(b, s) // its only error reports invalid UTF-8, already replaced
			return b
		}
	}
	// Printable ASCII without quote or backslash, as most values are: nothing to escape.
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONMember appends ,"name":"value" (or {"name":"value" when first); name is a constant
// that needs no escaping.
func appendJSONMember(b []byte, first bool, name, value string) []byte {
	b = appendMemberName(b, first, name)
	return appendJSONString(b, value)
}

// appendJSONInt appends ,"name":n (or {"name":n when first).
func appendJSONInt(b []byte, first bool, name string, n int64) []byte {
	b = appendMemberName(b, first, name)
	return strconv.AppendInt(b, n, 10)
}

func appendMemberName(b []byte, first bool, name string) []byte {
	if first {
		b = append(b, '{', '"')
	} else {
		b = append(b, ',', '"')
	}
	b = append(b, name...)
	return append(b, '"', ':')
}
