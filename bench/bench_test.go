package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

var (
	duration = flag.Duration("bench.duration", 5*time.Second, "how long each side of a benchmark is measured")
	conns    = flag.Int("bench.conns", 32, "concurrent connections (closed-loop workers)")
	warmup   = flag.Duration("bench.warmup", 10*time.Second, "load on each server of a benchmark before it is measured")
)

// serverCPU is the CPU every server under test is pinned to (MCPAUTH_BENCH_CPU, set by run.sh);
// -1 (the default, and when taskset is missing) leaves them unpinned.
func serverCPU() int {
	n, err := strconv.Atoi(os.Getenv("MCPAUTH_BENCH_CPU"))
	if err != nil {
		return -1
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return -1
	}
	return n
}

// stores lists the stores ours is measured on: SQLite always, PostgreSQL when the test script's
// server is there.
func stores() []string {
	if os.Getenv("MCPAUTH_TEST_POSTGRES_DSN") != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// ours is mcpauth serve with a pre-registered client_credentials client.
type ours struct {
	*harness.Serve
	as *harness.AS
	cc *harness.Client
}

// startOurs runs mcpauth serve on the store, with dev login (so that authorizations need no
// browser) and rate limits evaluated on every MCP request but set beyond reach.
func startOurs(tb testing.TB, storeKind string) *ours {
	tb.Helper()
	bin := testenv.BuildBinary(tb, "./cmd/mcpauth")
	storeArgs := []string{"--data", tb.TempDir()}
	var env []string
	if storeKind == "postgres" {
		storeArgs = append(storeArgs, "--postgres", testenv.PostgresDSN(tb))
		env = append(env, harness.NewKeyEnv())
	}
	cc := harness.AddClient(tb, env, bin, storeArgs...)
	s := harness.StartServe(tb, harness.Options{PinCPU: serverCPU(), Env: env}, bin, append(storeArgs,
		"--addr", "127.0.0.1:0", "--dev-login", "bench", "--rate-user", "1000000000", "--rate-client", "1000000000")...)
	return &ours{Serve: s, as: discover(tb, s.Issuer, s.MCPURL), cc: cc}
}

func discover(tb testing.TB, issuer, resource string) *harness.AS {
	tb.Helper()
	as, err := harness.Discover(context.Background(), harness.NewHTTPClient(*conns), issuer, resource)
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

// measure runs op alone on conns workers for d and fails on any error.
func measure(tb testing.TB, what string, d time.Duration, op harness.Op) (completed int) {
	tb.Helper()
	res := harness.Run(context.Background(), *conns, d, map[string]harness.Op{what: op}, harness.Only(what))
	if _, errs, _ := res.Total(); errs > 0 {
		tb.Fatalf("%s:\n%s", what, res)
	}
	if res.Ops[what].Count == 0 {
		tb.Fatalf("%s: no operation completed in %v", what, d)
	}
	tb.Logf("%s", res)
	return res.Ops[what].Count
}

// rawClient returns a raw load generator client (one keep-alive connection per worker) for
// the origin of endpoint; it is closed when the test ends.
func rawClient(tb testing.TB, endpoint string) *harness.RawClient {
	tb.Helper()
	rc, err := harness.NewRawClient(endpoint, *conns, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rc.Close)
	return rc
}

// ccOp issues client_credentials tokens for weather:read.
func ccOp(tb testing.TB, as *harness.AS, c *harness.Client) harness.Op {
	tb.Helper()
	rc := rawClient(tb, as.Metadata.TokenEndpoint)
	req, err := as.TokenRequest(rc, c, url.Values{"grant_type": {"client_credentials"}, "scope": {"weather:read"}})
	if err != nil {
		tb.Fatal(err)
	}
	return harness.RawOp(rc, "token client_credentials", req, http.StatusOK, "access_token")
}

// registerOp registers a new public client per call.
func registerOp(tb testing.TB, as *harness.AS) harness.Op {
	tb.Helper()
	rc := rawClient(tb, as.Metadata.RegistrationEndpoint)
	req, err := as.RegisterRequest(rc, "bench client")
	if err != nil {
		tb.Fatal(err)
	}
	return harness.RawOp(rc, "register", req, http.StatusCreated, "client_id")
}

// refreshOp gives each worker its own refresh token chain (one authorization each, through
// authorize) and rotates it on every call: each call spends one refresh token and gets the next.
func refreshOp(tb testing.TB, as *harness.AS, workers int,
	authorize func(context.Context, *harness.Client) (code, verifier string, err error)) harness.Op {
	tb.Helper()
	ctx := context.Background()
	c, err := as.Register(ctx, "bench refresh client")
	if err != nil {
		tb.Fatal(err)
	}
	chains := make([]string, workers)
	for i := range chains {
		code, verifier, err := authorize(ctx, c)
		if err != nil {
			tb.Fatal(err)
		}
		t, err := as.Exchange(ctx, c, code, verifier)
		if err != nil {
			tb.Fatal(err)
		}
		if t.RefreshToken == "" {
			tb.Fatal("the code exchange returned no refresh token")
		}
		chains[i] = t.RefreshToken
	}
	op, err := as.RawRefresh(rawClient(tb, as.Metadata.TokenEndpoint), c, chains)
	if err != nil {
		tb.Fatal(err)
	}
	return op
}

func devLogin(as *harness.AS) func(context.Context, *harness.Client) (string, string, error) {
	return func(ctx context.Context, c *harness.Client) (string, string, error) {
		return as.Authorize(ctx, c, "weather:read")
	}
}

func forms(as *harness.AS) func(context.Context, *harness.Client) (string, string, error) {
	return func(ctx context.Context, c *harness.Client) (string, string, error) {
		return as.AuthorizeWithForms(ctx, c, "weather:read", "bench")
	}
}

// side is what was measured of one server over one turn or more: the requests completed and
// the wall time they took; the CPU time its process and the load generator (this process) spent;
// and the counters of the cores each runs on (zero when not pinned). Its figures are methods:
// requests per second, CPU time per request of the server (robust to the load other processes
// put on the machine, which the rate is not) and of the generator, and how busy each process
// and each core was.
type side struct {
	n             float64
	wall          time.Duration
	server, gen   time.Duration
	core, genCore harness.Core
}

func (s side) rate() float64         { return s.n / s.wall.Seconds() }
func (s side) cpu() time.Duration    { return time.Duration(float64(s.server) / s.n) }
func (s side) genCPU() time.Duration { return time.Duration(float64(s.gen) / s.n) }
func (s side) busy() float64         { return float64(s.server) / float64(s.wall) }
func (s side) genBusy() float64 {
	return float64(s.gen) / float64(s.wall) / float64(runtime.GOMAXPROCS(0))
}

// total is a server's turns taken together.
func total(turns []side) side {
	var t side
	for _, s := range turns {
		t.n, t.wall, t.server, t.gen = t.n+s.n, t.wall+s.wall, t.server+s.server, t.gen+s.gen
		t.core, t.genCore = t.core.Add(s.core), t.genCore.Add(s.genCore)
	}
	return t
}

// contender is one server of a benchmark and the operation the load generator sends it.
type contender struct {
	name string
	p    *harness.Process
	op   harness.Op
}

// takeTurns measures the contenders one after the other, in -bench.rounds rounds: each turn
// lasts -bench.duration divided by the rounds, so that each contender is measured for
// -bench.duration in all. A round's turns follow each other within seconds, so a burst of
// other work on the shared machine, or its slow drift, falls on every contender of that round
// alike, and the median of the rounds' ratios (see report) is not swayed by one round.
//
// Each contender is first loaded for -bench.warmup, not counted: oidc-provider, run by Node,
// reaches its steady speed only after several seconds of load, as V8 compiles its hot code
// (its CPU per client_credentials token fell from about 1,050 µs in the first rounds to about
// 600 µs by the fourth, 5 s into its load, when it had 1.25 s of warm-up), so a measurement of a
// fresh process flatters whoever it is compared with. Go's heap and caches settle within the
// first second. It returns each contender's turns.
func takeTurns(tb testing.TB, cs []contender) [][]side {
	tb.Helper()
	n := max(*rounds, 1)
	d := *duration / time.Duration(n)
	for _, c := range cs {
		measure(tb, c.name+" (warm-up)", *warmup, c.op)
	}
	turns := make([][]side, len(cs))
	for range n {
		for i, c := range cs {
			turns[i] = append(turns[i], measureServer(tb, c.name, c.p, c.op, d))
		}
	}
	return turns
}

// loadgenCPU is the CPU the load generator runs on (MCPAUTH_BENCH_LOADGEN_CPU, set by run.sh),
// or -1.
func loadgenCPU() int {
	n, err := strconv.Atoi(os.Getenv("MCPAUTH_BENCH_LOADGEN_CPU"))
	if err != nil {
		return -1
	}
	return n
}

// readCore reads CPU n's counters (zero when n < 0).
func readCore(tb testing.TB, n int) harness.Core {
	tb.Helper()
	if n < 0 {
		return harness.Core{}
	}
	c, err := harness.ReadCore(n)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// measureServer runs measure against the server process p for d and reads p's and this
// process's CPU time, and their cores' counters, around it.
func measureServer(tb testing.TB, what string, p *harness.Process, op harness.Op, d time.Duration) side {
	tb.Helper()
	cpuTimes := func() (server, gen time.Duration) {
		server, err := p.CPUTime()
		if err != nil {
			tb.Fatal(err)
		}
		if gen, err = harness.SelfCPUTime(); err != nil {
			tb.Fatal(err)
		}
		return server, gen
	}
	s0, g0 := cpuTimes()
	c0, l0 := readCore(tb, serverCPU()), readCore(tb, loadgenCPU())
	start := time.Now()
	// The requests completed, not the rate times d: the run lasts d plus the time the requests
	// under way at its end take, which is a large share of a short turn for a slow server.
	n := measure(tb, what, d, op)
	wall := time.Since(start)
	s1, g1 := cpuTimes()
	c1, l1 := readCore(tb, serverCPU()), readCore(tb, loadgenCPU())
	return side{n: float64(n), wall: wall, server: s1 - s0, gen: g1 - g0, core: c1.Sub(c0), genCore: l1.Sub(l0)}
}

// report prints one benchmark's figures: each side, then ours against the peer and the floor, in
// requests per second and in server CPU time per request. For each side it shows how busy the
// server and the load generator were, and their cores with every process on them, with the
// generator's CPU per request; it warns where the generator may have bounded a rate, or where
// other processes on the cores did.
//
// Below that it prints each server's CPU per request in each round, then for each of our stores
// the ratio by CPU per request in each round (the peer's turn over ours) with their median, the
// figure to read, and the median of the rounds' ratios by rate.
func report(b *testing.B, title string, peerName string, peerTurns, floorTurns []side, ourTurns map[string][]side) {
	peer, floor := total(peerTurns), total(floorTurns)
	ourFigures := map[string]side{}
	for st, turns := range ourTurns {
		ourFigures[st] = total(turns)
	}
	fmt.Printf("\n%s at %d connections, servers pinned to CPU %d, %v each in %d turns:\n", title, *conns, serverCPU(), *duration, len(peerTurns))
	fmt.Printf("  %-28s %9s   %-41s %s\n", "", "rate", "server (its core, all processes)", "load generator (its core)")
	type named struct {
		name  string
		s     side
		ratio string
	}
	sides := []named{{peerName, peer, ""}, {"plain net/http handler", floor, ""}}
	for _, st := range stores() {
		if v, ok := ourFigures[st]; ok {
			sides = append(sides, named{"mcpauth (" + st + ")", v, fmt.Sprintf("   %.2fx %s, %.0f%% of the floor (by CPU/req: %.2fx, %.0f%%)",
				v.rate()/peer.rate(), peerName, 100*v.rate()/floor.rate(), us(peer.cpu())/us(v.cpu()), 100*us(floor.cpu())/us(v.cpu()))})
			b.ReportMetric(v.rate(), st+"/s")
			b.ReportMetric(v.rate()/peer.rate(), st+"/peer")
			b.ReportMetric(us(peer.cpu())/us(v.cpu()), st+"/peer-cpu")
		}
	}
	var genBound, crowded, stolen []string
	for _, n := range sides {
		fmt.Printf("  %-28s %9.0f /s %6.0f µs CPU/req, busy %3.0f%%%s   %4.0f µs/req, busy %3.0f%%%s%s\n",
			n.name, n.s.rate(), us(n.s.cpu()), 100*n.s.busy(), core(serverCPU(), n.s.core),
			us(n.s.genCPU()), 100*n.s.genBusy(), core(loadgenCPU(), n.s.genCore), n.ratio)
		switch {
		case n.s.genBusy() > 0.8:
			genBound = append(genBound, n.name)
		case n.s.busy() < 0.7 && (n.s.core.BusyShare() > 0.9 || n.s.genCore.BusyShare() > 0.9):
			crowded = append(crowded, n.name)
		}
		if n.s.core.StealShare() > stealWarning || n.s.genCore.StealShare() > stealWarning {
			stolen = append(stolen, n.name)
		}
	}
	if len(stolen) > 0 {
		fmt.Printf("  WARNING: the hypervisor gave over %.0f%% of a core's time to another guest (steal) measuring %s: rates are understated, and ratios by rate move with the steal; compare CPU/req\n",
			100*stealWarning, strings.Join(stolen, ", "))
	}
	if len(genBound) > 0 {
		fmt.Printf("  WARNING: the load generator was busy over 80%% measuring %s: it may have bounded that rate\n", strings.Join(genBound, ", "))
	}
	if len(crowded) > 0 {
		fmt.Printf("  WARNING: other processes kept the cores busy measuring %s (the server was not saturated): compare CPU/req, not rates\n",
			strings.Join(crowded, ", "))
	}
	perRound := func(name string, turns []side) {
		list := make([]string, len(turns))
		for i, t := range turns {
			list[i] = fmt.Sprintf("%.0f", us(t.cpu()))
		}
		fmt.Printf("  %-28s CPU/req in each round (µs): %s\n", name, strings.Join(list, " "))
	}
	perRound(peerName, peerTurns)
	for _, st := range stores() {
		if turns, ok := ourTurns[st]; ok {
			perRound("mcpauth ("+st+")", turns)
		}
	}
	for _, st := range stores() {
		turns, ok := ourTurns[st]
		if !ok {
			continue
		}
		byCPU, byRate := make([]float64, len(turns)), make([]float64, len(turns))
		for i, t := range turns {
			byCPU[i], byRate[i] = us(peerTurns[i].cpu())/us(t.cpu()), t.rate()/peerTurns[i].rate()
		}
		list := make([]string, len(byCPU))
		for i, r := range byCPU {
			list[i] = fmt.Sprintf("%.2f", r)
		}
		sorted, sortedRate := slices.Sorted(slices.Values(byCPU)), slices.Sorted(slices.Values(byRate))
		median := quantile(sorted, 0.5)
		fmt.Printf("  mcpauth (%s) against %s by CPU/req in each round: %s; median %.2fx (middle half %.2f..%.2fx); by rate, median %.2fx\n",
			st, peerName, strings.Join(list, " "), median, quantile(sorted, 0.25), quantile(sorted, 0.75), quantile(sortedRate, 0.5))
		b.ReportMetric(median, st+"/peer-cpu-median")
	}
	b.ReportMetric(peer.rate(), "peer/s")
}

// core formats how busy CPU n was with every process on it, when pinned, and how much of its
// time the hypervisor gave another guest, when that was 1% or more.
func core(n int, c harness.Core) string {
	if n < 0 {
		return ""
	}
	if st := c.StealShare(); st >= 0.01 {
		return fmt.Sprintf(" (CPU %d %3.0f%%, %.0f%% stolen)", n, 100*c.BusyShare(), 100*st)
	}
	return fmt.Sprintf(" (CPU %d %3.0f%%)", n, 100*c.BusyShare())
}

// stealWarning is the share of a core's time given to another guest from which report warns that
// rates are understated.
const stealWarning = 0.03

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// plain is the floor: a plain net/http handler.
func plain(b *testing.B) contender {
	p, url := harness.StartBenchServer(b, serverCPU(), "plain")
	return contender{"plain", p, plainOp(b, url)}
}

// compete measures our stores' servers, the peer and the floor in turns (takeTurns) and reports.
func compete(b *testing.B, title string, ours []contender, peer contender) {
	cs := append(append(ours, peer), plain(b))
	turns := takeTurns(b, cs)
	for _, c := range cs {
		c.p.Kill()
	}
	ourTurns := map[string][]side{}
	for i, st := range stores() {
		ourTurns[st] = turns[i]
	}
	report(b, title, "oidc-provider", turns[len(ours)], turns[len(ours)+1], ourTurns)
}

// once runs a benchmark body a single time whatever b.N is: each body is a fixed-duration load
// run, not a loop (use -benchtime=1x).
func once(b *testing.B, body func()) {
	b.Helper()
	if b.N > 1 {
		b.Skip("run with -benchtime=1x: each benchmark is a fixed-duration load run")
	}
	body()
}

// BenchmarkTokenClientCredentials: client_credentials tokens per second (ES256 at+jwt bound to
// the MCP server), mcpauth serve vs oidc-provider, and a plain handler as the floor.
func BenchmarkTokenClientCredentials(b *testing.B) {
	once(b, func() {
		var ourSides []contender
		for _, st := range stores() {
			o := startOurs(b, st)
			ourSides = append(ourSides, contender{"ours " + st, o.Process, ccOp(b, o.as, o.cc)})
		}
		p := harness.StartOIDCProvider(b, serverCPU(), "http://127.0.0.1:9/mcp")
		pas := discover(b, p.Issuer, "http://127.0.0.1:9/mcp")
		compete(b, "token endpoint, client_credentials", ourSides, contender{"oidc-provider", p.Process, ccOp(b, pas, p.CC)})
	})
}

// BenchmarkTokenRefresh: refresh token rotations per second.
func BenchmarkTokenRefresh(b *testing.B) {
	once(b, func() {
		var ourSides []contender
		for _, st := range stores() {
			o := startOurs(b, st)
			ourSides = append(ourSides, contender{"ours " + st, o.Process, refreshOp(b, o.as, *conns, devLogin(o.as))})
		}
		p := harness.StartOIDCProvider(b, serverCPU(), "http://127.0.0.1:9/mcp")
		pas := discover(b, p.Issuer, "http://127.0.0.1:9/mcp")
		compete(b, "token endpoint, refresh_token (rotation)", ourSides, contender{"oidc-provider", p.Process, refreshOp(b, pas, *conns, forms(pas))})
	})
}

// BenchmarkRegistration: dynamic client registrations per second; ours commits each client to
// its store before the 201, oidc-provider keeps them in memory.
func BenchmarkRegistration(b *testing.B) {
	once(b, func() {
		var ourSides []contender
		for _, st := range stores() {
			args := []string{"-data", b.TempDir()}
			if st == "postgres" {
				args = append(args, "-postgres", testenv.PostgresDSN(b))
			}
			p, url := harness.StartBenchServer(b, serverCPU(), "register", args...)
			ourSides = append(ourSides, contender{"ours " + st, p, registerOp(b, discover(b, url, url+"/mcp"))})
		}
		p := harness.StartOIDCProvider(b, serverCPU(), "http://127.0.0.1:9/mcp")
		compete(b, "dynamic client registration (RFC 7591)", ourSides, contender{"oidc-provider", p.Process, registerOp(b, discover(b, p.Issuer, "http://127.0.0.1:9/mcp"))})
	})
}

// plainOp posts a token-request-sized form to the plain handler, which answers a token-shaped body.
func plainOp(tb testing.TB, base string) harness.Op {
	tb.Helper()
	rc := rawClient(tb, base)
	form := "grant_type=client_credentials&scope=weather%3Aread&resource=http%3A%2F%2F127.0.0.1%3A9%2Fmcp"
	req := rc.NewRequest("POST", "/token", []byte(form), "Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")
	return harness.RawOp(rc, "plain", req, http.StatusOK, "access_token")
}
