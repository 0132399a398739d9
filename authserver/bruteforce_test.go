package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// records returns the audit records of one event, decoded.
func (a *auditLog) records(event string) []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []map[string]any
	for _, l := range a.lines {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["audit"] == event {
			out = append(out, rec)
		}
	}
	return out
}

// signInAttempt submits the login form of a fresh authorization page in b and returns the
// status and the page (with the per-browser CSRF token, so two pages of one browser compare).
func signInAttempt(t *testing.T, b *browser, as *testAS, authz, username, password string) (int, string) {
	t.Helper()
	_, page := b.get(authz)
	form := hidden(t, page)
	form.Set("username", username)
	form.Set("password", password)
	resp, page := b.post(as.URL+"/login", form)
	return resp.StatusCode, page
}

// lockoutAS starts a server on a settable clock that locks an account for 15 minutes after 3
// wrong passwords within 10 minutes.
func lockoutAS(t *testing.T) (*clock, *testAS) {
	clk := newClock()
	return clk, newTestAS(t, func(c *authserver.Config) {
		c.Now = clk.now
		c.LoginLockoutFailures = 3
		c.LoginLockoutWindow = 10 * time.Minute
		c.LoginLockout = 15 * time.Minute
	})
}

// TestLoginLockout: after LoginLockoutFailures wrong passwords an account is locked; its right
// password then gets exactly the wrong-password page (no oracle) while the audit log says
// login.locked; the lock ends after LoginLockout, a second lock lasts twice as long, and a
// successful sign-in forgets the failures. No password reaches the log.
func TestLoginLockout(t *testing.T) {
	clk, as := lockoutAS(t)
	const right = "correct horse battery"
	addUser(t, as, "alice", right, "weather:read")
	addUser(t, as, "bob", "password-of-bob", "weather:read")
	id := publicClient(t, as)
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(id, challenge))
	b := newBrowser(t)

	var wrongPage string
	for i := range 3 {
		status, page := signInAttempt(t, b, as, authz, "alice", "wrong guess")
		if status != http.StatusUnauthorized || !strings.Contains(page, "Wrong username or password") {
			t.Fatalf("wrong password %d: %d %s", i, status, page)
		}
		wrongPage = page
	}
	locks := as.Audit.records("login.locked")
	if len(locks) != 1 || locks[0]["user_id"] == nil || !strings.Contains(locks[0]["reason"].(string), "too many") {
		t.Fatalf("audit after the 3rd wrong password: %v", locks)
	}

	// Locked: the right password gets the very page a wrong one gets.
	status, page := signInAttempt(t, b, as, authz, "alice", right)
	if status != http.StatusUnauthorized || page != wrongPage {
		t.Fatalf("right password on a locked account: %d, page differs from the wrong-password page:\n%s", status, page)
	}
	if n := len(as.Audit.records("login.locked")); n != 2 {
		t.Fatalf("the attempt on a locked account is not audited: %d login.locked records", n)
	}
	if slices.Contains(as.Audit.events(), "login.succeeded") {
		t.Fatal("a locked account signed in")
	}
	// Another account is not affected.
	if status, page := signInAttempt(t, newBrowser(t), as, authz, "bob", "password-of-bob"); status != 200 || !strings.Contains(page, "Authorize") {
		t.Fatalf("another user during alice's lock: %d", status)
	}

	// The first lock lasts 15 minutes; three more failures then lock for 30.
	clk.advance(15 * time.Minute)
	for range 3 {
		signInAttempt(t, b, as, authz, "alice", "wrong guess")
	}
	clk.advance(16 * time.Minute)
	if status, page := signInAttempt(t, b, as, authz, "alice", right); status != http.StatusUnauthorized || page != wrongPage {
		t.Fatalf("16 minutes into the second (30-minute) lock: %d", status)
	}
	clk.advance(14 * time.Minute)
	if status, page := signInAttempt(t, b, as, authz, "alice", right); status != 200 || !strings.Contains(page, "Authorize") {
		t.Fatalf("after the second lock: %d %s", status, page)
	}

	// Signed in: the failures are forgotten, two wrong passwords do not lock.
	b2 := newBrowser(t)
	for range 2 {
		signInAttempt(t, b2, as, authz, "alice", "wrong guess")
	}
	if status, _ := signInAttempt(t, b2, as, authz, "alice", right); status != 200 {
		t.Fatalf("2 failures after a successful sign-in locked the account: %d", status)
	}
	if strings.Contains(as.Audit.text(), right) || strings.Contains(as.Audit.text(), "wrong guess") {
		t.Fatal("a password reached the log")
	}
}

