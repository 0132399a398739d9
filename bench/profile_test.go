package bench

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/protect"
)

// The in-process benchmarks below are for CPU profiles of the authorization server, not for the
// published figures (client and server share the process):
//
//	go test -run '^$' -bench InProcess -cpuprofile cpu.out ./bench/ && go tool pprof -top bench.test cpu.out

// inProcessAS serves mcpauth's authorization server on SQLite from this process, logging as
// mcpauth serve does (text, audit events included) to nowhere, with dev login (user "bench"),
// and returns a client view of it with a pre-registered client_credentials client. With
// protected, the server also serves the example MCP server at /mcp behind protect, as mcpauth
// serve assembles it.
func inProcessAS(b *testing.B, protected bool) (*harness.AS, *harness.Client) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "mcpauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	as, err := authserver.New(ctx, authserver.Config{
		Issuer: issuer, Store: st, KeyEncryptionKey: kek, ListenAddr: srv.Listener.Addr().String(),
		Resources:        []authserver.Resource{{URI: issuer + "/mcp", Scopes: publicserver.Scopes()}},
		RegistrationRate: 1 << 30,
		DevLoginUser:     "bench",
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { as.Close() })
	info, secret, err := as.Admin().AddClient(ctx, authserver.StaticClient{Name: "bench", Confidential: true,
		GrantTypes: []string{authserver.GrantClientCredentials}})
	if err != nil {
		b.Fatal(err)
	}
	srv.Config.Handler = as.Handler()
	if protected {
		srv.Config.Handler = protectedMux(b, issuer, as.Handler())
	}
	srv.Start()
	b.Cleanup(srv.Close)
	return discover(b, issuer, issuer+"/mcp"), &harness.Client{ID: info.ID, Secret: secret}
}

// runParallel runs op on at most *conns goroutines, each with its own worker number, until b.N
// operations are done.
func runParallel(b *testing.B, op harness.Op) {
	b.SetParallelism(max(1, *conns/runtime.GOMAXPROCS(0)))
	var workers atomic.Int32
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(workers.Add(1)-1) % *conns
		for pb.Next() {
			if err := op(context.Background(), w); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// protectedMux is mcpauth serve's handler: the authorization server at the origin, the example
// MCP server at /mcp behind protect (JWT verification against the in-process JWKS, per-tool
// scopes, per-user and per-client rate limits set beyond reach, metrics).
func protectedMux(b *testing.B, issuer string, asHandler http.Handler) http.Handler {
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: issuer + "/mcp",
		HTTPClient: &http.Client{Transport: handlerTransport{asHandler}}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := protect.New(protect.Config{
		Resource: issuer + "/mcp", AuthorizationServers: []string{issuer}, Verifier: verifier,
		ScopesSupported: publicserver.Scopes(), ToolScopes: publicserver.ToolScopes(),
		RateLimits: &protect.RateLimits{PerUser: protect.Limit{Requests: 1 << 30, Window: time.Minute},
			PerClient: protect.Limit{Requests: 1 << 30, Window: time.Minute}},
		Metrics: protect.NewMetrics(nil),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	s := publicserver.NewServer("bench")
	s.AddReceivingMiddleware(p.ServerMiddleware(true))
	mux := http.NewServeMux()
	mux.Handle("/", asHandler)
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	return mux
}

// handlerTransport answers requests with an in-process handler (the JWKS, as mcpauth serve does).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func BenchmarkInProcessClientCredentials(b *testing.B) {
	as, cc := inProcessAS(b, false)
	runParallel(b, ccOp(b, as, cc))
}

func BenchmarkInProcessRefresh(b *testing.B) {
	as, _ := inProcessAS(b, false)
	runParallel(b, refreshOp(b, as, *conns, devLogin(as)))
}

func BenchmarkInProcessRegistration(b *testing.B) {
	as, _ := inProcessAS(b, false)
	runParallel(b, registerOp(b, as))
}

func BenchmarkInProcessProtectedToolCall(b *testing.B) {
	as, cc := inProcessAS(b, true)
	tok, err := as.ClientCredentials(context.Background(), cc, "weather:read")
	if err != nil {
		b.Fatal(err)
	}
	runParallel(b, toolCallOp(b, as.Resource, tok.AccessToken))
}

func BenchmarkInProcessToolCallWithoutAuth(b *testing.B) {
	s := publicserver.NewServer("bench")
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	b.Cleanup(srv.Close)
	runParallel(b, toolCallOp(b, srv.URL, ""))
}
