package authserver_test

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
)

// lockoutFailures is the lockout threshold of the two-instance tests.
const lockoutFailures = 4

// sharedLockout configures instances that lock an account after lockoutFailures wrong passwords,
// with the per-address rate limit out of the way (every test browser is on 127.0.0.1).
func sharedLockout(c *authserver.Config) {
	c.LoginRate = -1
	c.LoginLockoutFailures = lockoutFailures
	c.LoginLockoutWindow = time.Hour
	c.LoginLockout = time.Hour
}

// loginForm is a filled-in login form of a fresh browser at one instance, ready to post.
type loginForm struct {
	b    *browser
	url  string
	form string
}

// loginForms opens n login pages alternately at the instances, each in a fresh browser, and
// fills in username and password.
func loginForms(t *testing.T, n int, instances []*testAS, clientID, username, password string) []loginForm {
	t.Helper()
	_, challenge := pkce()
	forms := make([]loginForm, n)
	for i := range n {
		as := instances[i%len(instances)]
		b := newBrowser(t)
		_, page := b.get(authorizeURL(as, codeParams(clientID, challenge)))
		v := hidden(t, page)
		v.Set("username", username)
		v.Set("password", password)
		forms[i] = loginForm{b: b, url: as.URL + "/login", form: v.Encode()}
	}
	return forms
}

