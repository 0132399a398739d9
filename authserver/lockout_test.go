package authserver_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/internal/testenv"
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
	for _, backend := range []struct {
		name string
		open func(t *testing.T) func() store.Store
	}{
		{"PostgreSQL", func(t *testing.T) func() store.Store {
			dsn := testenv.PostgresDSN(t)
			return func() store.Store {
				st, err := postgres.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		}},
		{"SQLite", func(t *testing.T) func() store.Store {
			path := filepath.Join(t.TempDir(), "shared.db")
			return func() store.Store {
				st, err := sqlite.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		}},
	} {
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
