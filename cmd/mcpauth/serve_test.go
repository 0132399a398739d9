package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServe runs newService on a loopback listener until the test ends.
func startServe(t *testing.T, o serveOptions, ln net.Listener) *service {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if o.data == "" {
		o.data = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := newService(ctx, o, ln.Addr().String(), quiet)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx, ln, quiet) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		svc.Close()
	})
	return svc
}

// devLoginFetcher completes the authorization request the way a browser
// would with --dev-login: GET the authorization URL, which answers 302 to
// the redirect URI with code, state and iss. It records each URL.
type devLoginFetcher struct {
	mu   sync.Mutex
	urls []string
}

func (f *devLoginFetcher) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	f.mu.Lock()
	f.urls = append(f.urls, args.URL)
	f.mu.Unlock()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("authorization answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	q := loc.Query()
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

func (f *devLoginFetcher) scopes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.urls {
		p, _ := url.Parse(u)
		out = append(out, p.Query().Get("scope"))
	}
	return out
}

// goSDKClient connects the go-sdk's own OAuth client (DCR, PKCE, resource).
func goSDKClient(t *testing.T, mcpURL string, f *devLoginFetcher) *mcp.ClientSession {
	t.Helper()
	redirect := "http://127.0.0.1:1/callback" // never contacted: the fetcher reads the redirect
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "go-sdk test client", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		}},
		RedirectURL:              redirect,
		AuthorizationCodeFetcher: f.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "go-sdk-client", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: mcpURL, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callTool(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool error: %v", res.Content)
	}
	return nil
}

func TestServeGoSDKClientStepsUpOnInsufficientScope(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice", initialScopes: []string{"weather:read"}}, nil)
	f := &devLoginFetcher{}
	cs := goSDKClient(t, svc.mcpURL, f)
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tools) != 1 || lt.Tools[0].Name != "weather_forecast" {
		t.Errorf("with weather:read, tools/list shows %v", lt.Tools)
	}
	if err := callTool(ctx, cs, "weather_forecast", map[string]any{"city": "Oslo", "days": 2}); err != nil {
		t.Fatal(err)
	}
	// stock_quotes needs stocks:read: the server answers 403 insufficient_scope,
	// the go-sdk client re-authorizes with that scope and retries.
	if err := callTool(ctx, cs, "stock_quotes", map[string]any{"symbols": []string{"ACME"}}); err != nil {
		t.Fatalf("stock_quotes after step-up: %v", err)
	}
	got := f.scopes()
	if len(got) != 2 || got[0] != "weather:read" || !strings.Contains(got[1], "stocks:read") {
		t.Errorf("authorization requests asked for scopes %q, want weather:read then stocks:read", got)
	}
}