// postAll posts the forms at once and returns their statuses.
func postAll(t *testing.T, forms []loginForm) []int {
	t.Helper()
	statuses := make([]int, len(forms))
	errs := make([]error, len(forms))
	var wg sync.WaitGroup
	for i, f := range forms {
		wg.Go(func() {
			resp, err := f.b.c.Post(f.url, "application/x-www-form-urlencoded", strings.NewReader(f.form))
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return statuses
}

// lockRecords counts the login.locked records of the instances with the given reason.
func lockRecords(instances []*testAS, reason string) int {
	n := 0
	for _, as := range instances {
		for _, rec := range as.Audit.records("login.locked") {
			if rec["reason"] == reason {
				n++
			}
		}
	}
	return n
}

// TestLockoutSharedByInstances: two instances on one store (a PostgreSQL database; a SQLite
// file) keep one failure count per account. lockoutFailures-1 wrong passwords sent at once to
// both do not lock; the next one, at either, does (per instance counts would need twice as
// many), and then the right password is refused at both. Of 3×lockoutFailures wrong passwords
// sent at once to both, exactly one locks the account.
func TestLockoutSharedByInstances(t *testing.T) {
	for _, backend := range sharedStores {
		t.Run(backend.name, func(t *testing.T) {
			a, b := twoInstancesOn(t, backend.open(t), sharedLockout)
			both := []*testAS{a, b}
			const right = "password-of-ivan"
			addUser(t, a, "ivan", right, "weather:read")
			addUser(t, a, "judy", "password-of-judy", "weather:read")
			id := publicClient(t, a)

			for i, st := range postAll(t, loginForms(t, lockoutFailures-1, both, id, "ivan", "wrong guess")) {
				if st != http.StatusUnauthorized {
					t.Fatalf("wrong password %d: %d", i, st)
				}
			}
			if n := lockRecords(both, "too many wrong passwords"); n != 0 {
				t.Fatalf("locked after %d failures: %d records", lockoutFailures-1, n)
			}
			postAll(t, loginForms(t, 1, []*testAS{b}, id, "ivan", "wrong guess"))
			if n := lockRecords(both, "too many wrong passwords"); n != 1 {
				t.Fatalf("%d lock records after the %d-th failure, want 1", n, lockoutFailures)
			}
			for _, as := range both {
				if st := postAll(t, loginForms(t, 1, []*testAS{as}, id, "ivan", right))[0]; st != http.StatusUnauthorized {
					t.Fatalf("right password of the locked account at %s: %d", as.URL, st)
				}
			}

			postAll(t, loginForms(t, 3*lockoutFailures, both, id, "judy", "wrong guess"))
			if n := lockRecords(both, "too many wrong passwords"); n != 2 {
				t.Fatalf("%d lock records after %d concurrent failures of another account, want 1 more", n-1, 3*lockoutFailures)
			}
		})
	}
}

// networkLockoutAS starts a server behind a trusted loopback proxy that locks an account for one
// network after 3 wrong passwords from it and for every unknown browser after accountFailures,
// with the user username, and returns it and an authorization URL of a public client.
func networkLockoutAS(t *testing.T, accountFailures int, username, password string) (*testAS, string) {
	as := newTestAS(t, func(c *authserver.Config) {
		c.LoginRate = -1
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.LoginLockoutFailures = 3
		c.LoginLockoutAccountFailures = accountFailures
		c.LoginLockoutWindow = time.Hour
		c.LoginLockout = time.Hour
	})
	addUser(t, as, username, password, "weather:read")
	_, challenge := pkce()
	return as, authorizeURL(as, codeParams(publicClient(t, as), challenge))
}

// signInFrom submits b's login form for authz as a browser at address addr (X-Forwarded-For
// through the trusted proxy) and returns the status.
func signInFrom(t *testing.T, as *testAS, b *browser, authz, addr, username, password string) int {
	t.Helper()
	_, page := b.get(authz)
	form := hidden(t, page)
	form.Set("username", username)
	form.Set("password", password)
	req, _ := http.NewRequest(http.MethodPost, as.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	resp, _ := do(t, b.c, req)
	return resp.StatusCode
}

// TestLockoutPerNetwork: guesses from one network lock the account for that network only; the
// owner signs in from another network with a browser the server has never seen. An IPv6
// network is its /64: another address in it is locked too, the next /64 is not.
func TestLockoutPerNetwork(t *testing.T) {
	const right = "password-of-ken"
	as, authz := networkLockoutAS(t, 100, "ken", right)
	for _, tc := range []struct{ attacker, sameNetwork, otherNetwork string }{
		{"203.0.113.7", "203.0.113.7", "198.51.100.4"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:3::1"},
	} {
		for range 3 {
			if st := signInFrom(t, as, newBrowser(t), authz, tc.attacker, "ken", "wrong guess"); st != http.StatusUnauthorized {
				t.Fatalf("wrong password from %s: %d", tc.attacker, st)
			}
		}
		if st := signInFrom(t, as, newBrowser(t), authz, tc.sameNetwork, "ken", right); st != http.StatusUnauthorized {
			t.Fatalf("right password from %s, in the locked network of %s: %d", tc.sameNetwork, tc.attacker, st)
		}
		if st := signInFrom(t, as, newBrowser(t), authz, tc.otherNetwork, "ken", right); st != http.StatusOK {
			t.Fatalf("right password from %s, another network than %s: %d", tc.otherNetwork, tc.attacker, st)
		}
	}
	locks := as.Audit.records("login.locked")
	if len(locks) != 4 || locks[0]["scope"] != "network" || locks[0]["remote"] != "203.0.113.7" {
		t.Fatalf("login.locked records: %v", locks)
	}
}

// TestLockoutAccountWide: guesses from several networks together lock the account for every
// unknown browser once they reach LoginLockoutAccountFailures (an attacker with many addresses
// gets no more guesses than that), while the owner's known browser keeps signing in; the
// owner's successful sign-in before that restarts the account's count.
func TestLockoutAccountWide(t *testing.T) {
	const right = "password-of-lena"
	as, authz := networkLockoutAS(t, 6, "lena", right)
	owner := newBrowser(t)
	if st := signInFrom(t, as, owner, authz, "198.51.100.4", "lena", right); st != http.StatusOK {
		t.Fatalf("first sign-in: %d", st)
	}
	guess := func(addr string, n int) {
		for range n {
			signInFrom(t, as, newBrowser(t), authz, addr, "lena", "wrong guess")
		}
	}
	guess("203.0.113.1", 3)
	guess("203.0.113.2", 2) // 5 of 6
	if st := signInFrom(t, as, newBrowser(t), authz, "198.51.100.9", "lena", right); st != http.StatusOK {
		t.Fatalf("a new browser below the account's threshold: %d", st)
	}
	guess("203.0.113.2", 1)
	guess("203.0.113.3", 3) // 4 since the owner's sign-in
	if st := signInFrom(t, as, newBrowser(t), authz, "198.51.100.10", "lena", right); st != http.StatusOK {
		t.Fatalf("the owner's sign-in did not restart the account's count: %d", st)
	}
	guess("203.0.113.4", 3)
	guess("203.0.113.5", 3) // 6
	var scopes []any
	for _, rec := range as.Audit.records("login.locked") {
		scopes = append(scopes, rec["scope"])
	}
	if !slices.Equal(scopes, []any{"network", "network", "network", "network", "network", "account"}) {
		t.Fatalf("login.locked scopes: %v", scopes)
	}
	if st := signInFrom(t, as, newBrowser(t), authz, "198.51.100.11", "lena", right); st != http.StatusUnauthorized {
		t.Fatalf("a new browser on a fresh network after the account's lock: %d", st)
	}
	if st := signInFrom(t, as, owner, authz, "198.51.100.11", "lena", right); st != http.StatusOK {
		t.Fatalf("the owner's known browser during the account's lock: %d", st)
	}
}

// TestDevicePageSignInRateLimited: the device page's sign-in spends the same per-address budget
// as the login page's, and is refused with the same 429 page once it is spent.
func TestDevicePageSignInRateLimited(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) { c.LoginRate = 2 })
	addUser(t, as, "mallory", "password-of-mallory", "weather:read")
	id := publicClient(t, as)
	_, challenge := pkce()
	signInAttempt(t, newBrowser(t), as, authorizeURL(as, codeParams(id, challenge)), "mallory", "wrong guess")
	_, userCode := startDevice(t, as, id)
	if st, _ := deviceSignIn(t, newBrowser(t), as, userCode, "mallory", "wrong guess"); st != http.StatusUnauthorized {
		t.Fatalf("second attempt, on the device page: %d", st)
	}
	st, page := deviceSignIn(t, newBrowser(t), as, userCode, "mallory", "password-of-mallory")
	if st != http.StatusTooManyRequests || !strings.Contains(page, "Too many sign-in attempts") {
		t.Fatalf("third attempt from the address, on the device page: %d\n%s", st, page)
	}
	if refused := as.Audit.records("login.refused"); len(refused) != 1 || refused[0]["via"] != "device page" {
		t.Fatalf("login.refused records: %v", refused)
	}
}

// lockoutCalls wraps a real store and counts the calls of its LockoutStore methods.
type lockoutCalls struct {
	store.Store
	callLog
}

// callLog notes the names of calls, for a store that counts them.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) note(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

// take returns the calls noted since the last take.
func (c *callLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *lockoutCalls) GetLoginFailures(ctx context.Context, keys []string) ([]*store.LoginFailures, error) {
	c.note("get")
	return c.Store.GetLoginFailures(ctx, keys)
}

func (c *lockoutCalls) RecordLoginFailure(ctx context.Context, key string, now time.Time, p store.LockoutPolicy) (time.Time, error) {
	c.note("record")
	return c.Store.RecordLoginFailure(ctx, key, now, p)
}

func (c *lockoutCalls) ClearLoginFailures(ctx context.Context, keys []string, now time.Time) error {
	c.note("clear")
	return c.Store.ClearLoginFailures(ctx, keys, now)
}

// TestLockoutCostOfSignIn: the lockout adds one read to a successful sign-in without failures on
// record; a wrong password adds that read and one write per count (network and account), and
// the next successful sign-in one delete.
func TestLockoutCostOfSignIn(t *testing.T) {
	spy := &lockoutCalls{Store: openSQLite(t)}
	as := newTestASOn(t, spy, testKey(), nil)
	addUser(t, as, "olga", "password-of-olga", "weather:read")
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(publicClient(t, as), challenge))
	for _, tc := range []struct {
		password string
		status   int
		want     []string
	}{
		{"password-of-olga", http.StatusOK, []string{"get"}},
		{"wrong guess", http.StatusUnauthorized, []string{"get", "record", "record"}},
		{"password-of-olga", http.StatusOK, []string{"get", "clear"}},
		{"password-of-olga", http.StatusOK, []string{"get"}},
	} {
		spy.take()
		if st, _ := signInAttempt(t, newBrowser(t), as, authz, "olga", tc.password); st != tc.status {
			t.Fatalf("sign-in with %q: %d, want %d", tc.password, st, tc.status)
		}
		if got := spy.take(); !slices.Equal(got, tc.want) {
			t.Fatalf("sign-in with %q: lockout store calls %v, want %v", tc.password, got, tc.want)
		}
	}
}
