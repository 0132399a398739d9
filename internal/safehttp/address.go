// Which IP addresses are public: the IANA IPv4 and IPv6 Special-Purpose Address Registries
// (RFC 6890) and the embedded-IPv4 forms of RFC 4291 §2.5.5, RFC 6052, RFC 3056 and RFC 4380.
package safehttp

import "net/netip"

// special lists the non-public prefixes that netip's predicates do not cover, with a reason.
var special = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// Prefixes of IPv6 forms that embed an IPv4 address: NAT64 in the last 32 bits, 6to4 in bits
// 16-48. The deprecated IPv4-compatible form (::/96, RFC 4291 §2.5.5.1) and Teredo
// (2001::/32), which hides an obfuscated address, are refused outright.
var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
)

// NonPublicReason returns why ip (an IP literal, optionally with an IPv6 zone) must not be
// fetched — "loopback", "private", "link-local", … — or "" when it is a public unicast
// address. Unparsable input is refused.
func NonPublicReason(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unparsable"
	}
	return reason(a.WithZone(""))
}

func reason(a netip.Addr) string {
	a = a.Unmap() // ::ffff:a.b.c.d is the IPv4 address a.b.c.d
	if a.Is6() {
		switch {
		case a == netip.IPv6Unspecified():
			return "unspecified"
		case a == netip.IPv6Loopback():
			return "loopback"
		case ipv4Compatible.Contains(a):
			return "IPv4-compatible IPv6"
		case nat64.Contains(a):
			b := a.As16()
			return embedded(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			b := a.As16()
			return embedded(netip.AddrFrom4([4]byte(b[2:6])))
		case teredo.Contains(a):
			return "Teredo"
		case nat64Local.Contains(a):
			return "local-use NAT64"
		}
	}
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local" // includes 169.254.169.254, the cloud metadata service
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.reason
		}
	}
	return ""
}

// embedded classifies the IPv4 address inside an IPv6 form: that form is only as public as
// the IPv4 address it leads to.
func embedded(v4 netip.Addr) string {
	if r := reason(v4); r != "" {
		return r + " (embedded in IPv6)"
	}
	return ""
}
