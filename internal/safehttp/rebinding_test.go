package safehttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/internal/safehttp/dnstest"
)

// TestDNSRebindingRefusedAtDial: a name answers a public address to the first lookup (what a
// check-then-fetch validator would see) and then 127.0.0.1 and 169.254.169.254; each fetch is
// refused by the check of the address actually dialled, and the local server — whose
// certificate is valid for that name, so nothing else would stop the fetch — is never reached.
func TestDNSRebindingRefusedAtDial(t *testing.T) {
	var hits atomic.Int32
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	port := strings.TrimPrefix(hostOf(t, srv.URL), "127.0.0.1:")
	public := netip.MustParseAddr("93.184.215.14")
	dns := dnstest.Start(t, "rebind.example.com.", public, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254"))
	opts.Resolver = dns.Resolver()
	c := New(opts)

	addrs, err := opts.Resolver.LookupNetIP(t.Context(), "ip4", "rebind.example.com")
	if err != nil || len(addrs) != 1 || addrs[0] != public || NonPublicReason(addrs[0].String()) != "" {
		t.Fatalf("first lookup: %v %v, want the public %v", addrs, err, public)
	}
	for _, want := range []struct{ addr, reason string }{{"127.0.0.1", "loopback"}, {"169.254.169.254", "link-local"}} {
		_, err := c.Get(t.Context(), "https://rebind.example.com:"+port+"/client.json", "application/json")
		var be *BlockedAddressError
		if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) || be.Address != want.addr+":"+port || !strings.Contains(be.Reason, want.reason) {
			t.Fatalf("fetch after the name rebound to %s: %v, want a refused dial to %s:%s (%s)", want.addr, err, want.addr, port, want.reason)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the local server was reached %d times", hits.Load())
	}
	if n := dns.Queries(); n != 3 {
		t.Fatalf("%d A queries, want 3 (one lookup, then one per fetch)", n)
	}
}

// TestRebindingDNSReachesServerUnguarded is the control of TestDNSRebindingRefusedAtDial: with
// the same resolver and the guard lifted for that host (TestOnlyAllowHost), the rebound name
// does reach the local server, so the refusals above are the dial-time check's doing.
func TestRebindingDNSReachesServerUnguarded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := strings.TrimPrefix(hostOf(t, srv.URL), "127.0.0.1:")
	dns := dnstest.Start(t, "rebind.example.com.", netip.MustParseAddr("127.0.0.1"))
	c := New(Options{Resolver: dns.Resolver(), TestOnlyAllowHost: "rebind.example.com:" + port})
	resp, err := c.Get(t.Context(), "http://rebind.example.com:"+port+"/", "")
	if err != nil || resp.StatusCode != 200 || hits.Load() != 1 || dns.Queries() == 0 {
		t.Fatalf("unguarded fetch through the test DNS: %v %v, %d hits, %d queries", resp, err, hits.Load(), dns.Queries())
	}
}
