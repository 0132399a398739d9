// Redirect URI matching at the authorization endpoint: OAuth 2.1 §4.1.1 / RFC 6749 §3.1.2.3
// (exact string comparison) and RFC 8252 §7.3 (any port for loopback redirect URIs).
package authserver

import "strings"

// RedirectURIMatches reports whether the redirect URI of an authorization request matches a
// registered one. The comparison is an exact string match: no case folding, no percent-decoding,
// no path or query normalisation, so a URI one character off, with an added query, a different
// path or case, or added userinfo does not match.
//
// The one exception is RFC 8252 §7.3: for an http redirect URI on a loopback host (127.0.0.1,
// [::1], and localhost, which this server accepts as loopback, see validateRedirectURI) the port
// may differ, because a native app binds an ephemeral port when it starts. Everything else —
// scheme, host, path, query — must still match character for character, and the requested port
// must be a plain decimal 1-65535.
func RedirectURIMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	regHost, regRest, ok := splitLoopbackURI(registered)
	if !ok {
		return false
	}
	reqHost, reqRest, ok := splitLoopbackURI(requested)
	return ok && regHost == reqHost && regRest == reqRest
}

// splitLoopbackURI splits an http URI on a loopback host into its host (without the port) and
// the rest (path, query). ok is false for any other URI, for a port that is not a
// plain decimal 1-65535, and for URIs with a fragment.
func splitLoopbackURI(s string) (host, rest string, ok bool) {
	after, found := strings.CutPrefix(s, "http://")
	if !found || strings.Contains(after, "#") {
		return "", "", false
	}
	end := strings.IndexAny(after, "/?")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	host = authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host = authority[:i]
		if !validPort(authority[i+1:]) {
			return "", "", false
		}
	}
	switch host {
	case "127.0.0.1", "[::1]", "localhost":
		return host, rest, true
	}
	return "", "", false
}
