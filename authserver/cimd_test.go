package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/safehttp"
)

func TestIsURLClientID(t *testing.T) {
	good := []string{
		"https://app.example/client.json",
		"https://app.example/oauth/client-metadata.json",
		"https://app.example:8443/c",
		"https://app.example/c?v=2",
	}
	bad := []string{
		"", "client-123", "http://app.example/client.json", "https://app.example", "https://app.example/",
		"https://app.example/client.json#frag", "https://user:pw@app.example/c", "https://user@app.example/c",
		"https://app.example/a/../c", "https://app.example/./c", "https://app.example/a/%2e%2e/c", "https://app.example/a/%2E/c",
		"https:///c", "HTTPS://app.example/c", "https:app.example/c", "ftp://app.example/c",
	}
	for _, s := range good {
		if !IsURLClientID(s) {
			t.Errorf("IsURLClientID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if IsURLClientID(s) {
			t.Errorf("IsURLClientID(%q) = true", s)
		}
	}
}

// cimdHost is a local TLS server that serves client metadata documents, and a fetcher allowed
// to reach it (and nothing else that is not public).
type cimdHost struct {
	srv     *httptest.Server
	fetcher *CIMDFetcher
	hits    atomic.Int32
	mu      sync.Mutex
	now     time.Time
	// serve writes the response for the document at clientID.
	serve func(w http.ResponseWriter, clientID string)
}

func newCIMDHost(t testing.TB, opts CIMDOptions) *cimdHost {
	t.Helper()
	h := &cimdHost{now: time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)}
	h.serve = func(w http.ResponseWriter, clientID string) { writeDoc(w, validDoc(clientID)) }
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		h.serve(w, "https://"+r.Host+r.URL.RequestURI())
	}))
	t.Cleanup(h.srv.Close)
	opts.HTTP = safehttp.Options{
		RootCAs:           h.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		TestOnlyAllowHost: h.host(),
	}
	opts.Now = func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }
	h.fetcher = NewCIMDFetcher(opts)
	return h
}

func (h *cimdHost) host() string { u, _ := url.Parse(h.srv.URL); return u.Host }

func (h *cimdHost) url(path string) string { return h.srv.URL + path }

func (h *cimdHost) advance(d time.Duration) { h.mu.Lock(); h.now = h.now.Add(d); h.mu.Unlock() }

func validDoc(clientID string) map[string]any {
	return map[string]any{
		"client_id":                  clientID,
		"client_name":                "Example MCP Client",
		"client_uri":                 "https://app.example",
		"redirect_uris":              []string{"http://127.0.0.1:3000/callback", "http://localhost:3000/callback"},
		"grant_types":                []string{"authorization_code"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
}

func writeDoc(w http.ResponseWriter, doc map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

func TestCIMDFetchValid(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{})
	id := h.url("/oauth/client.json")
	md, err := h.fetcher.Fetch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if md.ClientID != id || md.ClientName != "Example MCP Client" || md.ApplicationType != ApplicationTypeNative || md.TokenEndpointAuthMethod != AuthMethodNone {
		t.Fatalf("got %+v", md)
	}
	if !RedirectURIMatches(md.RedirectURIs[0], "http://127.0.0.1:54321/callback") {
		t.Fatal("listed loopback redirect URI does not match another port")
	}
	// The result is the caller's: changing it does not change the cache.
	md.RedirectURIs[0] = "https://evil.example/cb"
	again, err := h.fetcher.Fetch(context.Background(), id)
	if err != nil || again.RedirectURIs[0] != "http://127.0.0.1:3000/callback" {
		t.Fatalf("cache was modified through a result: %v %v", again, err)
	}
}

// TestCIMDRefusedAddresses: documents on loopback, private, link-local and metadata-service
// addresses are refused at dial time, even on the port of the allowed test server.
func TestCIMDRefusedAddresses(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{Timeout: 2 * time.Second})
	port := strings.TrimPrefix(h.host(), "127.0.0.1:")
	for _, id := range []string{
		"https://127.0.0.2:" + port + "/client.json",
		"https://localhost:" + port + "/client.json",
		"https://[::1]:" + port + "/client.json",
		"https://[::ffff:127.0.0.1]:" + port + "/client.json",
		"https://127.0.0.1/client.json",
		"https://10.0.0.1/client.json",
		"https://10.255.0.7:8443/client.json",
		"https://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"https://[fd00::1]/client.json",
		"https://192.168.1.1/client.json",
	} {
		_, err := h.fetcher.Fetch(context.Background(), id)
		var ce *CIMDError
		if !errors.As(err, &ce) || !errors.Is(err, safehttp.ErrBlocked) {
			t.Errorf("Fetch(%s): got %v, want a CIMDError wrapping safehttp.ErrBlocked", id, err)
		}
	}
	if n := h.hits.Load(); n != 0 {
		t.Fatalf("the local server was reached %d times", n)
	}
}

func TestCIMDRedirectNotFollowed(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{})
	var followed atomic.Int32
	h.serve = func(w http.ResponseWriter, clientID string) {
		if strings.HasSuffix(clientID, "/moved.json") {
			followed.Add(1)
			writeDoc(w, validDoc(clientID))
			return
		}
		w.Header().Set("Location", h.url("/moved.json"))
		w.WriteHeader(http.StatusFound)
	}
	_, err := h.fetcher.Fetch(context.Background(), h.url("/client.json"))
	if !errors.Is(err, safehttp.ErrRedirect) {
		t.Fatalf("got %v, want safehttp.ErrRedirect", err)
	}
	if followed.Load() != 0 {
		t.Fatal("redirect was followed")
	}
}

