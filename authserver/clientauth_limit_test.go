package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// backend pre-registers a client_credentials client with a secret.
func backend(t *testing.T, as *testAS, name string) (id, secret string) {
	t.Helper()
	info, secret, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{
		Name: name, Confidential: true, GrantTypes: []string{"client_credentials"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID, secret
}

var ccForm = url.Values{"grant_type": {"client_credentials"}, "resource": {resourceA}}

// endpointPost posts form to an endpoint with client_secret_basic credentials and, if xff is
// set, an X-Forwarded-For header; it returns the response and its decoded body.
func endpointPost(t *testing.T, u string, form url.Values, id, secret, xff string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, body := do(t, http.DefaultClient, req)
	out := map[string]any{}
	_ = json.Unmarshal(body, &out)
	return resp, out
}

// wantLimited checks a 429 invalid_client answer with a Retry-After of 1 to max seconds.
func wantLimited(t *testing.T, what string, resp *http.Response, body map[string]any, max int) {
	t.Helper()
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || body["error"] != "invalid_client" || err != nil || ra < 1 || ra > max {
		t.Fatalf("%s: %d %v Retry-After %q, want 429 invalid_client with Retry-After 1..%d", what, resp.StatusCode, body, resp.Header.Get("Retry-After"), max)
	}
}

// TestClientAuthFailuresPerClient: successful client authentications are never limited; after
// ClientAuthFailuresPerClient wrong secrets in a minute the client_id is refused with 429 and
// Retry-After — even with its right secret, by Basic or in the form, so a right guess is not
// recognised — and audited client_auth.locked; other clients are unaffected, and the budget
// refills with time.
func TestClientAuthFailuresPerClient(t *testing.T) {
	clk := newClock()
	as := newTestAS(t, func(c *authserver.Config) {
		c.Now = clk.now
		c.ClientAuthFailuresPerClient = 3
		c.ClientAuthFailuresPerAddress = -1
	})
	id, secret := backend(t, as, "victim")
	otherID, otherSecret := backend(t, as, "bystander")
	for i := range 20 {
		if resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, ""); resp.StatusCode != 200 {
			t.Fatalf("success %d: %d %v", i, resp.StatusCode, body)
		}
	}
	for i := range 3 {
		resp, body := endpointPost(t, as.URL+"/token", ccForm, id, "guess-"+strconv.Itoa(i), "")
		wantOAuthError(t, "wrong secret", resp.StatusCode, body, 401, "invalid_client")
	}
	resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, "")
	wantLimited(t, "right secret after 3 failures", resp, body, 21)
	post := url.Values{"grant_type": {"client_credentials"}, "resource": {resourceA}, "client_id": {id}, "client_secret": {secret}}
	status, body := tokenRequest(t, as, post)
	if status != http.StatusTooManyRequests || body["error"] != "invalid_client" {
		t.Fatalf("client_secret_post while limited: %d %v", status, body)
	}
	resp, body = endpointPost(t, as.URL+"/revoke", url.Values{"token": {"x"}}, id, secret, "")
	wantLimited(t, "revocation while limited", resp, body, 21)
	if resp, body := endpointPost(t, as.URL+"/token", ccForm, otherID, otherSecret, ""); resp.StatusCode != 200 {
		t.Fatalf("another client: %d %v", resp.StatusCode, body)
	}
	locked := as.Audit.records("client_auth.locked")
	if len(locked) != 1 || locked[0]["client_id"] != id {
		t.Fatalf("client_auth.locked records: %v", locked)
	}

	clk.advance(21 * time.Second) // 3 per minute: one failure's worth back every 20 s
	if resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, ""); resp.StatusCode != 200 {
		t.Fatalf("after the budget refilled: %d %v", resp.StatusCode, body)
	}
	if strings.Contains(as.Audit.text(), secret) {
		t.Fatal("a client secret reached the log")
	}
}

// TestClientAuthFailuresPerAddress: failures spread over many client IDs (unknown ones too)
// from one source address spend that address's budget: every client authenticating from it is
// then refused at the token, revocation and introspection endpoints, while other addresses
// (distinguished behind a trusted proxy by X-Forwarded-For) are not.
func TestClientAuthFailuresPerAddress(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) {
		c.ClientAuthFailuresPerClient = -1
		c.ClientAuthFailuresPerAddress = 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	id, secret := backend(t, as, "backend")
	const attacker, neighbour = "198.51.100.66", "198.51.100.67"
	for i := range 3 {
		resp, body := endpointPost(t, as.URL+"/token", ccForm, "unknown-"+strconv.Itoa(i), "guess", attacker)
		wantOAuthError(t, "unknown client", resp.StatusCode, body, 401, "invalid_client")
	}
	for _, path := range []string{"/token", "/revoke", "/introspect"} {
		resp, body := endpointPost(t, as.URL+path, url.Values{"token": {"x"}, "grant_type": {"client_credentials"}}, id, secret, attacker)
		wantLimited(t, path+" from the limited address", resp, body, 21)
	}
	if resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, neighbour); resp.StatusCode != 200 {
		t.Fatalf("another address: %d %v", resp.StatusCode, body)
	}
	locked := as.Audit.records("client_auth.locked")
	if len(locked) != 1 || locked[0]["remote"] != attacker {
		t.Fatalf("client_auth.locked records: %v", locked)
	}
}

// TestClientAuthConcurrentSuccessesNeverLimited: with the default limits, 32 connections of one
// client from one address, all authenticating correctly (the benchmark's load), never get 429.
func TestClientAuthConcurrentSuccessesNeverLimited(t *testing.T) {
	as := newTestAS(t, nil)
	id, secret := backend(t, as, "bench")
	var wg sync.WaitGroup
	var refused atomic.Int32
	for range 32 {
		wg.Go(func() {
			for range 10 {
				form := strings.NewReader(ccForm.Encode())
				req, _ := http.NewRequest(http.MethodPost, as.URL+"/token", form)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d of 320 correct token requests were refused", n)
	}
}

// TestClientAuthOneAddressCannotLockOutClient: with the default limits, an address guessing a
// client's secret as fast as it can is refused long before the client's own budget is spent, so
// the client keeps getting tokens from its own address.
func TestClientAuthOneAddressCannotLockOutClient(t *testing.T) {
	clk := newClock()
	as := newTestAS(t, func(c *authserver.Config) {
		c.Now = clk.now
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	id, secret := backend(t, as, "victim")
	const attacker, owner = "198.51.100.66", "192.0.2.10"
	for minute := range 3 {
		var failed, limited int
		for range 100 {
			resp, _ := endpointPost(t, as.URL+"/token", ccForm, id, "guess", attacker)
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				failed++
			case http.StatusTooManyRequests:
				limited++
			}
		}
		if failed > 20 || limited == 0 {
			t.Fatalf("minute %d: the attacker's address had %d failures and %d refusals", minute, failed, limited)
		}
		if resp, body := endpointPost(t, as.URL+"/token", ccForm, id, secret, owner); resp.StatusCode != 200 {
			t.Fatalf("minute %d: the client from its own address: %d %v", minute, resp.StatusCode, body)
		}
		clk.advance(time.Minute)
	}
}
