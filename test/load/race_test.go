package load

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth/bench/harness"
)

const racers = 100

// race runs present on racers goroutines released at once, each on its own connection, and
// returns how many succeeded; every other answer must be 400 invalid_grant.
func race(t *testing.T, present func() error) int {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = present()
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		var se *harness.StatusError
		switch {
		case err == nil:
			wins++
		case !errors.As(err, &se) || se.Status != 400 || se.Code != "invalid_grant":
			t.Errorf("a losing racer got %v, want HTTP 400 invalid_grant", err)
		}
	}
	return wins
}

// grant registers a client and authorizes it through dev login.
func grant(t *testing.T, as *harness.AS) (*harness.Client, string, string) {
	t.Helper()
	ctx := context.Background()
	c, err := as.Register(ctx, "race client")
	if err != nil {
		t.Fatal(err)
	}
	code, verifier, err := as.Authorize(ctx, c, "weather:read")
	if err != nil {
		t.Fatal(err)
	}
	return c, code, verifier
}

// testCodeRace: 100 concurrent redemptions of one authorization code over HTTP yield exactly one
// token response; the replays revoke what the code issued (OAuth 2.1 §4.1.3), so the winner's
// refresh token is refused afterwards.
func testCodeRace(t *testing.T, storeKind string) {
	s := startServer(t, storeKind)
	as := s.as(t, racers)
	c, code, verifier := grant(t, as)
	var mu sync.Mutex
	var won *harness.Tokens
	wins := race(t, func() error {
		tok, err := as.Exchange(context.Background(), c, code, verifier)
		if err == nil {
			mu.Lock()
			won = tok
			mu.Unlock()
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent redemptions of one code succeeded, want 1", wins, racers)
	}
	_, err := as.Refresh(context.Background(), c, won.RefreshToken)
	refused(t, "the refresh token issued for a replayed code", err)
}

// testRefreshRace: 100 concurrent uses of one refresh token yield exactly one new token pair, and
// the reuse revokes the whole family (RFC 9700 §4.14.2): the winner's new refresh token is
// refused too.
func testRefreshRace(t *testing.T, storeKind string) {
	s := startServer(t, storeKind)
	as := s.as(t, racers)
	c, code, verifier := grant(t, as)
	first, err := as.Exchange(context.Background(), c, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var won *harness.Tokens
	wins := race(t, func() error {
		tok, err := as.Refresh(context.Background(), c, first.RefreshToken)
		if err == nil {
			mu.Lock()
			won = tok
			mu.Unlock()
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of one refresh token succeeded, want 1", wins, racers)
	}
	_, err = as.Refresh(context.Background(), c, won.RefreshToken)
	refused(t, "the winner's refresh token after the reuse", err)
}

func TestConcurrentCodeRedemptionSQLite(t *testing.T)   { testCodeRace(t, "sqlite") }
func TestConcurrentCodeRedemptionPostgres(t *testing.T) { testCodeRace(t, "postgres") }
func TestConcurrentRefreshSQLite(t *testing.T)          { testRefreshRace(t, "sqlite") }
func TestConcurrentRefreshPostgres(t *testing.T)        { testRefreshRace(t, "postgres") }
