package authserver

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// tokenIssuedClaims are the claims of a client_credentials token as the bench issues them.
func tokenIssuedClaims(aud ...string) *accessClaims {
	return &accessClaims{ClientID: "mcpauth-client-0123456789abcdef", Subject: "mcpauth-client-0123456789abcdef",
		ID: "AbCdEfGhIjKlMnOpQrStUv", Scope: "weather:read", Audience: aud}
}

// TestAuditTokenIssuedRecord: the token.issued record carries every field, written as slog
// writes the same attributes with aud as a []string: by the text handler byte for byte ([a b]),
// by the JSON handler as the same JSON value (an array; invalid UTF-8 becomes U+FFFD itself
// rather than its \ufffd escape). It honours the handler's level.
func TestAuditTokenIssuedRecord(t *testing.T) {
	for _, aud := range [][]string{nil, {}, {"http://127.0.0.1:9/mcp"}, {"https://a.example/mcp", "https://b.example/mcp x"}, {`"q"=<&>` + "\n\xff"}} {
		c := tokenIssuedClaims(aud...)
		c.GrantID = "g 1"
		for name, newHandler := range map[string]func(io.Writer, *slog.HandlerOptions) slog.Handler{
			"text": func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) },
			"json": func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) },
		} {
			noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}
			var got, want bytes.Buffer
			s := &Server{log: slog.New(newHandler(&got, noTime))}
			s.auditTokenIssued(t.Context(), c)
			slog.New(newHandler(&want, noTime)).Info("audit: token.issued", "audit", "token.issued", "client_id", c.ClientID,
				"subject", c.Subject, "grant_id", c.GrantID, "jti", c.ID, "scope", c.Scope, "aud", []string(c.Audience))
			if got.String() != want.String() && (name == "text" || !sameJSON(got.Bytes(), want.Bytes())) {
				t.Errorf("%s, aud %q:\n got %s\nwant %s", name, aud, got.String(), want.String())
			}
			got.Reset()
			s = &Server{log: slog.New(newHandler(&got, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			s.auditTokenIssued(t.Context(), c)
			if got.Len() != 0 {
				t.Errorf("%s at level Warn wrote %s", name, got.String())
			}
		}
	}
}

func sameJSON(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

// TestAuditTokenIssuedSource: a handler that records the source still gets the audit's own.
func TestAuditTokenIssuedSource(t *testing.T) {
	var out bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{AddSource: true}))}
	s.auditTokenIssued(t.Context(), tokenIssuedClaims("https://a.example/mcp"))
	if !strings.Contains(out.String(), "source=") || !strings.Contains(out.String(), "audit.go:") {
		t.Errorf("record without the audit's source: %s", out.String())
	}
}

// BenchmarkAuditTokenIssued: the CPU of one token.issued record through the handlers mcpauth
// serve configures (text by default, JSON with --log-json), to a writer that keeps nothing.
func BenchmarkAuditTokenIssued(b *testing.B) {
	c := tokenIssuedClaims("http://127.0.0.1:9/mcp")
	for name, h := range map[string]slog.Handler{"text": slog.NewTextHandler(io.Discard, nil), "json": slog.NewJSONHandler(io.Discard, nil)} {
		b.Run(name, func(b *testing.B) {
			s := &Server{log: slog.New(h)}
			b.ReportAllocs()
			for b.Loop() {
				s.auditTokenIssued(b.Context(), c)
			}
		})
	}
}
