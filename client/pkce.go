// Proof Key for Code Exchange with S256 (RFC 7636 §4; required by OAuth 2.1 and MCP).

package client

import "golang.org/x/oauth2"

// pkce is one authorization's code verifier and its S256 challenge.
type pkce struct {
	verifier  string
	challenge string
}

func newPKCE() pkce {
	v := oauth2.GenerateVerifier() // 32 random bytes, base64url: 43 characters
	return pkce{verifier: v, challenge: oauth2.S256ChallengeFromVerifier(v)}
}
