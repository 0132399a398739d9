package authserver

import (
	"strings"
	"testing"
)

func TestRedirectURIMatches(t *testing.T) {
	tests := []struct {
		name, registered, requested string
		want                        bool
	}{
		{"exact https", "https://app.example/cb", "https://app.example/cb", true},
		{"exact with query", "https://app.example/cb?x=1", "https://app.example/cb?x=1", true},
		{"one character off", "https://app.example/cb", "https://app.example/cc", false},
		{"one character longer", "https://app.example/cb", "https://app.example/cb1", false},
		{"trailing slash", "https://app.example/cb", "https://app.example/cb/", false},
		{"added query", "https://app.example/cb", "https://app.example/cb?x=1", false},
		{"added empty query", "https://app.example/cb", "https://app.example/cb?", false},
		{"changed query", "https://app.example/cb?x=1", "https://app.example/cb?x=2", false},
		{"added fragment", "https://app.example/cb", "https://app.example/cb#x", false},
		{"different path", "https://app.example/cb", "https://app.example/other", false},
		{"path traversal", "https://app.example/cb", "https://app.example/cb/../evil", false},
		{"host case", "https://app.example/cb", "https://APP.example/cb", false},
		{"path case", "https://app.example/cb", "https://app.example/CB", false},
		{"scheme case", "https://app.example/cb", "HTTPS://app.example/cb", false},
		{"percent-encoded", "https://app.example/cb", "https://app.example/%63b", false},
		{"userinfo", "https://app.example/cb", "https://app.example@evil.example/cb", false},
		{"userinfo before host", "https://app.example/cb", "https://user@app.example/cb", false},
		{"https port for non-loopback", "https://app.example/cb", "https://app.example:8443/cb", false},
		{"http downgrade", "https://app.example/cb", "http://app.example/cb", false},
		{"empty requested", "https://app.example/cb", "", false},

		// RFC 8252 §7.3: loopback redirect URIs, any port
		{"loopback v4 other port", "http://127.0.0.1:3000/callback", "http://127.0.0.1:51234/callback", true},
		{"loopback v4 registered without port", "http://127.0.0.1/callback", "http://127.0.0.1:51234/callback", true},
		{"loopback v4 requested without port", "http://127.0.0.1:3000/callback", "http://127.0.0.1/callback", true},
		{"loopback v6 other port", "http://[::1]:3000/cb", "http://[::1]:8080/cb", true},
		{"localhost other port", "http://localhost:3000/cb", "http://localhost:9999/cb", true},
		{"loopback port with query kept", "http://127.0.0.1:1/cb?a=b", "http://127.0.0.1:2/cb?a=b", true},
		{"loopback no path", "http://127.0.0.1:1", "http://127.0.0.1:2", true},
		{"loopback path differs", "http://127.0.0.1:3000/callback", "http://127.0.0.1:3000/callbacks", false},
		{"loopback added query", "http://127.0.0.1:3000/callback", "http://127.0.0.1:4000/callback?x=1", false},
		{"loopback host family differs", "http://127.0.0.1:3000/cb", "http://[::1]:3000/cb", false},
		{"loopback to localhost", "http://127.0.0.1:3000/cb", "http://localhost:3000/cb", false},
		{"loopback other address", "http://127.0.0.1:3000/cb", "http://127.0.0.2:3000/cb", false},
		{"loopback https scheme", "http://127.0.0.1:3000/cb", "https://127.0.0.1:3000/cb", false},
		{"loopback port zero", "http://127.0.0.1:3000/cb", "http://127.0.0.1:0/cb", false},
		{"loopback port too big", "http://127.0.0.1:3000/cb", "http://127.0.0.1:65536/cb", false},
		{"loopback port leading zero", "http://127.0.0.1:3000/cb", "http://127.0.0.1:03000/cb", false},
		{"loopback port not a number", "http://127.0.0.1:3000/cb", "http://127.0.0.1:+300/cb", false},
		{"loopback empty port", "http://127.0.0.1:3000/cb", "http://127.0.0.1:/cb", false},
		{"loopback userinfo", "http://127.0.0.1:3000/cb", "http://evil@127.0.0.1:3000/cb", false},
		{"loopback look-alike host", "http://127.0.0.1:3000/cb", "http://127.0.0.1.evil.example:3000/cb", false},
		{"loopback double port", "http://127.0.0.1:3000/cb", "http://127.0.0.1:3000:4000/cb", false},
		{"loopback fragment", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb#x", false},
		{"loopback host case", "http://localhost:3000/cb", "http://LOCALHOST:4000/cb", false},
		{"non-loopback http port", "http://app.example:3000/cb", "http://app.example:4000/cb", false},
		{"private-use exact", "com.example.app:/cb", "com.example.app:/cb", true},
		{"private-use differs", "com.example.app:/cb", "com.example.app:/cb2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedirectURIMatches(tc.registered, tc.requested); got != tc.want {
				t.Fatalf("RedirectURIMatches(%q, %q) = %v, want %v", tc.registered, tc.requested, got, tc.want)
			}
		})
	}
}

func FuzzRedirectURIMatches(f *testing.F) {
	f.Add("https://app.example/cb", "https://app.example/cb")
	f.Add("http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb")
	f.Add("http://[::1]/cb", "http://[::1]:1/cb")
	f.Add("http://localhost:1/cb?x", "http://localhost:65535/cb?x")
	f.Add("http://127.0.0.1:3000/cb", "http://evil@127.0.0.1:3000/cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !RedirectURIMatches(registered, requested) {
			return
		}
		if registered == requested {
			return
		}
		// A non-exact match is only the loopback port exception: both are loopback http URIs
		// with the same host and the same path and query.
		rh, rr, ok1 := splitLoopbackURI(registered)
		qh, qr, ok2 := splitLoopbackURI(requested)
		if !ok1 || !ok2 || rh != qh || rr != qr {
			t.Fatalf("%q matched %q outside the loopback port rule", requested, registered)
		}
		if strings.ContainsAny(requested, "#@") && !strings.ContainsAny(registered, "#@") {
			t.Fatalf("requested %q adds a fragment or userinfo", requested)
		}
		if !RedirectURIMatches(requested, registered) {
			t.Fatalf("match is not symmetric for %q and %q", registered, requested)
		}
	})
}

func BenchmarkRedirectURIMatches(b *testing.B) {
	for b.Loop() {
		RedirectURIMatches("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback")
	}
}
