package safehttp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rebindingDNS is a DNS server on 127.0.0.1 (UDP) whose A answers for one name change from
// query to query, the way an attacker's authoritative server rebinds a name. It is
// hand-written because no real resolver on this machine can be made to change its answer
// between two lookups (and there is no internet to reach one that does); it speaks just
// enough of RFC 1035 §4 for Go's own resolver: one question, A answers from the list (the last
// one repeats), AAAA and other types answered with no records.
type rebindingDNS struct {
	name    string // lower case, fully qualified, e.g. "rebind.example.com."
	answers []netip.Addr
	conn    net.PacketConn

	mu       sync.Mutex
	aQueries int
}

func startRebindingDNS(t *testing.T, name string, answers ...netip.Addr) *rebindingDNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &rebindingDNS{name: name, answers: answers, conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := d.answer(buf[:n]); resp != nil {
				conn.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return d
}

// answer builds the response to one query, or nil for a packet that is not one.
func (d *rebindingDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l >= len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	name := strings.ToLower(strings.Join(labels, ".")) + "."

	var rdata []byte
	rcode := uint16(0)
	switch {
	case name != d.name:
		rcode = 3 // NXDOMAIN
	case qtype == 1: // A
		d.mu.Lock()
		a := d.answers[min(d.aQueries, len(d.answers)-1)]
		d.aQueries++
		d.mu.Unlock()
		rdata = a.AsSlice()
	}
	resp := make([]byte, 12, 12+len(question)+16)
	copy(resp, q[:2])                                          // ID
	binary.BigEndian.PutUint16(resp[2:], 0x8180|rcode)         // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[4:], 1)                    // one question
	binary.BigEndian.PutUint16(resp[6:], uint16(len(rdata)/4)) // answers
	resp = append(resp, question...)
	if rdata != nil {
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4) // name → the question's, A, IN, TTL 0, 4 bytes
		resp = append(resp, rdata...)
	}
	return resp
}

// resolver is Go's own DNS client (no cgo, no system cache) pointed at this server.
func (d *rebindingDNS) resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", addr)
	}}
}

func (d *rebindingDNS) queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aQueries
}

// TestDNSRebindingRefusedAtDial: a name answers a public address to the first lookup (what a
// check-then-fetch validator would see) and then 127.0.0.1 and 169.254.169.254; each fetch is
// refused by the check of the address actually dialled, and the local server — whose
// certificate is valid for that name, so nothing else would stop the fetch — is never reached.
func TestDNSRebindingRefusedAtDial(t *testing.T) {
	var hits atomic.Int32
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	port := strings.TrimPrefix(hostOf(t, srv.URL), "127.0.0.1:")
	public := netip.MustParseAddr("93.184.215.14")
	dns := startRebindingDNS(t, "rebind.example.com.", public, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254"))
	opts.Resolver = dns.resolver()
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
	if n := dns.queries(); n != 3 {
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
	dns := startRebindingDNS(t, "rebind.example.com.", netip.MustParseAddr("127.0.0.1"))
	c := New(Options{Resolver: dns.resolver(), TestOnlyAllowHost: "rebind.example.com:" + port})
	resp, err := c.Get(t.Context(), "http://rebind.example.com:"+port+"/", "")
	if err != nil || resp.StatusCode != 200 || hits.Load() != 1 || dns.queries() == 0 {
		t.Fatalf("unguarded fetch through the test DNS: %v %v, %d hits, %d queries", resp, err, hits.Load(), dns.queries())
	}
}
