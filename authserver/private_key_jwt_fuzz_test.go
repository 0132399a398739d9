package authserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// FuzzClientAssertion signs fuzzed JOSE headers and claims sets with a registered client's key
// (optionally followed by fuzzed bytes, which also covers assertions that are not JWTs) and
// gives them to the private_key_jwt parser and verifier (RFC 7523 §3). Whatever is accepted
// has iss = sub = client_id, an aud naming this server, an exp within the allowed lifetime
// and a jti, and is refused the second time; a refusal is always invalid_client. No network;
// the jti is recorded in a real SQLite store, which forgets it after each accepted assertion;
// the client and the clock are fixed. The key is Ed25519, whose signatures are
// deterministic, so that the fuzzer does not take random nonces for new coverage.
func FuzzClientAssertion(f *testing.F) {
	const issuer, clientID = "https://as.example", "c1"
	now := time.Unix(1_800_000_000, 0)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
	c := &client{id: clientID, meta: &ClientMetadata{TokenEndpointAuthMethod: AuthMethodPrivateKeyJWT, JWKS: jwks}}
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "as.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	s := &Server{cfg: Config{Issuer: issuer, Now: func() time.Time { return now }}, store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(header, payload []byte) string {
		input := b64(header) + "." + b64(payload)
		return input + "." + b64(ed25519.Sign(key, []byte(input)))
	}
	claims := func(edit func(map[string]any)) []byte {
		m := map[string]any{"iss": clientID, "sub": clientID, "aud": issuer + "/token", "exp": now.Unix() + 60, "iat": now.Unix(), "jti": "j1"}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	const hdr = `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`
	f.Add([]byte(hdr), claims(nil), "")
	f.Add([]byte(`{"alg":"EdDSA"}`), claims(func(m map[string]any) { m["aud"] = []string{"x", issuer} }), "")
	f.Add([]byte(`{"alg":"none"}`), claims(nil), "")
	f.Add([]byte(`{"alg":"HS256","kid":"k1"}`), claims(nil), "")
	f.Add([]byte(`{"alg":"ES256","kid":"k1"}`), claims(nil), "")
	f.Add([]byte(`{"alg":"EdDSA","kid":"k2"}`), claims(nil), "")
	f.Add([]byte(hdr), claims(func(m map[string]any) { m["iss"] = "c2" }), "")
	f.Add([]byte(hdr), claims(func(m map[string]any) { m["exp"] = now.Unix() + 3600 }), "")
	f.Add([]byte(hdr), claims(func(m map[string]any) { m["exp"] = 1e300; m["nbf"] = -1e300 }), "")
	f.Add([]byte(hdr), claims(func(m map[string]any) { m["exp"] = "soon"; delete(m, "jti") }), "")
	f.Add([]byte(hdr), claims(func(m map[string]any) { m["aud"] = 5 }), "")
	f.Add([]byte(hdr), []byte(`{"sub":"c1","sub":"c2"}`), "")
	f.Add([]byte(hdr), claims(nil), ".x")
	f.Add([]byte(``), []byte(``), "")
	f.Fuzz(func(t *testing.T, header, payload []byte, tail string) {
		assertion := sign(header, payload) + tail
		if sub, ok := assertionClientID(assertion); ok && sub == "" {
			t.Fatal("empty client ID read from an assertion")
		}
		r := httptest.NewRequest(http.MethodPost, issuer+pathToken, nil)
		if e := s.verifyClientAssertion(r, c, assertion); e != nil {
			if e.Code != errInvalidClient || e.Description == "" {
				t.Fatalf("refusal %+v", e)
			}
			return
		}
		var h struct {
			Alg string `json:"alg"`
		}
		if json.Unmarshal(header, &h) != nil || h.Alg != "EdDSA" {
			t.Fatalf("accepted header %q", header)
		}
		var m struct {
			Iss, Sub, Jti string
			Aud           any
			Exp           float64
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatalf("accepted claims %q: %v", payload, err)
		}
		aud, _ := m.Aud.([]any)
		if s, ok := m.Aud.(string); ok {
			aud = []any{s}
		}
		if m.Iss != clientID || m.Sub != clientID || m.Jti == "" || !slices.ContainsFunc(aud, func(a any) bool { return a == issuer || a == issuer+pathToken }) {
			t.Fatalf("accepted claims %q", payload)
		}
		if exp := time.Unix(int64(m.Exp), 0); exp.Before(now.Add(-time.Minute)) || exp.After(now.Add(maxAssertionLifetime)) {
			t.Fatalf("accepted exp %v at %v", exp, now)
		}
		if e := s.verifyClientAssertion(r, c, assertion); e == nil || e.Code != errInvalidClient {
			t.Fatalf("assertion %q accepted twice: %+v", payload, e)
		}
		if _, err := st.DeleteExpiredClientAssertions(t.Context(), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
}
