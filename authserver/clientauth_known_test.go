package authserver_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestClientAuthSparesKnownAddress: guesses from many addresses spend a client's failure budget,
// which then refuses the client's right secret from a new address, but not from the address it
// authenticated from before: there its credentials are still checked. An address that fails is
// no longer spared, and a success a day old no longer counts.
func TestClientAuthSparesKnownAddress(t *testing.T) {
	clk := newClock()
	as := newTestAS(t, func(c *authserver.Config) {
		c.Now = clk.now
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.ClientAuthFailuresPerClient = 3
	})
	id, secret := backend(t, as, "victim")
	const home, elsewhere = "192.0.2.10", "192.0.2.99"
	token := func(secret, addr string) (*http.Response, map[string]any) {
		return endpointPost(t, as.URL+"/token", ccForm, id, secret, addr)
	}
	if resp, body := token(secret, home); resp.StatusCode != http.StatusOK {
		t.Fatalf("first token: %d %v", resp.StatusCode, body)
	}
	for _, attacker := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if resp, _ := token("guess", attacker); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a guess from %s: %d", attacker, resp.StatusCode)
		}
	}
	resp, body := token(secret, elsewhere)
	wantLimited(t, "the right secret from a new address", resp, body, 60)
	resp, body = token("guess", "198.51.100.4")
	wantLimited(t, "a guess from a new address", resp, body, 60)
	if resp, body := token(secret, home); resp.StatusCode != http.StatusOK {
		t.Fatalf("the client from its known address while its budget is spent: %d %v", resp.StatusCode, body)
	}

	// A failure from the known address is checked (401, not 429) and ends its exemption.
	if resp, _ := token("guess", home); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong secret from the known address: %d", resp.StatusCode)
	}
	resp, body = token(secret, home)
	wantLimited(t, "the right secret after a failure from the same address", resp, body, 60)

	// The budget refills; a success a day old no longer spares its address.
	clk.advance(time.Minute)
	if resp, body := token(secret, home); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the budget refilled: %d %v", resp.StatusCode, body)
	}
	clk.advance(25 * time.Hour)
	for _, attacker := range []string{"198.51.100.5", "198.51.100.6", "198.51.100.7"} {
		token("guess", attacker)
	}
	resp, body = token(secret, home)
	wantLimited(t, "the right secret from an address last successful a day ago", resp, body, 60)
}
