// Authorization server metadata: RFC 8414 §2 (also served as OpenID Connect Discovery 1.0 §3),
// with the MCP authorization spec's fields: code_challenge_methods_supported (S256),
// client_id_metadata_document_supported and RFC 9207's authorization_response_iss_parameter_supported.
package authserver

import (
	"net/http"
)

// Metadata is the authorization server metadata document.
type Metadata struct {
	Issuer                               string   `json:"issuer"`
	AuthorizationEndpoint                string   `json:"authorization_endpoint"`
	TokenEndpoint                        string   `json:"token_endpoint"`
	JWKSURI                              string   `json:"jwks_uri"`
	RegistrationEndpoint                 string   `json:"registration_endpoint,omitempty"`
	DeviceAuthorizationEndpoint          string   `json:"device_authorization_endpoint,omitempty"`
	ScopesSupported                      []string `json:"scopes_supported"`
	ResponseTypesSupported               []string `json:"response_types_supported"`
	ResponseModesSupported               []string `json:"response_modes_supported"`
	GrantTypesSupported                  []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported    []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpoint                   string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethods        []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethods     []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported        []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSParameter    bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported    bool     `json:"client_id_metadata_document_supported"`
	SubjectTypesSupported                []string `json:"subject_types_supported"`
	AccessTokenSigningAlgValuesSupported []string `json:"access_token_signing_alg_values_supported,omitempty"`
	ResourceIndicatorsSupported          bool     `json:"resource_indicators_supported"`
	ServiceDocumentation                 string   `json:"service_documentation,omitempty"`
}

// Metadata returns the server's metadata document.
func (s *Server) Metadata() *Metadata {
	m := &Metadata{
		Issuer:                            s.cfg.Issuer,
		AuthorizationEndpoint:             s.endpoint(pathAuthorize),
		TokenEndpoint:                     s.endpoint(pathToken),
		JWKSURI:                           s.endpoint(pathJWKS),
		ScopesSupported:                   s.allScopes(),
		ResponseTypesSupported:            []string{ResponseTypeCode},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT, AuthMethodNone},
		TokenEndpointAuthSigningAlgs:      algNames(assertionAlgs),
		RevocationEndpoint:                s.endpoint(pathRevoke),
		RevocationEndpointAuthMethods:     []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT, AuthMethodNone},
		IntrospectionEndpoint:             s.endpoint(pathIntrospect),
		IntrospectionEndpointAuthMethods:  []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		CodeChallengeMethodsSupported:     []string{pkceS256},
		AuthorizationResponseISSParameter: true,
		ClientIDMetadataDocumentSupported: s.cimd != nil,
		// OpenID Connect Discovery requires these; this server issues no ID tokens.
		SubjectTypesSupported:                []string{"public"},
		AccessTokenSigningAlgValuesSupported: []string{"ES256"},
		ResourceIndicatorsSupported:          true,
	}
	if m.ScopesSupported == nil {
		m.ScopesSupported = []string{}
	}
	if s.cfg.RegistrationPolicy != RegistrationClosed {
		m.RegistrationEndpoint = s.endpoint(pathRegister)
	}
	s.deviceMetadata(m) // RFC 8628 device grant: device.go (cli)
	return m
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, s.Metadata())
}
