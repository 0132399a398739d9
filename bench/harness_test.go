package bench

import (
	"context"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/bench/harness"
)

// The benchmarks compare like with like only if both servers do the same work per token: an
// RFC 9068 access token (typ at+jwt) signed with ES256.
func checkSameTokenFormat(t *testing.T, who string, tok *harness.Tokens) {
	t.Helper()
	h, err := harness.JWTHeader(tok.AccessToken)
	if err != nil {
		t.Fatalf("%s: access token: %v", who, err)
	}
	if h["alg"] != "ES256" || h["typ"] != "at+jwt" {
		t.Errorf("%s: access token header alg=%v typ=%v, want ES256 at+jwt", who, h["alg"], h["typ"])
	}
}

// TestBenchmarkScenariosRun runs every benchmark scenario briefly on both sides, so that a
// broken harness or peer set-up fails CI rather than the next benchmark run.
func TestBenchmarkScenariosRun(t *testing.T) {
	const d = 300 * time.Millisecond
	ctx := context.Background()
	*conns = 4

	o := startOurs(t, "sqlite")
	tok, err := o.as.ClientCredentials(ctx, o.cc, "weather:read")
	if err != nil {
		t.Fatal(err)
	}
	checkSameTokenFormat(t, "mcpauth", tok)
	measure(t, "ours client_credentials", d, ccOp(t, o.as, o.cc))
	measure(t, "ours refresh", d, refreshOp(t, o.as, *conns, devLogin(o.as)))
	measure(t, "ours tools/call", d, toolCallOp(t, o.MCPURL, tok.AccessToken))

	_, reg := harness.StartBenchServer(t, -1, "register", "-data", t.TempDir())
	measure(t, "ours register", d, registerOp(t, discover(t, reg, reg+"/mcp")))
	_, mcpBase := harness.StartBenchServer(t, -1, "mcp")
	measure(t, "tools/call without auth", d, toolCallOp(t, mcpBase+"/mcp", ""))
	_, protBase := harness.StartBenchServer(t, -1, "protected", "-issuer", o.Issuer, "-resource", o.MCPURL)
	measure(t, "tools/call behind protect", d, toolCallOp(t, protBase+"/mcp", tok.AccessToken))
	_, plain := harness.StartBenchServer(t, -1, "plain")
	measure(t, "plain", d, plainOp(t, plain))

	p := harness.StartOIDCProvider(t, -1, "http://127.0.0.1:9/mcp")
	pas := discover(t, p.Issuer, "http://127.0.0.1:9/mcp")
	ptok, err := pas.ClientCredentials(ctx, p.CC, "weather:read")
	if err != nil {
		t.Fatal(err)
	}
	checkSameTokenFormat(t, "oidc-provider", ptok)
	measure(t, "oidc-provider client_credentials", d, ccOp(t, pas, p.CC))
	measure(t, "oidc-provider refresh", d, refreshOp(t, pas, *conns, forms(pas)))
	measure(t, "oidc-provider register", d, registerOp(t, pas))
}

// TestTotalAddsTurns: a server's turns are combined over all their requests and all their
// time, not averaged turn by turn (a slow turn has fewer requests).
func TestTotalAddsTurns(t *testing.T) {
	turns := []side{
		{n: 1000, wall: time.Second, server: 100 * time.Millisecond, gen: 50 * time.Millisecond, core: harness.Core{Busy: 100, Total: 100}},
		{n: 3000, wall: 3 * time.Second, server: 900 * time.Millisecond, gen: 30 * time.Millisecond, core: harness.Core{Busy: 150, Total: 300}},
	}
	got := total(turns)
	if got.rate() != 1000 || got.cpu() != 250*time.Microsecond || got.genCPU() != 20*time.Microsecond ||
		got.busy() != 0.25 || got.core.BusyShare() != 0.625 {
		t.Errorf("total: %.0f/s, %v CPU/req, generator %v/req, busy %.3f, core %.3f; want 1000/s, 250µs, 20µs, 0.250, 0.625",
			got.rate(), got.cpu(), got.genCPU(), got.busy(), got.core.BusyShare())
	}
}
