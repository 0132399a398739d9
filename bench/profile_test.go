package bench

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/examples/publicserver"
)

// The in-process benchmarks below are for CPU profiles of the authorization server, not for the
// published figures (client and server share the process):
//
//	go test -run '^$' -bench InProcess -cpuprofile cpu.out ./bench/ && go tool pprof -top bench.test cpu.out

// inProcessAS serves mcpauth's authorization server on SQLite from this process, logging as
// mcpauth serve does (text, audit events included) to nowhere, and returns a client view of it
// with a pre-registered client_credentials client.
func inProcessAS(b *testing.B) (*harness.AS, *harness.Client) {
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
	srv.Start()
	b.Cleanup(srv.Close)
	return discover(b, issuer, issuer+"/mcp"), &harness.Client{ID: info.ID, Secret: secret}
}

// runParallel runs op on *conns goroutines until b.N operations are done.
func runParallel(b *testing.B, op harness.Op) {
	b.SetParallelism(max(1, *conns/2))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(context.Background(), 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkInProcessClientCredentials(b *testing.B) {
	as, cc := inProcessAS(b)
	runParallel(b, ccOp(as, cc))
}

func BenchmarkInProcessRegistration(b *testing.B) {
	as, _ := inProcessAS(b)
	runParallel(b, registerOp(as))
}
