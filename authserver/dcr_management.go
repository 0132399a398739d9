// Dynamic client registration management: RFC 7592 read (§2.1), update (§2.2) and delete (§2.3)
// at the registration_client_uri, authorized by the registration access token.
package authserver

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// managedClient authenticates an RFC 7592 request: the client at {id} must exist, be
// self-registered, and the bearer token must be its registration access token. Anything else is
// 401, so that the response does not reveal whether a client exists (§2.1).
func (s *Server) managedClient(w http.ResponseWriter, r *http.Request) *client {
	tok, ok := bearerToken(r)
	var c *client
	if ok {
		sc, err := s.store.GetClient(r.Context(), r.PathValue("id"))
		switch {
		case err == nil && s.secrets.equal(kindRegToken, tok, sc.RegistrationTokenHash):
			if c, err = clientFromStore(sc); err != nil {
				s.serverError(w, r, "load client", err)
				return nil
			}
			return c
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.serverError(w, r, "load client", err)
			return nil
		}
	}
	s.audit(r.Context(), "registration_management.refused", "client_id", logID(r.PathValue("id")), "remote", s.clientAddr(r))
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, newError(errInvalidToken, "a valid registration access token for this client is required"))
	return nil
}

// clientResponse is the RFC 7592 §3 response for a stored client (no secret: only its hash is
// kept).
func (s *Server) clientResponse(c *client) *registrationResponse {
	resp := &registrationResponse{
		ClientMetadata: c.meta, ClientID: c.id, ClientIDIssuedAt: c.stored.CreatedAt.Unix(),
		RegistrationClientURI: s.endpoint(pathRegister + "/" + c.id),
	}
	if c.stored.SecretHash != "" {
		exp := int64(0)
		if !c.stored.SecretExpiresAt.IsZero() {
			exp = c.stored.SecretExpiresAt.Unix()
		}
		resp.ClientSecretExpiresAt = &exp
	}
	return resp
}

func (s *Server) handleClientRead(w http.ResponseWriter, r *http.Request) {
	if c := s.managedClient(w, r); c != nil {
		writeJSON(w, http.StatusOK, s.clientResponse(c))
	}
}

func (s *Server) handleClientUpdate(w http.ResponseWriter, r *http.Request) {
	c := s.managedClient(w, r)
	if c == nil {
		return
	}
	meta, err := DecodeRegistrationRequest(http.MaxBytesReader(w, r.Body, MaxRegistrationRequestBytes+1), r.Header.Get("Content-Type"))
	if err != nil {
		s.registrationError(w, r, err)
		return
	}
	// RFC 7592 §2.2: the request carries client_id, which must be the client's.
	if meta.ClientID != c.id {
		s.registrationError(w, r, metadataError("client_id must be the ID of the client being updated"))
		return
	}
	meta.ClientID = ""
	if err := validateRegistration(meta); err != nil {
		s.registrationError(w, r, err)
		return
	}
	if authKind(meta.TokenEndpointAuthMethod) != authKind(c.meta.TokenEndpointAuthMethod) {
		s.registrationError(w, r, metadataError("a client cannot switch between public, secret and key authentication; register a new client"))
		return
	}
	if c.stored.Metadata, err = json.Marshal(meta); err != nil {
		s.serverError(w, r, "encode client metadata", err)
		return
	}
	if err := s.store.UpdateClient(r.Context(), c.stored); err != nil {
		s.serverError(w, r, "update client", err)
		return
	}
	c.meta = meta
	s.audit(r.Context(), "client.updated", "client_id", c.id, "redirect_uris", meta.RedirectURIs)
	writeJSON(w, http.StatusOK, s.clientResponse(c))
}

func (s *Server) handleClientDelete(w http.ResponseWriter, r *http.Request) {
	c := s.managedClient(w, r)
	if c == nil {
		return
	}
	if err := s.store.DeleteClient(r.Context(), c.id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(w, r, "delete client", err)
		return
	}
	s.audit(r.Context(), "client.deleted", "client_id", c.id)
	w.WriteHeader(http.StatusNoContent)
}

// authKind groups token endpoint auth methods by the credential they need.
func authKind(method string) string {
	switch method {
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		return "secret"
	}
	return method
}
