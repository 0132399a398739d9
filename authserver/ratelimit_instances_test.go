package authserver_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// sharedStores are the databases two instances can share: one PostgreSQL database, one SQLite
// file. Each gives a function that opens another handle on one fresh database.
var sharedStores = []struct {
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
}

// behindProxy trusts the loopback proxy, so that X-Forwarded-For gives each request its address.
func behindProxy(c *authserver.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// atOnce runs f(0) ... f(n-1) at once and returns their statuses.
func atOnce(n int, f func(i int) int) []int {
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = f(i) })
	}
	wg.Wait()
	return statuses
}

// tally counts the statuses by value.
func tally(statuses []int) map[int]int {
	m := map[int]int{}
	for _, s := range statuses {
		m[s]++
	}
	return m
}

// lockedRecords counts the client_auth.locked records of the instances.
func lockedRecords(instances []*testAS) int {
	n := 0
	for _, as := range instances {
		n += len(as.Audit.records("client_auth.locked"))
	}
	return n
}

// sharedLimit is the budget of the two-instance tests.
const sharedLimit = 4

// TestRateLimitsSharedByInstances: two instances on one store (a PostgreSQL database; a SQLite
// file) spend one budget for each limit. Requests alternating between them reach the limit
// after exactly as many as one instance allows, and then both refuse; of 3× the limit sent at
// once to both, exactly the limit pass (sign-ins, registrations), or exactly one spends the
// budget (failed client authentications, which are counted after their check).
func TestRateLimitsSharedByInstances(t *testing.T) {
	for _, backend := range sharedStores {
		t.Run(backend.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fn   func(t *testing.T, open func() store.Store)
			}{
				{"SignInPerAddress", testSharedSignInLimit},
				{"RegistrationPerAddress", testSharedRegistrationLimit},
				{"ClientAuthPerClient", testSharedClientBudget},
				{"ClientAuthPerAddress", testSharedAddressBudget},
				{"KnownAddressSpared", testSharedKnownAddress},
				{"DeviceUserCodes", testSharedUserCodeLimit},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, backend.open(t)) }) // a fresh database each
			}
		})
	}
}

// wantSharedLimit checks a per-address limit of sharedLimit at two instances: attempt(as, addr)
// answers ok while the budget lasts. Attempts alternating between the instances from one address
// are refused at both after exactly sharedLimit; of 3×sharedLimit sent at once to both from
// another address, exactly sharedLimit are answered ok.
func wantSharedLimit(t *testing.T, both []*testAS, ok int, attempt func(as *testAS, addr string) int) {
	t.Helper()
	for i := range sharedLimit {
		if st := attempt(both[i%2], "203.0.113.1"); st != ok {
			t.Fatalf("attempt %d: %d, want %d", i+1, st, ok)
		}
	}
	for _, as := range both {
		if st := attempt(as, "203.0.113.1"); st != http.StatusTooManyRequests {
			t.Fatalf("an attempt beyond the limit at %s: %d", as.URL, st)
		}
	}
	got := tally(atOnce(3*sharedLimit, func(i int) int { return attempt(both[i%2], "203.0.113.2") }))
	if got[ok] != sharedLimit || got[http.StatusTooManyRequests] != 2*sharedLimit {
		t.Fatalf("%d attempts at once at both: %v, want %d answered %d and the rest refused", 3*sharedLimit, got, sharedLimit, ok)
	}
}

func testSharedSignInLimit(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, func(c *authserver.Config) {
		behindProxy(c)
		c.LoginRate = sharedLimit
		c.LoginLockoutFailures = -1 // only the address limit in play
	})
	addUser(t, a, "olga", "password-of-olga", "weather:read")
	_, challenge := pkce()
	id := publicClient(t, a)
	wantSharedLimit(t, []*testAS{a, b}, http.StatusUnauthorized, func(as *testAS, addr string) int {
		return signInFrom(t, as, newBrowser(t), authorizeURL(as, codeParams(id, challenge)), addr, "olga", "wrong guess")
	})
}

func testSharedRegistrationLimit(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, func(c *authserver.Config) {
		behindProxy(c)
		c.RegistrationRate = sharedLimit
	})
	meta := `{"redirect_uris":["` + loopback + `"],"token_endpoint_auth_method":"none"}`
	wantSharedLimit(t, []*testAS{a, b}, http.StatusCreated, func(as *testAS, addr string) int {
		req, _ := http.NewRequest(http.MethodPost, as.URL+"/register", strings.NewReader(meta))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	})
}

// tokenAt asks as for a client_credentials token of id with secret from addr and returns the status.
func tokenAt(t *testing.T, as *testAS, id, secret, addr string) int {
	resp, _ := endpointPost(t, as.URL+"/token", ccForm, id, secret, addr)
	return resp.StatusCode
}

