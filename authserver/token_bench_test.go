package authserver_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// benchAS is a server on SQLite called in-process (no network), for the cost of the endpoints
// themselves.
func benchAS(b *testing.B) (*authserver.Server, http.Handler) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "as.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := authserver.New(b.Context(), authserver.Config{
		Issuer: "http://127.0.0.1:1", ListenAddr: "127.0.0.1:1", DevLoginUser: "dev", Store: st, KeyEncryptionKey: testKey(), DisableCIMD: true,
		Resources: []authserver.Resource{{URI: resourceA, Scopes: []string{"weather:read"}}},
		Logger:    discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, s.Handler()
}

func postBench(b *testing.B, h http.Handler, path string, form url.Values, user, pass string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

// BenchmarkClientCredentials: one client_credentials token (cached client, secret check,
// signed JWT; no store access), the request bench/run.sh sends (Basic, scope, resource).
func BenchmarkClientCredentials(b *testing.B) {
	s, h := benchAS(b)
	c, secret, err := s.Admin().AddClient(b.Context(), authserver.StaticClient{Confidential: true, GrantTypes: []string{"client_credentials"}})
	if err != nil {
		b.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"weather:read"}, "resource": {resourceA}}
	for b.Loop() {
		postBench(b, h, "/token", form, c.ID, secret)
	}
}

// BenchmarkRefreshRotation: one refresh (the store's rotation, which reads the token, its grant
// and the user's scopes, asks the server's decision and spends the token; then the signed JWT).
func BenchmarkRefreshRotation(b *testing.B) {
	s, h := benchAS(b)
	rt := codeFlowRefreshToken(b, s, h)
	for b.Loop() {
		rec := postBench(b, h, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"bench"}, "refresh_token": {rt}}, "", "")
		rt = jsonField(b, rec, "refresh_token")
	}
}

// codeFlowRefreshToken registers the public client "bench" and runs the code flow with dev
// login, returning the refresh token.
func codeFlowRefreshToken(b *testing.B, s *authserver.Server, h http.Handler) string {
	if _, _, err := s.Admin().AddClient(b.Context(), authserver.StaticClient{ID: "bench", RedirectURIs: []string{loopback}}); err != nil {
		b.Fatal(err)
	}
	return codeFlow(b, h)
}

// codeFlow runs the code flow of the client "bench" with dev login and returns the refresh token.
func codeFlow(b *testing.B, h http.Handler) string {
	verifier, challenge := pkce()
	req := httptest.NewRequest(http.MethodGet, "/authorize?"+codeParams("bench", challenge).Encode(), nil)
	req.RemoteAddr = "127.0.0.1:50000" // dev login answers loopback only
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		b.Fatalf("authorize: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	tok := postBench(b, h, "/token", codeForm("bench", loc.Query().Get("code"), verifier), "", "")
	return jsonField(b, tok, "refresh_token")
}

func jsonField(b *testing.B, rec *httptest.ResponseRecorder, field string) string {
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		b.Fatal(err)
	}
	v, _ := m[field].(string)
	if v == "" {
		b.Fatalf("no %s in %s", field, rec.Body)
	}
	return v
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
