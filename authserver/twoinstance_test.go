package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// twoInstances starts two authorization servers on one PostgreSQL database (dsn), each with its
// own connection pool, sharing the key encryption key and the issuer, as two machines behind
// one load balancer would. a.URL is the issuer and reaches instance A; b.URL reaches instance B.
func twoInstances(t *testing.T, dsn string, mutate func(*authserver.Config)) (a, b *testAS) {
	t.Helper()
	return twoInstancesOn(t, func() store.Store {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, mutate)
}

// twoInstancesOn is twoInstances on the stores open returns, each opened on one database.
func twoInstancesOn(t *testing.T, open func() store.Store, mutate func(*authserver.Config)) (a, b *testAS) {
	t.Helper()
	openStore := func() store.Store {
		st := open()
		t.Cleanup(func() { st.Close() })
		return st
	}
	key := testKey()
	a = newTestASOn(t, openStore(), key, mutate)
	b = newTestASOn(t, openStore(), key, func(c *authserver.Config) {
		if mutate != nil {
			mutate(c)
		}
		c.Issuer = a.URL
	})
	// newTestASOn serves B at the issuer's URL in its result; give B a front of its own.
	front := httptest.NewServer(b.Handler())
	t.Cleanup(front.Close)
	b.URL = front.URL
	return a, b
}

func devLogin(c *authserver.Config) { c.DevLoginUser = "dev" }

// TestTwoInstancesCodeIssuedByOneRedeemedAtOther: a client registered at A, a code issued by A,
// redeemed at B; the access token carries the one issuer and verifies against either
// instance's JWKS, which are the same; replaying the code at A fails and revokes the grant.
func TestTwoInstancesCodeIssuedByOneRedeemedAtOther(t *testing.T) {
	a, b := twoInstances(t, testenv.PostgresDSN(t), devLogin)
	id := publicClient(t, a)
	verifier, challenge := pkce()
	code := devCode(t, a, codeParams(id, challenge))

	status, tok := tokenRequest(t, b, codeForm(id, code, verifier))
	if status != http.StatusOK {
		t.Fatalf("redeem at B: %d %v", status, tok)
	}
	for _, inst := range []*testAS{a, b} {
		claims, _ := verifyJWT(t, inst, tok["access_token"].(string))
		if claims["iss"] != a.URL || claims["aud"] != resourceA || claims["client_id"] != id {
			t.Fatalf("claims %v", claims)
		}
	}
	if ja, jb := jwks(t, a), jwks(t, b); !slices.Equal(ja, jb) || len(ja) != 1 {
		t.Fatalf("instances publish different key sets: %v and %v", ja, jb)
	}
	// B started on A's database and key encryption key, so it decrypted and used A's signing
	// key (stored encrypted: TestSigningKeysEncryptedAtRest) instead of making its own.
	if keys, err := b.Store.ListSigningKeys(t.Context()); err != nil || len(keys) != 1 {
		t.Fatalf("signing keys in the shared store: %v, %v", keys, err)
	}

	status, body := tokenRequest(t, a, codeForm(id, code, verifier))
	wantOAuthError(t, "code replayed at A", status, body, http.StatusBadRequest, "invalid_grant")
	// The replay revoked what the code had issued, on both instances.
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {tok["refresh_token"].(string)}}
	status, body = tokenRequest(t, b, refresh)
	wantOAuthError(t, "refresh after code replay", status, body, http.StatusBadRequest, "invalid_grant")
}

