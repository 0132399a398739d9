// Client registration order (MCP authorization specification, "Client Registration
// Approaches"): pre-registered credentials, then a Client ID Metadata Document, then Dynamic
// Client Registration, else an error saying how to pass a client ID.

package client

import (
	"context"
	"fmt"
	"net/url"
	"slices"
)

// registrationLocked returns the registration to use with the discovered authorization
// server, registering dynamically (with redirectURI) when nothing else applies, and sets it
// on the current entry.
func (c *Client) registrationLocked(ctx context.Context, redirectURI string) (*Registration, error) {
	as := c.state.disc.as
	e := c.state.entry
	switch {
	case c.cfg.ClientID != "":
		e.Registration = &Registration{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, AuthMethod: c.preRegisteredAuthMethod(as)}
	case c.cfg.ClientMetadataURL != "" && as.ClientIDMetadataDocumentSupported:
		method := AuthNone
		if c.cfg.PrivateKey != nil {
			method = AuthPrivateKeyJWT
		}
		e.Registration = &Registration{ClientID: c.cfg.ClientMetadataURL, AuthMethod: method, MetadataDocument: true}
	case c.reusableMetadataDocument(e.Registration) && as.ClientIDMetadataDocumentSupported:
		c.log.Debug("mcpauth: reusing the stored metadata document client", "issuer", as.Issuer)
	case e.Registration != nil && e.Registration.Dynamic &&
		(e.Registration.SecretExpiresAt.IsZero() || e.Registration.SecretExpiresAt.After(c.now().Add(expirySkew))):
		c.log.Debug("mcpauth: reusing the stored registration", "issuer", as.Issuer)
	case as.RegistrationEndpoint != "":
		reg, err := c.register(ctx, as, redirectURI)
		if err != nil {
			return nil, err
		}
		e.Registration = reg
		e.Token = nil // a token of another client is not ours
		c.saveLocked(ctx)
	default:
		return nil, &NoRegistrationError{Issuer: as.Issuer}
	}
	return e.Registration, nil
}

// reusableMetadataDocument reports whether reg is a Client ID Metadata Document client this
// configuration may use without naming it: no client ID or other document is configured, and
// its authentication needs no key the configuration lacks. Registrations stored before
// Registration.MetadataDocument existed are recognised by their client_id, an https document
// URL, and the absence of a secret, so that an upgrade keeps their logins.
func (c *Client) reusableMetadataDocument(reg *Registration) bool {
	if reg == nil || reg.Dynamic || c.cfg.ClientID != "" || c.cfg.ClientMetadataURL != "" {
		return false
	}
	if !reg.MetadataDocument && (reg.ClientSecret != "" || checkClientMetadataURL(reg.ClientID) != nil) {
		return false
	}
	return reg.AuthMethod != AuthPrivateKeyJWT || c.cfg.PrivateKey != nil
}

// preRegisteredAuthMethod chooses the token endpoint authentication of a pre-registered
// client: the configured one; private_key_jwt with a key; with a secret, basic or post as
// the server supports (basic when it does not say, RFC 8414 §2); else none.
func (c *Client) preRegisteredAuthMethod(as *authServerMeta) string {
	switch {
	case c.cfg.TokenEndpointAuthMethod != "":
		return c.cfg.TokenEndpointAuthMethod
	case c.cfg.PrivateKey != nil:
		return AuthPrivateKeyJWT
	case c.cfg.ClientSecret == "":
		return AuthNone
	case !slices.Contains(as.TokenEndpointAuthMethodsSupported, AuthClientSecretBasic) &&
		slices.Contains(as.TokenEndpointAuthMethodsSupported, AuthClientSecretPost):
		return AuthClientSecretPost
	default:
		return AuthClientSecretBasic
	}
}

// checkClientMetadataURL checks a Client ID Metadata Document URL: https with a path
// (draft-ietf-oauth-client-id-metadata-document §3).
func checkClientMetadataURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path == "" || u.Path == "/" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("client metadata URL %q must be an https URL with a path and no fragment", raw)
	}
	return nil
}
