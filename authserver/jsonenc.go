// JSON text (RFC 8259) appended by hand for the hot fixed shapes: access token claims and the
// token response, which encoding/json built by reflection at about a tenth of a token's cost.
package authserver

import (
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotation mark, reverse solidus
// and control characters escaped, invalid UTF-8 replaced by U+FFFD as encoding/json does, and
// U+2028 and U+2029 escaped so that the text is also safe inside JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
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
