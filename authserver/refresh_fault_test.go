package authserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
)

// faultyStore is a real SQLite store whose next refresh token rotation, the one write of a
// refresh, fails when failRotation is armed, and whose signing keys cannot be read while
// failKeys is. A hand-written fault: no real database fails one chosen operation on demand.
type faultyStore struct {
	store.Store
	failRotation, failKeys atomic.Bool
}

var errInjected = errors.New("injected: the database went away")

// RotateRefreshToken, armed, fails inside the real store's rotation once the server's decision
// has accepted the token, as a commit that fails would: nothing is written.
func (f *faultyStore) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, decide store.RotationDecision) error {
	if !f.failRotation.CompareAndSwap(true, false) {
		return f.Store.RotateRefreshToken(ctx, oldHash, now, decide)
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, now, func(rt *store.RefreshToken, g *store.Grant) (*store.RefreshToken, error) {
		if _, err := decide(rt, g); err != nil {
			return nil, err
		}
		return nil, errInjected
	})
}

func (f *faultyStore) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	if f.failKeys.Load() {
		return nil, errInjected
	}
	return f.Store.ListSigningKeys(ctx)
}

// newFaultyAS starts a dev-login server on a faultyStore and returns both.
func newFaultyAS(t *testing.T, mutate func(*authserver.Config)) (*testAS, *faultyStore) {
	t.Helper()
	faulty := &faultyStore{Store: openSQLite(t)}
	return newTestASOn(t, faulty, testKey(), func(c *authserver.Config) {
		c.DevLoginUser = "dev"
		if mutate != nil {
			mutate(c)
		}
	}), faulty
}

// TestRefreshStoreFailureKeepsTheRefreshToken: when the store fails while a refresh is being
// answered, the client gets a 500 and its refresh token still works on retry — the failure
// must not spend the token and turn the retry into reuse that revokes the whole family. No
// access token is recorded as issued for the failed refresh; exactly one for the retry.
func TestRefreshStoreFailureKeepsTheRefreshToken(t *testing.T) {
	as, faulty := newFaultyAS(t, nil)
	id := publicClient(t, as)
	refresh := tokens(t, as, id)["refresh_token"].(string)
	issued := len(as.Audit.records("token.issued"))

	faulty.failRotation.Store(true)
	if status, body := tokenRequest(t, as, refreshForm(id, refresh)); status != http.StatusInternalServerError {
		t.Fatalf("refresh during a store failure: %d %v, want 500", status, body)
	}
	if n := len(as.Audit.records("token.issued")) - issued; n != 0 {
		t.Fatalf("%d token.issued records for a refresh that failed, want none", n)
	}
	status, body := tokenRequest(t, as, refreshForm(id, refresh))
	if status != http.StatusOK || body["refresh_token"] == nil {
		t.Fatalf("retry after the failure: %d %v, want a new token pair", status, body)
	}
	recs := as.Audit.records("token.issued")
	if n := len(recs) - issued; n != 1 {
		t.Fatalf("%d token.issued records for one refresh, want 1", n)
	}
	if claims, _ := verifyJWT(t, as, body["access_token"].(string)); recs[len(recs)-1]["jti"] != claims["jti"] {
		t.Fatalf("token.issued record %v is not the issued token's (jti %v)", recs[len(recs)-1], claims["jti"])
	}

	// A reuse issues nothing either.
	issued = len(as.Audit.records("token.issued"))
	status, body = tokenRequest(t, as, refreshForm(id, refresh))
	wantOAuthError(t, "reuse", status, body, http.StatusBadRequest, "invalid_grant")
	if n := len(as.Audit.records("token.issued")) - issued; n != 0 {
		t.Fatalf("%d token.issued records for a reuse, want none", n)
	}
}

// TestRefreshKeyReloadFailureKeepsTheRefreshToken: the signing key is chosen before the
// rotation, so a failure to reload the keys (the store cannot be read) answers 500 and leaves
// the refresh token valid for a retry.
func TestRefreshKeyReloadFailureKeepsTheRefreshToken(t *testing.T) {
	clock := newClock()
	as, faulty := newFaultyAS(t, func(c *authserver.Config) { c.Now = clock.now })
	id := publicClient(t, as)
	refresh := tokens(t, as, id)["refresh_token"].(string)

	clock.advance(2 * time.Minute) // the cached keys are stale: the next signature reloads them
	faulty.failKeys.Store(true)
	if status, body := tokenRequest(t, as, refreshForm(id, refresh)); status != http.StatusInternalServerError {
		t.Fatalf("refresh while the keys cannot be read: %d %v, want 500", status, body)
	}
	faulty.failKeys.Store(false)
	if status, body := tokenRequest(t, as, refreshForm(id, refresh)); status != http.StatusOK {
		t.Fatalf("retry once the keys can be read: %d %v, want a new token pair", status, body)
	}
}

// TestRefreshWhileKeyRotationIsDue: refreshes that arrive when the signing key must be rotated
// make the new key (a store write) and rotate their tokens (the store's write, which on SQLite
// holds the single writer's turn while it asks the server's decision). Were the key chosen
// inside that decision, the key's write would wait for the turn its own caller holds, for ever:
// each request here has a deadline instead.
func TestRefreshWhileKeyRotationIsDue(t *testing.T) {
	clock := newClock()
	as := devAS(t, func(c *authserver.Config) {
		c.Now = clock.now
		c.KeyRotation = 24 * time.Hour
	})
	const n = 4
	id := publicClient(t, as)
	refresh := make([]string, n)
	for i := range refresh {
		refresh[i] = tokens(t, as, id)["refresh_token"].(string)
	}
	_, set := getJSON(t, as.URL+"/jwks")
	keys := len(set["keys"].([]any))

	clock.advance(22 * time.Hour) // less than a tenth of the signing period left: a new key is due
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range refresh {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, as.URL+"/token", strings.NewReader(refreshForm(id, refresh[i]).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs[i] = errors.New(resp.Status)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d while a key rotation was due: %v", i, err)
		}
	}
	if _, set := getJSON(t, as.URL+"/jwks"); len(set["keys"].([]any)) != keys+1 {
		t.Fatalf("JWKS has %d keys after the refreshes, want %d: the due key was not made", len(set["keys"].([]any)), keys+1)
	}
}
