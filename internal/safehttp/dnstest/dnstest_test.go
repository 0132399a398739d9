package dnstest

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzAnswer: any packet gets no answer or a response to its own ID with one question, and
// never a panic.
func FuzzAnswer(f *testing.F) {
	query := []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 6, 'r', 'e', 'b', 'i', 'n', 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	f.Add(query)
	f.Add(append(query[:len(query)-4:len(query)-4], 0, 28, 0, 1)) // AAAA
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64})
	d := &Server{name: "rebind.example.", answers: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	f.Fuzz(func(t *testing.T, q []byte) {
		resp := d.answer(q)
		if resp == nil {
			return
		}
		if resp[0] != q[0] || resp[1] != q[1] || binary.BigEndian.Uint16(resp[2:])&0x8000 == 0 || binary.BigEndian.Uint16(resp[4:]) != 1 {
			t.Fatalf("response %x to %x", resp, q)
		}
	})
}

func TestAnswersInTurn(t *testing.T) {
	first, second := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1")
	d := Start(t, "rebind.example.", first, second)
	for _, want := range []netip.Addr{first, second, second} {
		got, err := d.Resolver().LookupNetIP(t.Context(), "ip4", "rebind.example")
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("lookup: %v %v, want %v", got, err, want)
		}
	}
	if _, err := d.Resolver().LookupNetIP(t.Context(), "ip4", "other.example"); err == nil {
		t.Fatal("another name resolved")
	}
	if d.Queries() != 3 {
		t.Fatalf("%d A queries", d.Queries())
	}
}