// TestLoginLockoutWindow: failures spread wider than the window never lock.
func TestLoginLockoutWindow(t *testing.T) {
	clk, as := lockoutAS(t)
	addUser(t, as, "carol", "password-of-carol", "weather:read")
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(publicClient(t, as), challenge))
	b := newBrowser(t)
	for range 4 {
		signInAttempt(t, b, as, authz, "carol", "wrong guess")
		clk.advance(6 * time.Minute) // at most two failures in any 10 minutes
	}
	if status, _ := signInAttempt(t, b, as, authz, "carol", "password-of-carol"); status != 200 {
		t.Fatalf("failures outside the window locked the account: %d", status)
	}
	if n := len(as.Audit.records("login.locked")); n != 0 {
		t.Fatalf("%d login.locked records", n)
	}
}

// TestLoginRateLimitPerAddress: one source address gets LoginRate attempts a minute, right
// password or not, then 429 with Retry-After (audited login.refused); behind a trusted proxy each X-Forwarded-For client
// has its own budget.
func TestLoginRateLimitPerAddress(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) {
		c.LoginRate = 3
		c.LoginLockoutFailures = -1 // only the address limit in play
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	addUser(t, as, "dave", "password-of-dave", "weather:read")
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(publicClient(t, as), challenge))
	attempt := func(xff, password string) (*http.Response, string) {
		b := newBrowser(t)
		_, page := b.get(authz)
		form := hidden(t, page)
		form.Set("username", "dave")
		form.Set("password", password)
		req, _ := http.NewRequest(http.MethodPost, as.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", xff)
		resp, body := do(t, b.c, req)
		return resp, string(body)
	}
	for range 3 {
		if resp, _ := attempt("203.0.113.9", "wrong guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	}
	resp, page := attempt("203.0.113.9", "password-of-dave")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many sign-in attempts") {
		t.Fatalf("4th attempt in a minute from one address: %d %s", resp.StatusCode, page)
	}
	refused := as.Audit.records("login.refused")
	if len(refused) != 1 || refused[0]["remote"] != "203.0.113.9" {
		t.Fatalf("login.refused records: %v", refused)
	}
	if resp, _ := attempt("203.0.113.10", "password-of-dave"); resp.StatusCode != 200 {
		t.Fatalf("another address: %d", resp.StatusCode)
	}
}

// TestLoginLockoutCoversDevicePage: the device verification page signs in through the same
// check, so guesses there count towards the lock and a locked account's right password is
// refused there too (no way around the lockout).
// deviceSignIn posts username and password with userCode on b's device verification page.
func deviceSignIn(t *testing.T, b *browser, as *testAS, userCode, username, password string) (int, string) {
	_, page := b.get(as.URL + "/device")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", page)
	}
	resp, page := b.post(as.URL+"/device", url.Values{"csrf": {m[1]}, "user_code": {userCode}, "action": {"continue"},
		"username": {username}, "password": {password}})
	return resp.StatusCode, page
}