// TestTwoInstancesRefreshReuseDetected: rotation at B, then reuse of the rotated token at A
// revokes the whole family, so the newest token fails at B too.
func TestTwoInstancesRefreshReuseDetected(t *testing.T) {
	a, b := twoInstances(t, testenv.PostgresDSN(t), devLogin)
	id := publicClient(t, a)
	first := tokens(t, a, id)["refresh_token"].(string)
	form := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {rt}, "resource": {resourceA}}
	}
	status, rotated := tokenRequest(t, b, form(first))
	if status != http.StatusOK || rotated["refresh_token"] == first {
		t.Fatalf("rotate at B: %d %v", status, rotated)
	}
	status, body := tokenRequest(t, a, form(first))
	wantOAuthError(t, "reuse at A", status, body, http.StatusBadRequest, "invalid_grant")
	status, body = tokenRequest(t, b, form(rotated["refresh_token"].(string)))
	wantOAuthError(t, "newest token of the revoked family at B", status, body, http.StatusBadRequest, "invalid_grant")
	if !strings.Contains(strings.Join(a.Audit.events(), ","), "refresh.reuse") {
		t.Errorf("instance A logged no reuse event: %v", a.Audit.events())
	}
}

// TestTwoInstancesConcurrentRedemption: one code sent to both instances at once, eight times,
// gives exactly one token.
func TestTwoInstancesConcurrentRedemption(t *testing.T) {
	a, b := twoInstances(t, testenv.PostgresDSN(t), devLogin)
	id := publicClient(t, a)
	verifier, challenge := pkce()
	code := devCode(t, b, codeParams(id, challenge))
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		inst := []*testAS{a, b}[i%2]
		wg.Go(func() { // no t.Fatal off the test goroutine: record the status, or -1
			statuses[i] = -1
			if resp, err := http.PostForm(inst.URL+"/token", codeForm(id, code, verifier)); err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		} else if s != http.StatusBadRequest {
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded (%v), want exactly 1", ok, len(statuses), statuses)
	}
}

// TestTwoInstancesBrowserSession: the login page comes from A, the login form is posted to B,
// the consent to A: sessions and CSRF tokens are shared state, not per instance.
func TestTwoInstancesBrowserSession(t *testing.T) {
	a, b := twoInstances(t, testenv.PostgresDSN(t), nil)
	addUser(t, a, "alice", "correct horse battery", "weather:read")
	id := publicClient(t, b)
	br := newBrowser(t) // cookies are per host, not per port: both instances see them
	verifier, challenge := pkce()
	_, page := br.get(authorizeURL(a, codeParams(id, challenge)))
	form := hidden(t, page)
	form.Set("username", "alice")
	form.Set("password", "correct horse battery")
	resp, page := br.post(b.URL+"/login", form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Authorize Test Client") {
		t.Fatalf("login at B: %d %s", resp.StatusCode, page)
	}
	form = hidden(t, page)
	form.Set("action", "approve")
	resp, _ = br.post(a.URL+"/consent", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("consent at A: %d %s", resp.StatusCode, loc)
	}
	if status, tok := tokenRequest(t, b, codeForm(id, loc.Query().Get("code"), verifier)); status != http.StatusOK {
		t.Fatalf("token at B: %d %v", status, tok)
	}
}

// jwks returns the key IDs an instance publishes, sorted.
func jwks(t *testing.T, as *testAS) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, as.URL+"/jwks", nil)
	resp, body := do(t, http.DefaultClient, req)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil {
		t.Fatalf("jwks: %d %s", resp.StatusCode, body)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	slices.Sort(ids)
	return ids
}

// TestPostgresHostileClientID: a client_id PostgreSQL cannot even hold (invalid UTF-8, NUL) is
// an unknown client, answered like any other, not a server error.
func TestPostgresHostileClientID(t *testing.T) {
	a, _ := twoInstances(t, testenv.PostgresDSN(t), nil)
	for _, id := range []string{"\xff", "a\x00b"} {
		_, challenge := pkce()
		req, _ := http.NewRequest(http.MethodGet, authorizeURL(a, codeParams(id, challenge)), nil)
		if resp, body := do(t, noRedirect, req); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("authorize with client_id %q: %d %s", id, resp.StatusCode, body)
		}
		status, body := tokenRequest(t, a, codeForm(id, "code", "verifier"))
		wantOAuthError(t, "token with a hostile client_id", status, body, http.StatusUnauthorized, "invalid_client")
	}
}
