package protect

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"

	"github.com/mcpauth/mcpauth/internal/wwwauth"
)

// The fuzz targets below run without any network: the verifier's JWKS is
// loaded up front and its clock is fixed, so every input costs only parsing
// and one signature check. Tokens are signed with Ed25519, which is
// deterministic: the same input takes the same path through the signing
// code, so the fuzzer does not mistake random nonces for new coverage.

const (
	fuzzIssuer   = "https://as.example"
	fuzzResource = "https://mcp.example/mcp"
	fuzzKid      = "k1"
)

var fuzzNow = time.Unix(1_800_000_000, 0)

// noNetwork fails every request: a fuzz input must never make the verifier
// fetch anything (the JWKS is preloaded and the clock does not move).
type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("fuzz: no network")
}

// fuzzVerifier returns a JWTVerifier that trusts the public half of key
// (EdDSA, kid fuzzKid) and never fetches keys.
func fuzzVerifier(tb testing.TB, key ed25519.PrivateKey) *JWTVerifier {
	tb.Helper()
	v, err := NewJWTVerifier(JWTVerifierConfig{Issuer: fuzzIssuer, Resource: fuzzResource, JWKSURL: fuzzIssuer + "/jwks",
		HTTPClient: &http.Client{Transport: noNetwork{}}, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatal(err)
	}
	v.keys = []jose.JSONWebKey{{Key: key.Public(), KeyID: fuzzKid, Algorithm: string(jose.EdDSA), Use: "sig"}}
	v.fetchedAt, v.lastAttempt = fuzzNow, fuzzNow
	return v
}

func fuzzKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// signRaw makes a compact JWS of exactly these header and payload bytes with
// an EdDSA signature by key (RFC 7515 §5.1, RFC 8037 §3.1), so that a fuzzed
// header or claims set reaches the checks after the signature.
func signRaw(key ed25519.PrivateKey, header, payload []byte) string {
	input := b64(string(header)) + "." + b64(string(payload))
	return input + "." + b64(string(ed25519.Sign(key, []byte(input))))
}

func fuzzClaims(edit func(map[string]any)) []byte {
	c := map[string]any{"iss": fuzzIssuer, "sub": "alice", "aud": fuzzResource, "client_id": "c1", "scope": "echo:use",
		"iat": fuzzNow.Unix() - 10, "exp": fuzzNow.Unix() + 3600, "jti": "j1"}
	if edit != nil {
		edit(c)
	}
	b, _ := json.Marshal(c)
	return b
}

const fuzzHeader = `{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`

// assertNoToken fails when a refusal message or response carries the token.
func assertNoToken(t *testing.T, token, text string) {
	t.Helper()
	if len(token) >= 16 && strings.Contains(text, token) {
		t.Fatalf("token echoed in %q", text)
	}
}

// FuzzJWTVerify fuzzes the two parsers of the JWT verifier: the header
// checks made before any key is looked up (parseToken) and the claims checks
// made once the signature verified (checkClaims), on the same fuzzed header
// and claims. No signature is computed in the loop: instrumented signature
// code would make each execution a hundred times slower (signed tokens go
// through Verify in the unit tests and in FuzzHandler). A refusal is a
// *TokenError that does not echo the token; an accepted header has an
// accepted algorithm, which go-jose reads the same way, and typ at+jwt; an
// accepted claims set satisfies RFC 9068 §4: our issuer, our resource in
// aud, a subject, and an expiry after now (minus the skew).
func FuzzJWTVerify(f *testing.F) {
	v := fuzzVerifier(f, fuzzKey(f))
	f.Add([]byte(fuzzHeader), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"EdDSA","typ":"application/AT+JWT"}`), fuzzClaims(func(c map[string]any) { c["aud"] = []string{"x", fuzzResource + "/"} }), "")
	f.Add([]byte(`{"alg":"none","typ":"at+jwt"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"k1"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"k1"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"EdDSA","typ":"at+jwt","crit":["exp"]}`), fuzzClaims(nil), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["exp"] = 1e300 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["exp"] = "tomorrow"; c["nbf"] = -1 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["aud"] = []any{1, fuzzResource} }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { delete(c, "sub"); c["scope"] = 7 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["iss"] = fuzzIssuer + "/" }), "")
	f.Add([]byte(fuzzHeader), []byte(`[1,2]`), "")
	f.Add([]byte(fuzzHeader), []byte(`{"sub":"a","sub":"b"}`), "")
	f.Add([]byte(`{"alg":"EdDSA","typ":"at+jwt"`), fuzzClaims(nil), ".x")
	f.Add([]byte(``), []byte(``), "..")
	f.Fuzz(func(t *testing.T, header, payload []byte, tail string) {
		token := b64(string(header)) + "." + b64(string(payload)) + "." + b64("not a signature") + tail
		var te *TokenError
		if jws, _, err := v.parseToken(token); err != nil {
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("refusal %v (%T) is not a *TokenError", err, err)
			}
			assertNoToken(t, token, err.Error())
		} else {
			hdr, _ := parseJWTHeader(token)
			if !slices.Contains(v.cfg.Algorithms, jose.SignatureAlgorithm(hdr.Alg)) || jws.Signatures[0].Header.Algorithm != hdr.Alg {
				t.Fatalf("header %q: we read alg %q, go-jose %q", header, hdr.Alg, jws.Signatures[0].Header.Algorithm)
			}
			if typ := strings.ToLower(hdr.Typ); typ != "at+jwt" && typ != "application/at+jwt" {
				t.Fatalf("accepted typ %q", hdr.Typ)
			}
		}
		ti, err := v.checkClaims(payload, fuzzNow)
		if err != nil {
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("refusal %v (%T) is not a *TokenError", err, err)
			}
			return
		}
		if ti.Issuer != fuzzIssuer || ti.Subject == "" || checkAudience(ti.Audience, fuzzResource) != nil {
			t.Fatalf("accepted claims %q as %+v", payload, ti)
		}
		if !ti.Expiry.After(fuzzNow.Add(-v.cfg.ClockSkew)) {
			t.Fatalf("accepted expiry %v at %v", ti.Expiry, fuzzNow)
		}
	})
}

// FuzzChallengeRoundTrip: whatever goes into a challenge, the header we
// write parses (with the client's strict RFC 9110 parser) as exactly one
// Bearer challenge carrying the same values, so no value can inject a
// parameter or a second challenge.
func FuzzChallengeRoundTrip(f *testing.F) {
	f.Add(fuzzResource, "echo:use admin:use", ErrorInsufficientScope, "this call needs scope echo:use")
	f.Add("", "", "", "")
	f.Add(`https://x/"a", error="forged`, "a\"b c\\d", "invalid_token\r\nX: y", `", scope="admin`)
	f.Add("https://x/\u00e9", "\u00e9 \t\n", "\x00", "é")
	f.Fuzz(func(t *testing.T, rm, scope, code, desc string) {
		c := Challenge{ResourceMetadata: rm, Scope: strings.Fields(scope), Error: code, Description: desc}
		header := c.String()
		cs, err := wwwauth.Parse([]string{header})
		if err != nil || len(cs) != 1 || cs[0].Scheme != "Bearer" || cs[0].Token68 != "" {
			t.Fatalf("%q parses as %#v, %v", header, cs, err)
		}
		want := map[string]string{}
		for name, value := range map[string]string{"resource_metadata": rm, "scope": strings.Join(c.Scope, " "), "error": code, "error_description": desc} {
			if q := quoteSafe(value); q != "" {
				want[name] = q
			}
		}
		got := cs[0].Params
		if got == nil {
			got = map[string]string{}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: params %q, want %q", header, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("%q: %s = %q, want %q", header, k, got[k], w)
			}
		}
	})
}

// FuzzIntrospectionResponse feeds arbitrary bodies to the RFC 7662 §2.2
// response check: a refusal is a *TokenError or ErrVerifierUnavailable; an
// acceptance is an active token of our issuer for our resource, with a
// subject and an unexpired exp.
func FuzzIntrospectionResponse(f *testing.F) {
	v, err := NewIntrospectionVerifier(IntrospectionVerifierConfig{Issuer: fuzzIssuer, Resource: fuzzResource, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		f.Fatal(err)
	}
	active := func(edit func(map[string]any)) []byte {
		return fuzzClaims(func(c map[string]any) {
			c["active"] = true
			if edit != nil {
				edit(c)
			}
		})
	}
	f.Add(active(nil))
	f.Add(active(func(c map[string]any) { delete(c, "iss") }))
	f.Add(active(func(c map[string]any) { c["active"] = "true" }))
	f.Add(active(func(c map[string]any) { c["exp"] = json.Number("1e999") }))
	f.Add(active(func(c map[string]any) { c["aud"] = []any{fuzzResource, nil} }))
	f.Add([]byte(`{"active":false}`))
	f.Add([]byte(`{"active":true} {"active":false}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ti, err := v.checkResponse(body)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) && !errors.Is(err, ErrVerifierUnavailable) {
				t.Fatalf("error %v (%T) is neither a *TokenError nor ErrVerifierUnavailable", err, err)
			}
			return
		}
		if ti.Claims["active"] != true || ti.Issuer != fuzzIssuer || ti.Subject == "" || checkAudience(ti.Audience, fuzzResource) != nil {
			t.Fatalf("accepted %q as %+v", body, ti)
		}
		if !ti.Expiry.After(fuzzNow.Add(-v.cfg.ClockSkew)) {
			t.Fatalf("accepted expiry %v", ti.Expiry)
		}
	})
}

// FuzzHandler drives the whole middleware in process with an arbitrary
// Authorization header and body (the seeds carry a valid token, so body
// mutations reach the JSON-RPC peek and the scope check). The wrapped
// handler runs only for 200, never sees the token, and every refusal is a
// 4xx whose challenge parses; no answer carries the token.
func FuzzHandler(f *testing.F) {
	key := fuzzKey(f)
	p, err := New(Config{Resource: fuzzResource, AuthorizationServers: []string{fuzzIssuer}, Verifier: fuzzVerifier(f, key),
		ToolScopes: ToolScopes{"echo": {"echo:use"}, "admin": {"admin:use"}}, ScopesSupported: []string{"echo:use", "admin:use"},
		MaxBodyBytes: 1 << 12, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	// handler returns the wrapped handler and what it saw.
	type seen struct {
		reached bool
		auth    string
	}
	handler := func(got *seen) http.Handler {
		return p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.reached, got.auth = true, r.Header.Get("Authorization")
			if TokenInfoFromContext(r.Context()) == nil {
				panic("no TokenInfo in the context")
			}
		}))
	}
	valid := "Bearer " + signRaw(key, []byte(fuzzHeader), fuzzClaims(nil))
	for _, s := range [][2]string{
		{valid, callEcho}, {valid, callAdmin}, {valid, "[" + callEcho + "," + callAdmin + "]"}, {valid, `{"method":"tools/list"}`},
		{valid, `{"method":"tools/call","params":{"name":"admin","name":"echo"}}`}, {valid, "\xff"}, {valid, ""},
		{"bearer  " + valid[7:] + " ", callEcho}, {"Basic dXNlcjpwYXNz", callEcho}, {"", callEcho}, {"Bearer", ""},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, authz string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, fuzzResource, strings.NewReader(string(body)))
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		var got seen
		handler(&got).ServeHTTP(rec, req)
		_, token, _ := strings.Cut(strings.TrimSpace(authz), " ")
		token = strings.TrimSpace(token)
		if got.reached != (rec.Code == http.StatusOK) || got.auth != "" {
			t.Fatalf("status %d, handler reached %v, saw Authorization %q", rec.Code, got.reached, got.auth)
		}
		if !slices.Contains([]int{200, 400, 401, 403, 413}, rec.Code) {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden && rec.Header().Get("WWW-Authenticate") != "" {
			if cs, err := wwwauth.Parse(rec.Header().Values("WWW-Authenticate")); err != nil || len(cs) != 1 {
				t.Fatalf("challenge %q: %v", rec.Header().Get("WWW-Authenticate"), err)
			}
		}
		assertNoToken(t, token, rec.Body.String())
		assertNoToken(t, token, strings.Join(rec.Header().Values("WWW-Authenticate"), ","))
	})
}

// sdkToolCalls returns the names of the tools the go-sdk's Streamable HTTP
// server would call for body, decoding it as the SDK does (v1.8.0
// mcp.readBatch: a batch first, else one message; jsonrpc.DecodeMessage;
// params decoded case-sensitively by segmentio/encoding).
func sdkToolCalls(body []byte) []string {
	decode := func(data []byte, v any) error {
		dec := segjson.NewDecoder(bytes.NewReader(data))
		dec.DontMatchCaseInsensitiveStructFields()
		return dec.Decode(v)
	}
	var raws []json.RawMessage
	if err := decode(body, &raws); err != nil || len(raws) == 0 {
		raws = []json.RawMessage{body}
	}
	var names []string
	for _, raw := range raws {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			continue
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok || req.Method != "tools/call" {
			continue
		}
		var params mcp.CallToolParamsRaw
		if decode(req.Params, &params) == nil {
			names = append(names, params.Name)
		}
	}
	return names
}

// FuzzPeekAgreesWithSDK: the middleware checks the scopes of the tools it
// reads in a body, and the go-sdk server runs the tools it reads itself. Any
// tool the SDK would run must be one the peek saw (or the peek must refuse
// the body), so that no spelling of a request (case, duplicates, escapes,
// batches, trailing data) runs a tool whose scopes were not checked.
func FuzzPeekAgreesWithSDK(f *testing.F) {
	for _, s := range []string{callEcho, "[" + callEcho + "," + callAdmin + "]",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"admin"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"admin"}}`,
		`{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"Name":"admin"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"\u0061dmin"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin"}} {"method":"x"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin"}}]]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"adm\ud800in"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		calls, err := peekToolCalls(body)
		if err != nil {
			return
		}
		seen := names(calls)
		for _, name := range sdkToolCalls(body) {
			if !slices.Contains(seen, name) {
				t.Fatalf("the SDK would call %q, the peek saw %q in %q", name, seen, body)
			}
		}
	})
}
