// The JSON Web Key Set of the token signing keys (RFC 7517 §5), at the metadata's jwks_uri.
package authserver

import (
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// handleJWKS publishes the public half of every key that signed or may sign a live token.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	keys, err := s.keys.published(r.Context())
	if err != nil {
		s.serverError(w, r, "load signing keys", err)
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.id, Algorithm: string(jose.ES256), Use: "sig"})
	}
	// Short caching: a rotated-in key must reach resource servers soon (they also refetch on an
	// unknown kid).
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}
