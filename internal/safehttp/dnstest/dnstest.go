// Package dnstest is a DNS server for tests (RFC 1035 §4, over UDP on 127.0.0.1) whose answers
// for one name change from query to query, the way an attacker's authoritative server rebinds a
// name. It is hand-written because no real resolver on this machine can be made to change its
// answer between two lookups (and there is no internet to reach one that does).
package dnstest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Server answers A queries for one name from a list, in turn (the last answer repeats), AAAA
// and other types of that name with no records, and other names with NXDOMAIN. It speaks just
// enough DNS for Go's own resolver: one question a query.
type Server struct {
	name    string // lower case, fully qualified, e.g. "rebind.example.com."
	answers []netip.Addr
	conn    net.PacketConn

	mu       sync.Mutex
	aQueries int
}

// Start serves name (fully qualified, with the final dot) until the test ends.
func Start(t testing.TB, name string, answers ...netip.Addr) *Server {
	t.Helper()
	if len(answers) == 0 {
		t.Fatal("dnstest: no answers")
	}
	for _, a := range answers {
		if !a.Is4() {
			t.Fatalf("dnstest: %v is not an IPv4 address (A records only)", a)
		}
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &Server{name: strings.ToLower(name), answers: answers, conn: conn}
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
func (d *Server) answer(q []byte) []byte {
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

// Resolver is Go's own DNS client (no cgo, no system cache) asking this server.
func (d *Server) Resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", addr)
	}}
}

// Queries is the number of A queries answered so far.
func (d *Server) Queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aQueries
}
