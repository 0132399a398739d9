package authserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLockoutSparesSignedInBrowser drives two real Chromium profiles, JavaScript off: the
// owner signs in once and signs out; an attacker's three wrong passwords lock the account, and
// the attacker's right password then shows the wrong-password message; the owner's browser,
// which keeps the device cookie as a browser does, still signs in.
func TestBrowserLockoutSparesSignedInBrowser(t *testing.T) {
	_, as := lockoutAS(t)
	addUser(t, as, "alice", "correct horse battery", "weather:read")
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(publicClient(t, as), challenge))
	owner, attacker := chromium(t), chromium(t)
	for _, ctx := range []context.Context{owner, attacker} {
		if err := chromedp.Do(ctx, chromedp.Navigate(authz)); err != nil {
			t.Fatal(err)
		}
	}

	signIn(t, owner, "alice", "correct horse battery")
	if h := text(t, owner, "scopes"); !strings.Contains(h, "weather:read") {
		t.Fatalf("owner's consent page: %q", h)
	}
	submit(t, owner, "switch-user") // signs out, back to the login form

	for range 3 {
		signIn(t, attacker, "alice", "a guess")
	}
	signIn(t, attacker, "alice", "correct horse battery")
	if msg := text(t, attacker, "error"); !strings.Contains(msg, "Wrong username or password") {
		t.Fatalf("attacker's right password on the locked account: %q", msg)
	}

	signIn(t, owner, "alice", "correct horse battery")
	if h := text(t, owner, "scopes"); !strings.Contains(h, "weather:read") {
		t.Fatalf("owner's browser during the lock: %q", h)
	}
	if n := len(as.Audit.records("login.locked")); n != 2 {
		t.Fatalf("%d login.locked records, want 2 (the lock, the attacker's attempt)", n)
	}
}
