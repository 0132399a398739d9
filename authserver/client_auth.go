// Client authentication at the token, revocation and introspection endpoints: RFC 6749 §2.3.1
// (client_secret_basic, client_secret_post) and "none" for public clients (RFC 7591 §2), which
// identify themselves with client_id and are held to PKCE.
package authserver

import (
	"errors"
	"net/http"
	"net/url"
)

// basicCredentials are the client credentials of an Authorization: Basic header.
type basicCredentials struct {
	id, secret string
	present    bool // the request has Basic credentials
	malformed  bool // the id or the secret is not form-urlencoded (id is then as sent, if it is)
}

// parseBasicCredentials reads the Basic credentials of r (RFC 6749 §2.3.1: the id and the
// secret are each application/x-www-form-urlencoded before the Basic encoding).
func parseBasicCredentials(r *http.Request) basicCredentials {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return basicCredentials{}
	}
	c := basicCredentials{id: id, present: true}
	var err error
	if c.id, err = url.QueryUnescape(id); err != nil {
		c.id, c.malformed = id, true
	}
	if c.secret, err = url.QueryUnescape(secret); err != nil {
		c.secret, c.malformed = "", true
	}
	return c
}

// requestBasicCredentials returns the Basic credentials of r, parsed once per request: when
// guardClientAuth guards the endpoint, its watch on w carries those it parsed.
func requestBasicCredentials(w http.ResponseWriter, r *http.Request) basicCredentials {
	if watch, ok := w.(*authFailureWatch); ok {
		return watch.basic
	}
	return parseBasicCredentials(r)
}

// authenticateClient identifies and authenticates the client of a token-endpoint style request
// whose form has been parsed, with its Basic credentials (basic). A public client is
// identified by client_id alone; a confidential one must present its secret in the
// Authorization header or the form.
func (s *Server) authenticateClient(r *http.Request, basic basicCredentials) (*client, *oauthError) {
	if r.PostForm.Has("client_assertion_type") || r.PostForm.Has("client_assertion") {
		return s.authenticateAssertion(r, basic.present)
	}
	id, secret := basic.id, basic.secret
	if basic.present {
		if basic.malformed {
			return nil, newError(errInvalidClient, "malformed Basic credentials")
		}
		if r.PostForm.Has("client_secret") {
			return nil, newError(errInvalidRequest, "use one client authentication method, not two")
		}
		if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
			return nil, newError(errInvalidClient, "client_id differs from the authenticated client")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, newError(errInvalidClient, "client authentication is required (client_id missing)")
	}
	c, e := s.authClient(r, id)
	if e != nil {
		return nil, e
	}
	if c.meta.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT {
		return nil, newError(errInvalidClient, "this client authenticates with private_key_jwt")
	}
	if c.public() {
		if secret != "" || basic.present {
			return nil, newError(errInvalidClient, "this client is registered as public (token_endpoint_auth_method none) and must not send a secret")
		}
		return c, nil
	}
	if c.stored == nil || !s.secrets.equal(kindClientSecret, secret, c.stored.SecretHash) {
		s.audit(r.Context(), "client_auth.failed", "client_id", c.id, "reason", "bad secret")
		return nil, newError(errInvalidClient, "client authentication failed")
	}
	if exp := c.stored.SecretExpiresAt; !exp.IsZero() && !exp.After(s.now()) {
		return nil, newError(errInvalidClient, "the client secret has expired")
	}
	return c, nil
}

// logID shortens a client-supplied identifier for a log record.
func logID(id string) string {
	if len(id) > 200 {
		return id[:200] + "…"
	}
	return id
}

// clientRequest reads the form of a POST to the token, revocation or introspection endpoint and
// authenticates its client; on failure it has written the error response and returns nil.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) *client {
	if e := readForm(w, r); e != nil {
		writeError(w, r, e)
		return nil
	}
	c, e := s.authenticateClient(r, requestBasicCredentials(w, r))
	if e != nil {
		writeError(w, r, e)
		return nil
	}
	return c
}

// authClient looks up the client being authenticated.
func (s *Server) authClient(r *http.Request, id string) (*client, *oauthError) {
	c, err := s.lookupClient(r.Context(), id)
	if err != nil {
		if errors.Is(err, errUnknownClient) {
			s.audit(r.Context(), "client_auth.failed", "client_id", logID(id), "reason", "unknown client")
			return nil, newError(errInvalidClient, "unknown client")
		}
		s.log.ErrorContext(r.Context(), "authserver: look up client", "err", err)
		return nil, newError(errServerError, "internal error")
	}
	return c, nil
}

// authenticateAssertion authenticates a client with a JWT assertion (private_key_jwt); basic
// tells whether the request also has Basic credentials.
func (s *Server) authenticateAssertion(r *http.Request, basic bool) (*client, *oauthError) {
	if basic || r.PostForm.Has("client_secret") {
		return nil, newError(errInvalidRequest, "use one client authentication method, not two")
	}
	if r.PostForm.Get("client_assertion_type") != clientAssertionType {
		return nil, newError(errInvalidClient, "client_assertion_type must be "+clientAssertionType)
	}
	assertion := r.PostForm.Get("client_assertion")
	id, ok := assertionClientID(assertion)
	if !ok {
		return nil, newError(errInvalidClient, "client_assertion is not a JWT with a sub")
	}
	if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
		return nil, newError(errInvalidClient, "client_id differs from the client assertion's sub")
	}
	c, e := s.authClient(r, id)
	if e != nil {
		return nil, e
	}
	if c.meta.TokenEndpointAuthMethod != AuthMethodPrivateKeyJWT {
		return nil, newError(errInvalidClient, "this client is not registered for private_key_jwt")
	}
	if e := s.verifyClientAssertion(r, c, assertion); e != nil {
		s.audit(r.Context(), "client_auth.failed", "client_id", c.id, "reason", e.Description)
		return nil, e
	}
	return c, nil
}
