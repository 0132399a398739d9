// Package wwwauth parses WWW-Authenticate header fields (RFC 9110 §11.6.1, §11.2): several
// challenges per field and per response, token68 or auth-params, quoted strings with
// escapes, case-insensitive scheme and parameter names.
package wwwauth

import (
	"fmt"
	"strings"
)

// Challenge is one authentication challenge. Scheme keeps its original spelling; compare
// it with strings.EqualFold. Params keys are lower case.
type Challenge struct {
	Scheme  string
	Token68 string
	Params  map[string]string
}

// SyntaxError reports malformed header text.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed WWW-Authenticate at offset %d: %s", e.Offset, e.Msg)
}

// maxChallenges bounds the work done for one response.
const maxChallenges = 64

// Parse parses the values of every WWW-Authenticate field of a response. On malformed
// input it returns the challenges parsed before the error, and the error.
func Parse(fields []string) ([]Challenge, error) {
	var all []Challenge
	for _, f := range fields {
		cs, err := parseField(f)
		all = append(all, cs...)
		if err != nil {
			return all, err
		}
		if len(all) > maxChallenges {
			return all[:maxChallenges], &SyntaxError{Offset: 0, Msg: "too many challenges"}
		}
	}
	return all, nil
}

// Find returns the first challenge with the given scheme (case-insensitive).
func Find(cs []Challenge, scheme string) (Challenge, bool) {
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, scheme) {
			return c, true
		}
	}
	return Challenge{}, false
}

type parser struct {
	s string
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.i, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipSeparators skips whitespace and empty list elements (RFC 9110 §5.6.1).
func (p *parser) skipSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func parseField(s string) ([]Challenge, error) {
	p := &parser{s: s}
	var out []Challenge
	for {
		p.skipSeparators()
		if p.i >= len(p.s) {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.errorf("expected an auth-scheme, found %q", p.s[p.i])
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		if p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' && p.s[p.i] != ',' {
			return out, p.errorf("unexpected %q after auth-scheme", p.s[p.i])
		}
		p.skipOWS()
		if t68, ok := p.token68(); ok {
			c.Token68 = t68
		} else if err := p.params(&c); err != nil {
			return append(out, c), err
		}
		out = append(out, c)
		if len(out) > maxChallenges {
			return out, p.errorf("too many challenges")
		}
	}
}

// token68 consumes a token68 credential when one stands alone after the scheme.
func (p *parser) token68() (string, bool) {
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == start {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false // an auth-param such as realm="x"
	}
	p.i = k
	return p.s[start:j], true
}

// params consumes the comma-separated auth-params of one challenge. It stops before a
// token that is not followed by "=", which starts the next challenge.
func (p *parser) params(c *Challenge) error {
	for {
		p.skipSeparators()
		if p.i >= len(p.s) {
			return nil
		}
		mark := p.i
		name := p.token()
		if name == "" {
			return p.errorf("expected a parameter name, found %q", p.s[p.i])
		}
		p.skipOWS()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			p.i = mark // next challenge
			return nil
		}
		p.i++
		p.skipOWS()
		var value string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			v, err := p.quoted()
			if err != nil {
				return err
			}
			value = v
		} else {
			value = p.token()
			if value == "" {
				return p.errorf("parameter %q has no value", name)
			}
		}
		key := strings.ToLower(name)
		if _, dup := c.Params[key]; !dup { // RFC 9110 §11.2: each name at most once; first wins
			c.Params[key] = value
		}
		p.skipOWS()
		if p.i < len(p.s) && p.s[p.i] != ',' {
			return p.errorf("expected ',' after parameter %q", name)
		}
	}
}

// quoted consumes a quoted-string (RFC 9110 §5.6.4) and returns its unescaped content.
func (p *parser) quoted() (string, error) {
	start := p.i
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			p.i++
			return b.String(), nil
		case ch == '\\':
			if p.i+1 >= len(p.s) {
				return "", &SyntaxError{Offset: start, Msg: "unterminated quoted-string"}
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case ch == '\t' || ch >= 0x20 && ch != 0x7f:
			b.WriteByte(ch)
			p.i++
		default:
			return "", p.errorf("control character in quoted-string")
		}
	}
	return "", &SyntaxError{Offset: start, Msg: "unterminated quoted-string"}
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
