package authserver_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

const (
	resourceA = "https://mcp.example.com/mcp"
	resourceB = "https://other.example.com/mcp"
	loopback  = "http://127.0.0.1:43210/callback"
)

// testAS is an authorization server on a real SQLite file, served on a loopback port.
type testAS struct {
	*authserver.Server
	URL   string // the issuer
	Store store.Store
	Key   []byte
	Audit *auditLog
}

// newTestAS starts a server with dev login off; mutate may change the config.
func newTestAS(t *testing.T, mutate func(*authserver.Config)) *testAS {
	t.Helper()
	return newTestASOn(t, openSQLite(t), testKey(), mutate)
}

// openSQLite opens a store on a fresh SQLite file, closed when the test ends.
func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newTestASOn starts a server on an existing store.
func newTestASOn(t *testing.T, st store.Store, key []byte, mutate func(*authserver.Config)) *testAS {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	audit := &auditLog{}
	cfg := authserver.Config{
		Issuer:           "http://" + hs.Listener.Addr().String(),
		ListenAddr:       hs.Listener.Addr().String(),
		Store:            st,
		KeyEncryptionKey: key,
		Resources: []authserver.Resource{
			{URI: resourceA, Scopes: []string{"weather:read", "stocks:read"}},
		},
		Logger:      slog.New(slog.NewJSONHandler(audit, nil)),
		DisableCIMD: true,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := authserver.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = s.Handler()
	hs.Start()
	t.Cleanup(func() { hs.Close(); s.Close() })
	return &testAS{Server: s, URL: cfg.Issuer, Store: st, Key: key, Audit: audit}
}

func testKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// auditLog collects the server's JSON log lines.
type auditLog struct {
	mu    sync.Mutex
	lines []string
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, string(p))
	return len(p), nil
}

// events returns the audit events logged so far, in order.
func (a *auditLog) events() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, l := range a.lines {
		var rec struct{ Audit string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Audit != "" {
			out = append(out, rec.Audit)
		}
	}
	return out
}

func (a *auditLog) text() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.lines, "")
}

// noRedirect is an HTTP client that does not follow redirects.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// register registers a client through DCR and returns the response.
func register(t *testing.T, as *testAS, meta map[string]any) map[string]any {
	t.Helper()
	resp, body := postJSON(t, as.URL+"/register", "", meta)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// publicClient registers a public loopback client and returns its ID.
func publicClient(t *testing.T, as *testAS) string {
	t.Helper()
	r := register(t, as, map[string]any{
		"client_name": "Test Client", "redirect_uris": []string{loopback},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	return r["client_id"].(string)
}

func postJSON(t *testing.T, u, bearer string, v any) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, http.DefaultClient, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// authorizeURL builds an authorization request URL.
func authorizeURL(as *testAS, params url.Values) string {
	return as.URL + "/authorize?" + params.Encode()
}

// codeParams are the parameters of a valid authorization request for a public client.
func codeParams(clientID, challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {loopback},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st-123"},
		"resource": {resourceA}, "scope": {"weather:read"},
	}
}

// getRedirect performs a GET that must answer 302 and returns the Location's query.
func getRedirect(t *testing.T, c *http.Client, u string) url.Values {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	resp, body := do(t, c, req)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302: %s", u, resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

// devCode obtains a code through dev login (the server must run with DevLoginUser).
func devCode(t *testing.T, as *testAS, params url.Values) string {
	t.Helper()
	q := getRedirect(t, noRedirect, authorizeURL(as, params))
	if q.Get("code") == "" {
		t.Fatalf("no code in the authorization response: %v", q)
	}
	return q.Get("code")
}

// tokenRequest posts a token request form; basic adds client_secret_basic credentials.
func tokenRequest(t *testing.T, as *testAS, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	return postForm(t, as.URL+"/token", form, basic...)
}

func postForm(t *testing.T, u string, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, body := do(t, http.DefaultClient, req)
	out := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("POST %s: %d, not JSON: %s", u, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, out
}

func codeForm(clientID, code, verifier string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {loopback},
	}
}

// devAS starts a server with dev login for user "dev" who may grant every scope.
func devAS(t *testing.T, mutate func(*authserver.Config)) *testAS {
	return newTestAS(t, func(c *authserver.Config) {
		c.DevLoginUser = "dev"
		if mutate != nil {
			mutate(c)
		}
	})
}

// tokens runs the whole code flow with dev login and returns the token response.
func tokens(t *testing.T, as *testAS, clientID string) map[string]any {
	t.Helper()
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(clientID, challenge))
	status, tok := tokenRequest(t, as, codeForm(clientID, code, verifier))
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}

func wantOAuthError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Fatalf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantCode)
	}
}

func httptestGet(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func httptestPost(path string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksHas reports whether the server publishes a key with this kid.
func jwksHas(t *testing.T, as *testAS, kid string) bool {
	t.Helper()
	_, set := getJSON(t, as.URL+"/jwks")
	for _, k := range set["keys"].([]any) {
		if k.(map[string]any)["kid"] == kid {
			return true
		}
	}
	return false
}
