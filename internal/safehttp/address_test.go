package safehttp

import (
	"net/netip"
	"testing"
)

// FuzzNonPublicReason checks that no spelling of an address changes the verdict: an IPv4
// address and its IPv4-mapped IPv6 form are refused alike, and the text form agrees with the
// parsed one.
func FuzzNonPublicReason(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{169, 254, 169, 254})
	f.Add([]byte{8, 8, 8, 8})
	f.Add([]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x20, 0x02, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			if NonPublicReason(string(b)) == "" {
				if _, err := netip.ParseAddr(string(b)); err != nil {
					t.Fatalf("unparsable %q treated as public", b)
				}
			}
			return
		}
		r := NonPublicReason(a.String())
		if a.Is4() {
			mapped := netip.AddrFrom16(a.As16())
			if (NonPublicReason(mapped.String()) == "") != (r == "") {
				t.Fatalf("%s and %s disagree", a, mapped)
			}
		}
		if r == "" && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast()) {
			t.Fatalf("%s treated as public", a)
		}
	})
}
