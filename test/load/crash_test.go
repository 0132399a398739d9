package load

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// runInBackground starts the fleet and returns a function that stops it and returns the result:
// with abandon, requests under way are dropped at once; without, they finish.
func runInBackground(f *fleet, workers int) func(abandon bool) *harness.Result {
	ctx, cancel := context.WithCancel(context.Background())
	stopCtx, stop := context.WithCancel(context.Background())
	done := make(chan *harness.Result, 1)
	go func() { done <- harness.RunUntil(ctx, stopCtx, workers, f.ops(), f.mix) }()
	return func(abandon bool) *harness.Result {
		stop()
		if abandon {
			cancel()
		}
		res := <-done
		cancel()
		return res
	}
}

// checkReady checks that the server answers /readyz with 200.
func checkReady(t *testing.T, s *server) {
	t.Helper()
	if status := readyStatus(t, s); status != http.StatusOK {
		t.Fatalf("/readyz: %d", status)
	}
}

// readyStatus returns the status of the server's /readyz.
func readyStatus(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get(s.Issuer + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// onlyServerErrors checks that every failure of a run under a fault was an HTTP 5xx answer: a
// 4xx would be a wrong answer; no answer, a hang or a crash.
func onlyServerErrors(t *testing.T, res *harness.Result) {
	t.Helper()
	for name, st := range res.Ops {
		if st.Errors > st.Status5xx {
			t.Errorf("%s: %d failures without an HTTP 5xx answer (first: %v)", name, st.Errors-st.Status5xx, st.FirstError)
		}
	}
}

var errorLog = regexp.MustCompile(`(?m)level=ERROR.*$`)

func TestCrashSafetySQLite(t *testing.T)   { testCrashSafety(t, "sqlite") }
func TestCrashSafetyPostgres(t *testing.T) { testCrashSafety(t, "postgres") }

// testCrashSafety kills mcpauth serve with SIGKILL under load, restarts it on the same store and
// address, and checks that it starts cleanly, that every registration and grant acknowledged
// before the kill is there, and that no code or refresh token works twice, including those whose
// redemption was under way at the kill.
func testCrashSafety(t *testing.T, storeKind string) {
	s := startServer(t, storeKind)
	const workers = 32
	f := newFleet(s.as(t, workers), workers)
	stop := runInBackground(f, workers)
	f.waitProgress(t, 150) // registrations, exchanges and rotations acknowledged: mid-load
	s.Kill()
	res := stop(true)
	t.Logf("before the kill:\n%s", res)

	s.start(t, s.Addr)
	checkReady(t, s)
	if m := errorLog.FindString(s.Output()); m != "" {
		t.Errorf("the restarted server logged an error: %s", m)
	}
	f.as = s.as(t, workers)
	f.verify(t)

	// Writes under way at the kill have an unknown outcome, but each code and refresh token
	// still works at most once.
	ctx := context.Background()
	for w, wk := range f.workers {
		if !f.inFlight[w] {
			continue
		}
		if wk.code != "" {
			atMostOnce(t, "a code being redeemed at the kill", func() error {
				_, err := f.as.Exchange(ctx, wk.client, wk.code, wk.verifier)
				return err
			})
		} else if wk.tokens != nil {
			atMostOnce(t, "a refresh token being rotated at the kill", func() error {
				_, err := f.as.Refresh(ctx, wk.client, wk.tokens.RefreshToken)
				return err
			})
		}
	}
}

// atMostOnce presents a credential twice: the second time must be refused.
func atMostOnce(t *testing.T, what string, present func() error) {
	t.Helper()
	first := present()
	var se *harness.StatusError
	if first != nil && (!errors.As(first, &se) || se.Status >= 500) {
		t.Errorf("%s: %v", what, first)
	}
	refused(t, what+" (second time)", present())
}

// TestPostgresConnectionLoss terminates every PostgreSQL connection of mcpauth serve three times
// under load (pg_terminate_backend from an admin connection, as a database failover or restart
// does): the server must keep answering (errors are allowed, hangs and crashes are not), recover
// by itself (more writes acknowledged after each loss), report ready, and lose nothing it
// acknowledged.
func TestPostgresConnectionLoss(t *testing.T) {
	s := startServer(t, "postgres")
	dsn := s.storeArgs[len(s.storeArgs)-1]
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv("MCPAUTH_TEST_POSTGRES_DSN")) // startServer checked it is set
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	const workers = 16
	f := newFleet(s.as(t, workers), workers)
	stop := runInBackground(f, workers)
	f.waitProgress(t, 30)
	for round := range 3 {
		var killed int
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, cfg.Database).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatalf("round %d: mcpauth serve had no PostgreSQL connection to terminate", round)
		}
		f.waitProgress(t, 30) // it recovered: writes are acknowledged again
	}
	res := stop(false)
	t.Logf("with 3 losses of every connection:\n%s", res)
	onlyServerErrors(t, res)
	if err := admin.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	checkReady(t, s)
	f.verify(t)
}

// TestPostgresOutage stops the PostgreSQL server of mcpauth serve under load, at once as in a
// crash of the database, and starts it again three seconds later on the same port.
func TestPostgresOutage(t *testing.T) {
	pg := testenv.StartPostgres(t) // its own: the server every other test shares stays up
	testPostgresFault(t, pg.DSN, func() { pg.Stop(t) }, func() { pg.Start(t) })
}

// TestPostgresStall freezes every process of the PostgreSQL server of mcpauth serve under load
// (SIGSTOP, as a stalled disk, a paused machine or a network gone silent in a failover would) and
// resumes them three seconds later, with --request-timeout 1s: a request waiting for the database
// is answered with a 5xx once that second has passed, instead of hanging until it answers again.
func TestPostgresStall(t *testing.T) {
	pg := testenv.StartPostgres(t)
	testPostgresFault(t, pg.DSN, func() { pg.Freeze(t) }, func() { pg.Thaw(t) }, "--request-timeout", "1s")
}

// testPostgresFault runs mcpauth serve (with extra flags) on the database dsn under load, brings
// about fault, and ends it three seconds later with end. Meanwhile the server must keep
// answering: /readyz 503, and every request that needs the store a prompt 5xx, never a 4xx (a
// refresh refused with invalid_grant would make its client drop a valid grant), a hang or a
// crash. Once the fault has ended the server must recover by itself, without a restart, and have
// lost no write it acknowledged.
func testPostgresFault(t *testing.T, dsn string, fault, end func(), extra ...string) {
	s := startServerOn(t, dsn, extra...)
	const workers = 16
	f := newFleet(s.as(t, workers), workers)
	stop := runInBackground(f, workers)
	f.waitProgress(t, 30)

	fault()
	began := time.Now()
	if status := readyStatus(t, s); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the fault: %d, want 503", status)
	}
	f.mu.Lock()
	client := f.registered[0]
	f.mu.Unlock()
	start := time.Now()
	_, err := f.as.Refresh(context.Background(), client, "a refresh token the store must be asked about")
	var se *harness.StatusError
	if !errors.As(err, &se) || se.Status < 500 {
		t.Errorf("a refresh during the fault: %v, want a 5xx", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a refresh during the fault was answered after %v", took)
	}
	time.Sleep(3*time.Second - time.Since(began))
	end()
	f.waitProgress(t, 30) // recovered: writes are acknowledged again
	res := stop(false)
	t.Logf("with a fault of %v:\n%s", time.Since(began).Round(time.Second), res)
	_, _, failed := res.Total()
	if failed == 0 {
		t.Errorf("no request failed during the fault: it was not seen")
	}
	onlyServerErrors(t, res)
	checkReady(t, s)
	f.verify(t)
}