func TestLoginLockoutCoversDevicePage(t *testing.T) {
	_, as := lockoutAS(t)
	addUser(t, as, "frank", "password-of-frank", "weather:read")
	_, userCode := startDevice(t, as, publicClient(t, as))
	b := newBrowser(t)
	attempt := func(password string) (int, string) { return deviceSignIn(t, b, as, userCode, "frank", password) }
	for range 3 {
		if status, _ := attempt("wrong guess"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password on the device page: %d", status)
		}
	}
	status, page := attempt("password-of-frank")
	if status != http.StatusUnauthorized || !strings.Contains(page, "Wrong username or password") {
		t.Fatalf("right password of a locked account on the device page: %d %s", status, page)
	}
	if n := len(as.Audit.records("login.locked")); n != 2 {
		t.Fatalf("%d login.locked records, want 2 (the lock, the attempt while locked)", n)
	}
}

// TestDeviceLockoutSparesKnownBrowser: the device page, like the login page, lets a browser the
// user signed in with before keep signing in while guesses from elsewhere lock the account.
func TestDeviceLockoutSparesKnownBrowser(t *testing.T) {
	clk, as := lockoutAS(t)
	addUser(t, as, "heidi", "password-of-heidi", "weather:read")
	client := publicClient(t, as)
	owner, attacker := newBrowser(t), newBrowser(t)
	_, first := startDevice(t, as, client)
	if status, _ := deviceSignIn(t, owner, as, first, "heidi", "password-of-heidi"); status != http.StatusOK {
		t.Fatalf("first sign-in on the device page: %d", status)
	}
	clk.advance(13 * time.Hour) // the session has expired; the device cookie has not
	_, userCode := startDevice(t, as, client)
	for range 3 {
		deviceSignIn(t, attacker, as, userCode, "heidi", "wrong guess")
	}
	if status, _ := deviceSignIn(t, attacker, as, userCode, "heidi", "password-of-heidi"); status != http.StatusUnauthorized {
		t.Fatalf("right password from an unknown browser on a locked account: %d", status)
	}
	if status, page := deviceSignIn(t, owner, as, userCode, "heidi", "password-of-heidi"); status != http.StatusOK || strings.Contains(page, "Wrong username or password") {
		t.Fatalf("the owner's browser during the lock: %d\n%s", status, page)
	}
}

// TestLockoutSparesKnownBrowser: guesses from elsewhere lock the account for every browser
// but the ones the user signed in with before (device cookie): those keep signing in, and
// count their own failures, locking only themselves; their success does not unlock the account
// for the others.
func TestLockoutSparesKnownBrowser(t *testing.T) {
	_, as := lockoutAS(t)
	addUser(t, as, "grace", "password-of-grace", "weather:read")
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(publicClient(t, as), challenge))
	owner, attacker := newBrowser(t), newBrowser(t)
	if status, _ := signInAttempt(t, owner, as, authz, "grace", "password-of-grace"); status != 200 {
		t.Fatalf("first sign-in: %d", status)
	}
	for range 3 {
		signInAttempt(t, attacker, as, authz, "grace", "wrong guess")
	}
	if status, _ := signInAttempt(t, attacker, as, authz, "grace", "password-of-grace"); status != http.StatusUnauthorized {
		t.Fatalf("right password from an unknown browser on a locked account: %d", status)
	}
	if status, page := signInAttempt(t, owner, as, authz, "grace", "password-of-grace"); status != 200 || !strings.Contains(page, "Authorize") {
		t.Fatalf("the owner's browser during the lock: %d", status)
	}
	if status, _ := signInAttempt(t, newBrowser(t), as, authz, "grace", "password-of-grace"); status != http.StatusUnauthorized {
		t.Fatalf("the owner's success unlocked the account for other browsers: %d", status)
	}
	for range 3 {
		signInAttempt(t, owner, as, authz, "grace", "wrong guess")
	}
	if status, _ := signInAttempt(t, owner, as, authz, "grace", "password-of-grace"); status != http.StatusUnauthorized {
		t.Fatalf("a known browser's own failures do not lock it: %d", status)
	}
	var known int
	for _, rec := range as.Audit.records("login.locked") {
		if rec["scope"] == "known browser" {
			known++
		}
	}
	if known != 2 { // its lock, then its refused attempt
		t.Fatalf("%d login.locked records for the known browser, want 2", known)
	}
}
