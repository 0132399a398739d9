package authserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// failingRotation is a real SQLite store whose next RotateRefreshToken, the one write of a
// refresh, fails when armed. A hand-written fault: no real database fails one chosen write on
// demand.
type failingRotation struct {
	store.Store
	armed atomic.Bool
}

func (f *failingRotation) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	if f.armed.CompareAndSwap(true, false) {
		return errors.New("injected: the database went away")
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, next, now)
}

// TestRefreshStoreFailureKeepsTheRefreshToken: when the store fails while a refresh is being
// answered, the client gets a 500 and its refresh token still works on retry — the failure
// must not spend the token and turn the retry into reuse that revokes the whole family.
func TestRefreshStoreFailureKeepsTheRefreshToken(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	faulty := &failingRotation{Store: st}
	as := newTestASOn(t, faulty, testKey(), func(c *authserver.Config) { c.DevLoginUser = "dev" })
	id := publicClient(t, as)
	refresh := tokens(t, as, id)["refresh_token"].(string)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {id}}

	faulty.armed.Store(true)
	if status, body := tokenRequest(t, as, form); status != http.StatusInternalServerError {
		t.Fatalf("refresh during a store failure: %d %v, want 500", status, body)
	}
	status, body := tokenRequest(t, as, form)
	if status != http.StatusOK || body["refresh_token"] == nil {
		t.Fatalf("retry after the failure: %d %v, want a new token pair", status, body)
	}
}
