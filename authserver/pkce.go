// Proof Key for Code Exchange: RFC 7636, S256 only (OAuth 2.1 §4.1.1; the "plain" method is
// refused because it protects nothing against an attacker who sees the authorization request).
package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

const pkceS256 = "S256"

// validPKCEString reports whether s is a code verifier (RFC 7636 §4.1) or an S256 code
// challenge: 43-128 characters of [A-Za-z0-9-._~]. An S256 challenge is always 43.
func validPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// checkCodeChallenge validates the PKCE parameters of an authorization request.
func checkCodeChallenge(challenge, method string) *oauthError {
	switch {
	case challenge == "":
		return newError(errInvalidRequest, "code_challenge is required (PKCE, RFC 7636)")
	case method == "":
		// RFC 7636 §4.3: an absent method means "plain", which this server refuses.
		return newError(errInvalidRequest, "code_challenge_method is required and must be S256")
	case method != pkceS256:
		return newError(errInvalidRequest, "code_challenge_method must be S256 (plain is not supported)")
	case len(challenge) != 43 || !validPKCEString(challenge):
		return newError(errInvalidRequest, "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	}
	return nil
}

// verifyPKCE reports whether verifier matches the S256 challenge (RFC 7636 §4.6).
func verifyPKCE(verifier, challenge string) bool {
	if !validPKCEString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