func TestServeOperationalEndpoints(t *testing.T) {
	svc := startServe(t, serveOptions{corsOrigins: []string{"*"}}, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(svc.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server", "/jwks"} {
		if code, body := get(path); code != 200 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	resp, err := http.Post(svc.mcpURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+svc.issuer+`/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("unauthenticated MCP request: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest(http.MethodOptions, svc.mcpURL, nil)
	req.Header.Set("Origin", "http://inspector.localhost:6274")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS preflight on /mcp: %v %v", err, resp)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `mcpauth_protect_auth_failures_total{reason="missing"} 1`) {
		t.Errorf("metrics lack the refused request:\n%s", body)
	}
}

// roundRobin is a load balancer in front of several instances: each
// request goes to the next instance.
type roundRobin struct {
	n        atomic.Int64
	backends []*httputil.ReverseProxy
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.backends[int(rr.n.Add(1))%len(rr.backends)].ServeHTTP(w, r)
}

func TestServeTwoInstancesSharePostgresAndRedis(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	redisAddr := testenv.RedisAddr(t)
	// The load balancer's address is the public origin and issuer of both.
	lbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + lbLn.Addr().String()
	keyFile := t.TempDir() + "/key.b64"
	o := serveOptions{issuer: issuer, devLogin: "alice", postgresDSN: dsn, keyFile: keyFile, stateless: true,
		redisURL: "redis://" + redisAddr + "/0", userRate: 6, rateWindow: time.Hour}
	rr := &roundRobin{}
	var instances []*service
	for range 2 {
		svc := startServe(t, o, nil)
		instances = append(instances, svc)
		// svc.issuer is the LB; reach the instance through its listener.
		target, _ := url.Parse(instanceURL(t, svc))
		rr.backends = append(rr.backends, httputil.NewSingleHostReverseProxy(target))
	}
	lb := &http.Server{Handler: rr, ReadHeaderTimeout: 5 * time.Second}
	go lb.Serve(lbLn)
	t.Cleanup(func() { lb.Close() })

	// Registration, authorization and token requests alternate between
	// the instances: a client registered at one is known at the other, a
	// code issued by one is redeemed at the other.
	cs := goSDKClient(t, issuer+"/mcp", &devLoginFetcher{})
	ctx := context.Background()
	allowed, limited := 0, 0
	for range 10 {
		err := callTool(ctx, cs, "weather_forecast", map[string]any{"city": "Porto"})
		switch {
		case err == nil:
			allowed++
		case strings.Contains(err.Error(), "429") || strings.Contains(strings.ToLower(err.Error()), "too many"):
			limited++
		default:
			t.Fatalf("call: %v", err)
		}
	}
	// Six requests per user in all, across both instances, whichever
	// instance answered: the limit lives in Redis.
	var ok []int
	for _, svc := range instances {
		ok = append(ok, metricValue(t, instanceURL(t, svc), `mcpauth_protect_requests_total{outcome="ok"}`))
	}
	if ok[0]+ok[1] != 6 || ok[0] == 0 || ok[1] == 0 {
		t.Errorf("requests let through by each instance: %v; want 6 in all, some by each", ok)
	}
	if allowed == 0 || limited == 0 || allowed+limited != 10 {
		t.Errorf("tool calls allowed %d, limited %d", allowed, limited)
	}
}

// metricValue reads one sample from an instance's /metrics (0 when absent).
func metricValue(t *testing.T, base, sample string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// instanceURL returns the http URL of the instance's own listener.
func instanceURL(t *testing.T, svc *service) string {
	t.Helper()
	if svc.listenAddr == "" {
		t.Fatal("service has no listen address")
	}
	return "http://" + svc.listenAddr
}

func TestServePerClientQuotaForPreRegisteredClient(t *testing.T) {
	svc := startServe(t, serveOptions{stateless: true, clientRate: 100, tiers: []string{"bronze=3"}, rateWindow: time.Hour}, nil)
	ctx := context.Background()
	token := func(tier string) string {
		info, secret, err := svc.as.Admin().AddClient(ctx, authserver.StaticClient{Name: "backend " + tier, Confidential: true,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"weather:read"}, QuotaTier: tier})
		if err != nil {
			t.Fatal(err)
		}
		id := info.ID
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {svc.mcpURL}, "scope": {"weather:read"}}
		req, _ := http.NewRequest(http.MethodPost, svc.issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("client_credentials: %d %v", resp.StatusCode, err)
		}
		return tok.AccessToken
	}
	calls := func(token string) (ok, limited int) {
		for range 6 {
			req, _ := http.NewRequest(http.MethodPost, svc.mcpURL, strings.NewReader(
				`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_forecast","arguments":{"city":"Rome"}}}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200 && strings.Contains(string(body), "forecast"):
				ok++
			case resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "":
				limited++
			default:
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}
		return ok, limited
	}
	if ok, limited := calls(token("bronze")); ok != 3 || limited != 3 {
		t.Errorf("bronze client: %d allowed, %d limited; want 3 and 3", ok, limited)
	}
	if ok, limited := calls(token("")); ok != 6 || limited != 0 {
		t.Errorf("client without tier: %d allowed, %d limited; want 6 and 0", ok, limited)
	}
	if n := metricValue(t, svc.issuer, `mcpauth_tokens_issued_total{grant_type="client_credentials"}`); n != 2 {
		t.Errorf("tokens issued metric = %d, want 2", n)
	}
	if n := metricValue(t, svc.issuer, `mcpauth_protect_rate_limited_total{limit="client"}`); n != 3 {
		t.Errorf("rate-limited metric = %d, want 3", n)
	}
}

func TestServeCommandPrintsURLAndShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, serveOptions{addr: "127.0.0.1:0", data: t.TempDir()}, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	var mcpURL string
	buf := make([]byte, 4096)
	var printed string
	for !strings.Contains(printed, "/mcp\n") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("serve output %q: %v", printed, err)
		}
		printed += string(buf[:n])
	}
	_, after, _ := strings.Cut(printed, "give this to clients): ")
	mcpURL = strings.TrimSpace(after)
	if !strings.Contains(printed, "mcpauth serve: store SQLite ") {
		t.Errorf("serve output %q does not name its store", printed)
	}
	if runtime.GOOS == "linux" && !strings.Contains(printed, "(WAL fdatasynced through Linux AIO)\n") {
		t.Errorf("serve output %q: the store does not sync its WAL through AIO", printed)
	}
	resp, err := http.Get(strings.TrimSuffix(mcpURL, "/mcp") + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v after shutdown", err)
	}
	if _, err := http.Get(strings.TrimSuffix(mcpURL, "/mcp") + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestServeConfigFile(t *testing.T) {
	cmd := newServeCmd()
	path := t.TempDir() + "/serve.json"
	if err := os.WriteFile(path, []byte(`{"addr": "127.0.0.1:9999", "rate-user": 7, "rate-tier": ["gold=50", "silver=20"], "stateless": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Flags().Parse([]string{"--config", path, "--addr", "127.0.0.1:7777"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd.Flags(), path); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	if get("addr") != "127.0.0.1:7777" || get("rate-user") != "7" || get("rate-tier") != "[gold=50,silver=20]" || get("stateless") != "true" {
		t.Errorf("addr %s rate-user %s rate-tier %s stateless %s", get("addr"), get("rate-user"), get("rate-tier"), get("stateless"))
	}
	for _, bad := range []string{`{"no-such-flag": 1}`, `{"rate-user": "many"}`, `[1]`, `{"rate-tier": [{"a": 1}]}`} {
		os.WriteFile(path, []byte(bad), 0o600)
		if err := applyConfigFile(newServeCmd().Flags(), path); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = dir+"/cert.pem", dir+"/key.pem"
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile, pool
}

func TestServeOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	svc := startServe(t, serveOptions{tlsCert: certFile, tlsKey: keyFile, stateless: true}, nil)
	if !strings.HasPrefix(svc.mcpURL, "https://127.0.0.1:") {
		t.Fatalf("MCP URL %s", svc.mcpURL)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx := context.Background()
	info, secret, err := svc.as.Admin().AddClient(ctx, authserver.StaticClient{Name: "tls backend", Confidential: true,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"stocks:read"}})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {svc.mcpURL}, "scope": {"stocks:read"}}
	req, _ := http.NewRequest(http.MethodPost, svc.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(info.ID), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("token over TLS: %s", resp.Status)
	}
	// The MCP server verifies the token against its own JWKS in-process,
	// with no need to trust its own self-signed certificate.
	req, _ = http.NewRequest(http.MethodPost, svc.mcpURL, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"stock_quotes","arguments":{"symbols":["ACME"]}}}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ACME") {
		t.Errorf("tools/call over TLS: %d %s", resp.StatusCode, body)
	}
}

func TestServeRefusesDevLoginOffLoopback(t *testing.T) {
	_, err := newService(context.Background(), serveOptions{data: t.TempDir(), devLogin: "alice", issuer: "https://mcp.example.com"},
		"0.0.0.0:8080", quiet)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("dev login on 0.0.0.0: err %v, want a refusal naming loopback", err)
	}
}

// TestServeMetricsParseAndMove scrapes /metrics with Prometheus' own strict
// text parser (a test-only import) around a login and tool calls.
func TestServeMetricsParseAndMove(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice"}, nil)
	scrape := func() map[string]*dto.MetricFamily {
		resp, err := http.Get(svc.issuer + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		return fams
	}
	value := func(fams map[string]*dto.MetricFamily, name, label string) float64 {
		for _, m := range fams[name].GetMetric() {
			if l := m.GetLabel(); len(l) == 0 && label == "" || len(l) == 1 && l[0].GetValue() == label {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		return 0
	}

	before := scrape()
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if value(before, name, "") <= 0 {
			t.Errorf("%s = %v", name, value(before, name, ""))
		}
	}
	if value(before, "mcpauth_tokens_issued_total", "authorization_code") != 0 || value(before, "mcpauth_protect_requests_total", "ok") != 0 {
		t.Error("counters are not 0 before any request")
	}

	cs := goSDKClient(t, svc.mcpURL, &devLoginFetcher{})
	for range 2 {
		if err := callTool(context.Background(), cs, "weather_forecast", map[string]any{"city": "Porto"}); err != nil {
			t.Fatal(err)
		}
	}
	after := scrape()
	if got := value(after, "mcpauth_tokens_issued_total", "authorization_code"); got != 1 {
		t.Errorf(`tokens_issued{grant_type="authorization_code"} = %v, want 1`, got)
	}
	// The first request was refused (401 missing), then at least initialize,
	// notifications/initialized and two tools/call were let through.
	if got := value(after, "mcpauth_protect_auth_failures_total", "missing"); got != 1 {
		t.Errorf(`auth_failures{reason="missing"} = %v, want 1`, got)
	}
	if got := value(after, "mcpauth_protect_requests_total", "ok"); got < 4 {
		t.Errorf(`requests{outcome="ok"} = %v, want at least 4`, got)
	}
	if a, b := value(before, "go_memstats_alloc_bytes_total", ""), value(after, "go_memstats_alloc_bytes_total", ""); b <= a {
		t.Errorf("go_memstats_alloc_bytes_total did not move: %v, %v", a, b)
	}
}