func TestCIMDOversizedDocument(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{MaxDocumentBytes: 2048})
	h.serve = func(w http.ResponseWriter, clientID string) {
		doc := validDoc(clientID)
		doc["padding"] = strings.Repeat("x", 4096)
		writeDoc(w, doc)
	}
	_, err := h.fetcher.Fetch(context.Background(), h.url("/client.json"))
	if !errors.Is(err, safehttp.ErrTooLarge) {
		t.Fatalf("got %v, want safehttp.ErrTooLarge", err)
	}
}

func TestCIMDInvalidDocuments(t *testing.T) {
	tests := []struct {
		name   string
		change func(doc map[string]any, id string)
		status int
		cause  error
	}{
		{name: "client_id mismatch", change: func(d map[string]any, id string) { d["client_id"] = "https://evil.example/client.json" }},
		{name: "client_id differs in case", change: func(d map[string]any, id string) { d["client_id"] = strings.ToUpper(id[:8]) + id[8:] }},
		{name: "client_id with trailing slash", change: func(d map[string]any, id string) { d["client_id"] = id + "/" }},
		{name: "client_id missing", change: func(d map[string]any, id string) { delete(d, "client_id") }},
		{name: "client_secret_basic", change: func(d map[string]any, id string) { d["token_endpoint_auth_method"] = "client_secret_basic" }},
		{name: "client_secret_post", change: func(d map[string]any, id string) { d["token_endpoint_auth_method"] = "client_secret_post" }},
		{name: "client_secret_jwt", change: func(d map[string]any, id string) { d["token_endpoint_auth_method"] = "client_secret_jwt" }},
		{name: "client_secret included", change: func(d map[string]any, id string) { d["client_secret"] = "s3cr3t" }},
		{name: "client_secret_expires_at included", change: func(d map[string]any, id string) { d["client_secret_expires_at"] = 0 }},
		{name: "no client_name", change: func(d map[string]any, id string) { delete(d, "client_name") }},
		{name: "no redirect_uris", change: func(d map[string]any, id string) { delete(d, "redirect_uris") }},
		{name: "javascript redirect URI", change: func(d map[string]any, id string) { d["redirect_uris"] = []string{"javascript:alert(1)"} }, cause: &RegistrationError{}},
		{name: "http redirect URI", change: func(d map[string]any, id string) { d["redirect_uris"] = []string{"http://evil.example/cb"} }, cause: &RegistrationError{}},
		{name: "implicit grant", change: func(d map[string]any, id string) { d["response_types"] = []string{"token"} }, cause: &RegistrationError{}},
		{name: "HTTP 404", status: http.StatusNotFound},
		{name: "HTTP 500", status: http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newCIMDHost(t, CIMDOptions{})
			h.serve = func(w http.ResponseWriter, id string) {
				if tc.status != 0 {
					w.WriteHeader(tc.status)
					return
				}
				doc := validDoc(id)
				tc.change(doc, id)
				writeDoc(w, doc)
			}
			_, err := h.fetcher.Fetch(context.Background(), h.url("/client.json"))
			var ce *CIMDError
			if !errors.As(err, &ce) || ce.Description == "" {
				t.Fatalf("got %v, want *CIMDError", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatal("error message contains the document's secret")
			}
			var re *RegistrationError
			if tc.cause != nil && !errors.As(err, &re) {
				t.Fatalf("got %v, want a wrapped *RegistrationError", err)
			}
		})
	}
}

