package authserver_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// TestUnlockUser: an account locked by every kind of count — two networks (one of them locked),
// all networks, and the owner's known browser — signs in again at once after Admin.UnlockUser,
// which deletes exactly those four records; another account locked on the same network stays
// locked. The server's Admin audits the unlock (login.unlocked).
func TestUnlockUser(t *testing.T) {
	const right = "password-of-mia"
	as, authz := networkLockoutAS(t, 4, "mia", right)
	addUser(t, as, "noah", "password-of-noah", "weather:read")
	owner := newBrowser(t)
	if st := signInFrom(t, as, owner, authz, "198.51.100.4", "mia", right); st != http.StatusOK {
		t.Fatalf("the owner's first sign-in: %d", st)
	}
	guess := func(b *browser, addr, username string) {
		if st := signInFrom(t, as, b, authz, addr, username, "wrong guess"); st != http.StatusUnauthorized {
			t.Fatalf("wrong password of %s from %s: %d", username, addr, st)
		}
	}
	for range 3 {
		guess(newBrowser(t), "203.0.113.1", "noah")
		guess(newBrowser(t), "203.0.113.1", "mia") // locks 203.0.113.1 for mia
		guess(owner, "198.51.100.4", "mia")        // locks the owner's browser
	}
	guess(newBrowser(t), "203.0.113.2", "mia") // the 4th of the account: locks it
	if n := len(as.Audit.records("login.locked")); n != 4 {
		t.Fatalf("%d login.locked records before the unlock, want 4 (noah's network, mia's network, browser, account)", n)
	}
	if st := signInFrom(t, as, owner, authz, "198.51.100.4", "mia", right); st != http.StatusUnauthorized {
		t.Fatalf("the owner's locked browser: %d", st)
	}
	if st := signInFrom(t, as, newBrowser(t), authz, "198.51.100.5", "mia", right); st != http.StatusUnauthorized {
		t.Fatalf("a new browser of the locked account: %d", st)
	}

	u, n, err := as.Admin().UnlockUser(t.Context(), "mia")
	if err != nil || u.Username != "mia" || n != 4 {
		t.Fatalf("UnlockUser: %v, %d records, %v; want 4 records (two networks, the account, the browser)", u, n, err)
	}
	if recs := as.Audit.records("login.unlocked"); len(recs) != 1 || recs[0]["user_id"] != u.ID || recs[0]["records"] != float64(4) {
		t.Fatalf("login.unlocked records of the server's Admin: %v", recs)
	}
	for _, b := range []*browser{owner, newBrowser(t)} {
		if st := signInFrom(t, as, b, authz, "203.0.113.1", "mia", right); st != http.StatusOK {
			t.Fatalf("sign-in after the unlock: %d", st)
		}
	}
	if st := signInFrom(t, as, newBrowser(t), authz, "203.0.113.1", "noah", "password-of-noah"); st != http.StatusUnauthorized {
		t.Fatalf("another account's lock on the same network after the unlock: %d", st)
	}
	if _, _, err := as.Admin().UnlockUser(t.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unlock of an unknown user: %v", err)
	}
}
