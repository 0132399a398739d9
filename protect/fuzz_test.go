package protect

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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
// and one signature check.

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
// (ES256, kid fuzzKid) and never fetches keys.
func fuzzVerifier(tb testing.TB, key *ecdsa.PrivateKey) *JWTVerifier {
	tb.Helper()
	v, err := NewJWTVerifier(JWTVerifierConfig{Issuer: fuzzIssuer, Resource: fuzzResource, JWKSURL: fuzzIssuer + "/jwks",
		HTTPClient: &http.Client{Transport: noNetwork{}}, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatal(err)
	}
	v.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: fuzzKid, Algorithm: string(jose.ES256), Use: "sig"}}
	v.fetchedAt, v.lastAttempt = fuzzNow, fuzzNow
	return v
}

func fuzzKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// signRaw makes a compact JWS of exactly these header and payload bytes with
// an ES256 signature by key (RFC 7515 §5.1, RFC 7518 §3.4), so that a fuzzed
// header or claims set reaches the checks after the signature.
func signRaw(tb testing.TB, key *ecdsa.PrivateKey, header, payload []byte) string {
	input := b64(string(header)) + "." + b64(string(payload))
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(string(sig))
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

const fuzzHeader = `{"alg":"ES256","typ":"at+jwt","kid":"k1"}`

// assertNoToken fails when a refusal message or response carries the token.
func assertNoToken(t *testing.T, token, text string) {
	t.Helper()
	if len(token) >= 16 && strings.Contains(text, token) {
		t.Fatalf("token echoed in %q", text)
	}
}

// FuzzJWTVerify signs fuzzed JOSE headers and claims sets with the trusted
// key (optionally followed by fuzzed bytes, which also covers tokens that are
// not JWTs at all). Everything refused must be a *TokenError that does not
// echo the token; everything accepted must satisfy RFC 9068 §4: an accepted
// algorithm, typ at+jwt, our issuer, our resource in aud, a subject, and an
// expiry after now (minus the skew).
func FuzzJWTVerify(f *testing.F) {
	key := fuzzKey(f)
	v := fuzzVerifier(f, key)
	f.Add([]byte(fuzzHeader), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"ES256","typ":"application/AT+JWT"}`), fuzzClaims(func(c map[string]any) { c["aud"] = []string{"x", fuzzResource + "/"} }), "")
	f.Add([]byte(`{"alg":"none","typ":"at+jwt"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"ES256","typ":"JWT","kid":"k1"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"other"}`), fuzzClaims(nil), "")
	f.Add([]byte(`{"alg":"ES256","typ":"at+jwt","crit":["exp"]}`), fuzzClaims(nil), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["exp"] = 1e300 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["exp"] = "tomorrow"; c["nbf"] = -1 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["aud"] = []any{1, fuzzResource} }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { delete(c, "sub"); c["scope"] = 7 }), "")
	f.Add([]byte(fuzzHeader), fuzzClaims(func(c map[string]any) { c["iss"] = fuzzIssuer + "/" }), "")
	f.Add([]byte(fuzzHeader), []byte(`[1,2]`), "")
	f.Add([]byte(fuzzHeader), []byte(`{"sub":"a","sub":"b"}`), "")
	f.Add([]byte(`{"alg":"ES256","typ":"at+jwt"`), fuzzClaims(nil), ".x")
	f.Add([]byte(``), []byte(``), "..")
	f.Fuzz(func(t *testing.T, header, payload []byte, tail string) {
		token := signRaw(t, key, header, payload) + tail
		ti, err := v.Verify(context.Background(), token)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("refusal %v (%T) is not a *TokenError", err, err)
			}
			assertNoToken(t, token, err.Error())
			return
		}
		var h map[string]any
		if json.Unmarshal(header, &h) != nil || h["alg"] != string(jose.ES256) {
			t.Fatalf("accepted header %q", header)
		}
		if typ, _ := h["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			t.Fatalf("accepted typ %q", typ)
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
	valid := "Bearer " + signRaw(f, key, []byte(fuzzHeader), fuzzClaims(nil))
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
