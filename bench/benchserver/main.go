// Command benchserver runs the servers the benchmarks compare mcpauth serve with, each as its own
// process so that it can be pinned to one core like the others:
//
//	benchserver -mode plain       a plain net/http handler answering a small JSON body: the floor
//	benchserver -mode mcp         the example MCP server (go-sdk) with no authentication at all
//	benchserver -mode protected -issuer URL -resource URL
//	                              the same server behind protect, as mcpauth serve assembles it
//	                              (JWT verified against the issuer's JWKS, per-tool scopes, per-user
//	                              and per-client rate limits in memory, metrics), without an
//	                              authorization server in the process: the cost of protection alone
//	benchserver -mode register    mcpauth's authorization server without the per-address
//	                              registration rate limit (which refuses a benchmark's flood from
//	                              one address), on SQLite (-data) or PostgreSQL (-postgres), with
//	                              mcpauth serve's garbage collector settings (internal/servegc)
//
// In modes mcp and protected it also serves /debug/runtime, the process's runtime/metrics as one
// JSON object (the tool-call benchmark reads the garbage collector's figures of each side from
// it), and with -pprof the net/http/pprof handlers under /debug/pprof/. Neither is behind protect.
//
// It prints "listening URL" when ready and stops on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/internal/servegc"
	"github.com/mcpauth/mcpauth/protect"
)

func main() {
	mode := flag.String("mode", "plain", "plain, mcp, protected or register")
	issuer := flag.String("issuer", "", "authorization server issuer (protected)")
	resource := flag.String("resource", "", "resource the tokens are for (protected)")
	data := flag.String("data", "", "SQLite data directory (register)")
	dsn := flag.String("postgres", "", "PostgreSQL DSN instead of SQLite (register)")
	withPprof := flag.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ (mcp, protected)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var h http.Handler
	switch *mode {
	case "plain":
		body := []byte(`{"access_token":"plain","token_type":"Bearer","expires_in":3600}`)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	case "mcp":
		s := publicserver.NewServer("bench")
		mux := http.NewServeMux()
		mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		h = withDebug(mux, *withPprof)
	case "protected":
		mux, err := protectedServer(*issuer, *resource)
		if err != nil {
			log.Fatal(err)
		}
		h = withDebug(mux, *withPprof)
	case "register":
		servegc.Apply(os.Getenv) // as mcpauth serve runs its authorization server
		h, err = registerServer(ctx, base, ln.Addr().String(), *data, *dsn)
		if err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	srv := &http.Server{Handler: h}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Println("listening", base)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// withDebug adds /debug/runtime and, with withPprof, /debug/pprof/ to mux.
func withDebug(mux *http.ServeMux, withPprof bool) *http.ServeMux {
	mux.HandleFunc("/debug/runtime", runtimeMetrics)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	return mux
}

// runtimeMetrics writes every scalar runtime/metrics sample of the process as one JSON object
// of name to number (histograms are left out), with the process's user and system CPU time
// and page faults.
func runtimeMetrics(w http.ResponseWriter, _ *http.Request) {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[s.Name] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			out[s.Name] = s.Value.Float64()
		}
	}
	// And the process's user and system CPU time, which runtime/metrics does not split, and
	// its page faults.
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out["rusage/user:cpu-seconds"] = time.Duration(ru.Utime.Nano()).Seconds()
		out["rusage/system:cpu-seconds"] = time.Duration(ru.Stime.Nano()).Seconds()
		out["rusage/page-faults:minor"] = float64(ru.Minflt)
		out["rusage/page-faults:major"] = float64(ru.Majflt)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// protectedServer is the example MCP server behind protect, configured as mcpauth serve
// configures it (cmd/mcpauth/serve.go), verifying tokens of issuer for resource.
func protectedServer(issuer, resource string) (*http.ServeMux, error) {
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: resource})
	if err != nil {
		return nil, err
	}
	p, err := protect.New(protect.Config{
		Resource: resource, AuthorizationServers: []string{issuer}, Verifier: verifier,
		ScopesSupported: publicserver.Scopes(), ToolScopes: publicserver.ToolScopes(),
		RateLimits: &protect.RateLimits{PerUser: protect.Limit{Requests: 1_000_000_000, Window: time.Minute},
			PerClient: protect.Limit{Requests: 1_000_000_000, Window: time.Minute}},
		Metrics: protect.NewMetrics(nil),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return nil, err
	}
	s := publicserver.NewServer("bench")
	s.AddReceivingMiddleware(p.ServerMiddleware(true))
	mux := http.NewServeMux()
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	return mux, nil
}

// registerServer is the authorization server as mcpauth serve assembles it, with a registration
// rate limit no benchmark reaches.
func registerServer(ctx context.Context, issuer, addr, data, dsn string) (http.Handler, error) {
	var st store.Store
	var err error
	if dsn != "" {
		st, err = postgres.Open(ctx, dsn)
	} else {
		st, err = sqlite.Open(filepath.Join(data, "mcpauth.db"))
	}
	if err != nil {
		return nil, err
	}
	kek, err := authserver.LoadKey(filepath.Join(data, "key.b64"))
	if err != nil {
		return nil, err
	}
	as, err := authserver.New(ctx, authserver.Config{
		Issuer: issuer, Store: st, KeyEncryptionKey: kek, ListenAddr: addr,
		Resources:        []authserver.Resource{{URI: issuer + "/mcp", Scopes: publicserver.Scopes()}},
		RegistrationRate: 1 << 30,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, nil)), // as mcpauth serve logs: audit events included
	})
	if err != nil {
		return nil, err
	}
	return as.Handler(), nil
}