func TestCIMDNotJSON(t *testing.T) {
	for _, body := range []string{"<html>hi</html>", "", "[]", `{"client_id":1}`, `{"a":1} {"b":2}`} {
		h := newCIMDHost(t, CIMDOptions{})
		h.serve = func(w http.ResponseWriter, id string) { fmt.Fprint(w, body) }
		var ce *CIMDError
		if _, err := h.fetcher.Fetch(context.Background(), h.url("/client.json")); !errors.As(err, &ce) {
			t.Errorf("body %q: got %v", body, err)
		}
	}
}

func TestCIMDCache(t *testing.T) {
	tests := []struct {
		name        string
		header      map[string]string
		cachedFor   time.Duration // still cached just before this
		notCachedAt time.Duration // refetched at this
		neverCached bool
	}{
		{name: "max-age", header: map[string]string{"Cache-Control": "public, max-age=600"}, cachedFor: 600 * time.Second, notCachedAt: 600 * time.Second},
		{name: "max-age minus Age", header: map[string]string{"Cache-Control": "max-age=600", "Age": "300"}, cachedFor: 300 * time.Second, notCachedAt: 300 * time.Second},
		{name: "max-age below minimum", header: map[string]string{"Cache-Control": "max-age=1"}, cachedFor: time.Minute, notCachedAt: time.Minute},
		{name: "max-age above maximum", header: map[string]string{"Cache-Control": "max-age=31536000"}, cachedFor: 24 * time.Hour, notCachedAt: 24 * time.Hour},
		{name: "no headers: default", header: nil, cachedFor: 5 * time.Minute, notCachedAt: 5 * time.Minute},
		{name: "Expires", header: map[string]string{"Date": "Tue, 28 Jul 2026 12:00:00 GMT", "Expires": "Tue, 28 Jul 2026 12:10:00 GMT"}, cachedFor: 10 * time.Minute, notCachedAt: 10 * time.Minute},
		{name: "no-store", header: map[string]string{"Cache-Control": "no-store"}, neverCached: true},
		{name: "no-cache", header: map[string]string{"Cache-Control": "max-age=600, no-cache"}, neverCached: true},
		{name: "invalid max-age", header: map[string]string{"Cache-Control": "max-age=soon"}, neverCached: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newCIMDHost(t, CIMDOptions{})
			h.serve = func(w http.ResponseWriter, id string) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeDoc(w, validDoc(id))
			}
			id := h.url("/client.json")
			fetch := func() {
				t.Helper()
				if _, err := h.fetcher.Fetch(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			fetch()
			fetch()
			if tc.neverCached {
				if n := h.hits.Load(); n != 2 {
					t.Fatalf("hits = %d, want 2 (not cached)", n)
				}
				return
			}
			h.advance(tc.cachedFor - time.Second)
			fetch()
			if n := h.hits.Load(); n != 1 {
				t.Fatalf("hits = %d before expiry, want 1", n)
			}
			h.advance(tc.notCachedAt - tc.cachedFor + time.Second)
			fetch()
			if n := h.hits.Load(); n != 2 {
				t.Fatalf("hits = %d after expiry, want 2", n)
			}
		})
	}
}

func TestCIMDCacheBoundedAndErrorsNotCached(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{MaxEntries: 2})
	for _, p := range []string{"/a.json", "/b.json", "/c.json", "/a.json"} {
		if _, err := h.fetcher.Fetch(context.Background(), h.url(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.hits.Load(); n != 4 {
		t.Fatalf("hits = %d, want 4: /a.json must have been evicted by /c.json", n)
	}
	if _, err := h.fetcher.Fetch(context.Background(), h.url("/c.json")); err != nil || h.hits.Load() != 4 {
		t.Fatalf("recently used /c.json was not cached: %v", err)
	}
	if got := h.fetcher.lru.Len(); got != 2 {
		t.Fatalf("cache holds %d entries, want 2", got)
	}

	var fail atomic.Bool
	fail.Store(true)
	h.serve = func(w http.ResponseWriter, id string) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeDoc(w, validDoc(id))
	}
	if _, err := h.fetcher.Fetch(context.Background(), h.url("/d.json")); err == nil {
		t.Fatal("503 accepted")
	}
	fail.Store(false)
	if _, err := h.fetcher.Fetch(context.Background(), h.url("/d.json")); err != nil {
		t.Fatalf("a failure was cached: %v", err)
	}
}

func TestCIMDConcurrentFetchesShareOneRequest(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{})
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	h.serve = func(w http.ResponseWriter, id string) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		writeDoc(w, validDoc(id))
	}
	id := h.url("/client.json")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := h.fetcher.Fetch(context.Background(), id)
			errs <- err
		})
	}
	<-arrived
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := h.hits.Load(); n != 1 {
		t.Fatalf("hits = %d, want 1", n)
	}
}