func testSharedClientBudget(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, func(c *authserver.Config) {
		behindProxy(c)
		c.ClientAuthFailuresPerClient = sharedLimit
		c.ClientAuthFailuresPerAddress = -1
	})
	both := []*testAS{a, b}
	id, secret := backend(t, a, "victim")
	for i := range sharedLimit - 1 {
		if st := tokenAt(t, both[i%2], id, "guess", fmt.Sprintf("198.51.100.%d", i)); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, st)
		}
	}
	if n := lockedRecords(both); n != 0 {
		t.Fatalf("%d client_auth.locked records before the budget is spent", n)
	}
	if st := tokenAt(t, b, id, "guess", "198.51.100.99"); st != http.StatusUnauthorized {
		t.Fatalf("the last guess of the budget: %d", st)
	}
	if n := lockedRecords(both); n != 1 {
		t.Fatalf("%d client_auth.locked records after the budget is spent, want 1", n)
	}
	for i, as := range both {
		resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, fmt.Sprintf("192.0.2.%d", i))
		wantLimited(t, "the right secret from a new address at "+as.URL, resp, body, 16)
	}

	id2, secret2 := backend(t, a, "victim2")
	got := tally(atOnce(3*sharedLimit, func(i int) int {
		return tokenAt(t, both[i%2], id2, "guess", fmt.Sprintf("198.51.101.%d", i))
	}))
	if got[http.StatusUnauthorized] < sharedLimit || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != 3*sharedLimit {
		t.Fatalf("%d guesses at once at both: %v", 3*sharedLimit, got)
	}
	if n := lockedRecords(both); n != 2 {
		t.Fatalf("%d client_auth.locked records for %d guesses at once, want 1", n-1, 3*sharedLimit)
	}
	for i, as := range both {
		resp, body := endpointPost(t, as.URL+"/token", ccForm, id2, secret2, fmt.Sprintf("192.0.2.%d", 10+i))
		wantLimited(t, "the right secret after guesses at once, at "+as.URL, resp, body, 16)
	}
}

func testSharedAddressBudget(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, func(c *authserver.Config) {
		behindProxy(c)
		c.ClientAuthFailuresPerClient = -1
		c.ClientAuthFailuresPerAddress = sharedLimit
	})
	both := []*testAS{a, b}
	id, secret := backend(t, a, "backend")
	const attacker, neighbour = "198.51.100.66", "198.51.100.67"
	for i := range sharedLimit {
		if st := tokenAt(t, both[i%2], fmt.Sprintf("unknown-%d", i), "guess", attacker); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, st)
		}
	}
	for _, as := range both {
		resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, attacker)
		wantLimited(t, "a right secret from the spent address at "+as.URL, resp, body, 16)
		if st := tokenAt(t, as, id, secret, neighbour); st != http.StatusOK {
			t.Fatalf("another address at %s: %d", as.URL, st)
		}
	}
	if n := lockedRecords(both); n != 1 {
		t.Fatalf("%d client_auth.locked records, want 1", n)
	}
}

// testSharedKnownAddress: a client that authenticated from its address at A keeps working from
// it at B after guesses at B spent its budget; from other addresses it is refused at both.
func testSharedKnownAddress(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, func(c *authserver.Config) {
		behindProxy(c)
		c.ClientAuthFailuresPerClient = sharedLimit
	})
	id, secret := backend(t, a, "busy")
	const home = "192.0.2.10"
	if st := tokenAt(t, a, id, secret, home); st != http.StatusOK {
		t.Fatalf("first token at A: %d", st)
	}
	for i := range sharedLimit {
		if st := tokenAt(t, b, id, "guess", fmt.Sprintf("198.51.100.%d", i)); st != http.StatusUnauthorized {
			t.Fatalf("guess %d at B: %d", i+1, st)
		}
	}
	for _, as := range []*testAS{b, a} {
		if st := tokenAt(t, as, id, secret, home); st != http.StatusOK {
			t.Fatalf("the client from its known address at %s: %d", as.URL, st)
		}
		resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, "192.0.2.11")
		wantLimited(t, "the right secret from another address at "+as.URL, resp, body, 16)
	}
}

// testSharedUserCodeLimit: a user's unknown user codes at the device page count at both
// instances; after ten, the right code is refused at either.
func testSharedUserCodeLimit(t *testing.T, open func() store.Store) {
	a, b := twoInstancesOn(t, open, nil)
	both := []*testAS{a, b}
	addUser(t, a, "pia", "password-of-pia", "weather:read")
	_, userCode := startDevice(t, a, publicClient(t, a))
	br := newBrowser(t) // cookies are per host, not per port: both instances see the session
	if st, _ := deviceSignIn(t, br, a, "BCDF-GHJK", "pia", "password-of-pia"); st != http.StatusBadRequest {
		t.Fatalf("sign-in with an unknown code: %d", st)
	}
	for i := range 9 {
		if st, _ := deviceSignIn(t, br, both[(i+1)%2], "BCDF-GHJ"+string(rune('L'+i)), "", ""); st != http.StatusBadRequest {
			t.Fatalf("unknown code %d: %d", i+2, st)
		}
	}
	for _, as := range both {
		if st, _ := deviceSignIn(t, br, as, userCode, "", ""); st != http.StatusTooManyRequests {
			t.Fatalf("the right code after ten unknown ones at %s: %d", as.URL, st)
		}
	}
}
