// Scope selection (MCP authorization specification, "Scope Selection Strategy"; SEP-2207 for
// offline_access).

package client

import "slices"

// offlineAccess is the OpenID Connect scope that asks for a refresh token.
const offlineAccess = "offline_access"

// selectScopes returns the scopes of a new authorization: the configured ones, else the
// challenge's, else the protected resource's scopes_supported, else none; plus
// offline_access for the authorization code grant when the authorization server lists it.
func (c *Client) selectScopes(challenge []string, d *discovery) []string {
	var s []string
	switch {
	case len(c.cfg.Scopes) > 0:
		s = slices.Clone(c.cfg.Scopes)
	case len(challenge) > 0:
		s = slices.Clone(challenge)
	case d.prm != nil && len(d.prm.ScopesSupported) > 0:
		s = slices.Clone(d.prm.ScopesSupported)
	}
	if len(s) > 0 && c.cfg.GrantType == AuthorizationCode &&
		slices.Contains(d.as.ScopesSupported, offlineAccess) && !slices.Contains(s, offlineAccess) {
		s = append(s, offlineAccess)
	}
	return s
}