func FuzzCIMDDocument(f *testing.F) {
	const id = "https://app.example/client.json"
	seed, _ := json.Marshal(validDoc(id))
	f.Add(seed)
	f.Add([]byte(`{"client_id":"https://app.example/client.json","client_name":"x","redirect_uris":["com.example.app:/cb"]}`))
	f.Add([]byte(`{"client_id":"https://app.example/client.json","client_name":"x","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`))
	f.Add([]byte(`{"client_id":"https://app.example/client.json","client_secret":"x"}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		md, err := parseCIMDDocument(id, body, ValidateOptions{})
		if err != nil {
			var ce *CIMDError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *CIMDError", err)
			}
			return
		}
		if md.ClientID != id {
			t.Fatalf("client_id %q accepted for %q", md.ClientID, id)
		}
		switch md.TokenEndpointAuthMethod {
		case AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodClientSecretJWT:
			t.Fatalf("shared-secret method %q accepted", md.TokenEndpointAuthMethod)
		}
		if len(md.RedirectURIs) == 0 || md.ClientName == "" {
			t.Fatal("document without redirect_uris or client_name accepted")
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("accepted a body that is not a JSON object: %v", err)
		}
		for k := range fields {
			// encoding/json matches keys case-insensitively; so must the refusal.
			if strings.EqualFold(k, "client_secret") || strings.EqualFold(k, "client_secret_expires_at") {
				t.Fatalf("document with %q accepted", k)
			}
		}
	})
}

// TestCIMDCancelledCallerDoesNotFailOthers: the caller that started a fetch gives up; it gets
// its context's error at once, and a caller waiting for the same document still gets it.
func TestCIMDCancelledCallerDoesNotFailOthers(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{})
	arrived, release := make(chan struct{}), make(chan struct{})
	h.serve = func(w http.ResponseWriter, id string) {
		close(arrived)
		<-release
		writeDoc(w, validDoc(id))
	}
	id := h.url("/client.json")
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := h.fetcher.Fetch(ctx, id)
		first <- err
	}()
	<-arrived
	second := make(chan error, 1)
	go func() {
		_, err := h.fetcher.Fetch(context.Background(), id)
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("waiting caller: %v", err)
	}
	if n := h.hits.Load(); n != 1 {
		t.Fatalf("hits = %d, want 1", n)
	}
}

// BenchmarkCIMDFetchCached is the cost of resolving a URL client_id whose document is cached.
func BenchmarkCIMDFetchCached(b *testing.B) {
	h := newCIMDHost(b, CIMDOptions{})
	id := h.url("/client.json")
	if _, err := h.fetcher.Fetch(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.fetcher.Fetch(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCIMDTrustedHosts(t *testing.T) {
	h := newCIMDHost(t, CIMDOptions{TrustedHosts: []string{"Example.COM", "127.0.0.1"}})
	if _, err := h.fetcher.Fetch(context.Background(), h.url("/client.json")); err != nil {
		t.Fatalf("trusted host: %v", err)
	}
	for _, id := range []string{
		"https://evil.example/client.json",
		"https://example.com.evil.example/client.json",
		"https://notexample.com/client.json",
		"https://127.0.0.2/client.json",
	} {
		_, err := h.fetcher.Fetch(context.Background(), id)
		var ce *CIMDError
		if !errors.As(err, &ce) || !strings.Contains(ce.Description, "not trusted") {
			t.Errorf("Fetch(%s): got %v, want refusal by the trust policy", id, err)
		}
	}
	f := NewCIMDFetcher(CIMDOptions{TrustedHosts: []string{"example.com"}})
	if !f.trusted("https://apps.example.com/c.json") || !f.trusted("https://EXAMPLE.com/c.json") {
		t.Fatal("subdomain or upper-case host of a trusted domain refused")
	}
	if n := h.hits.Load(); n != 1 {
		t.Fatalf("hits = %d, want 1 (refusals send no request)", n)
	}
}
