// OAuth 2.0 Dynamic Client Registration (RFC 7591 §3) of a native MCP client.

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// register registers this client with the authorization server: a native application
// with a loopback redirect URI, the authorization code and refresh token grants (the device
// code grant instead for DeviceCode), and the token endpoint authentication "none" unless the
// server does not support it.
func (c *Client) register(ctx context.Context, as *authServerMeta, redirectURI string) (*Registration, error) {
	ep, err := c.rule.checkString(as.RegistrationEndpoint)
	if err != nil {
		return nil, &MetadataError{URL: as.Issuer, Reason: "registration_endpoint: " + err.Error()}
	}
	meta := oauthex.ClientRegistrationMetadata{
		RedirectURIs:            []string{redirectURI},
		ClientName:              c.cfg.ClientName,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ApplicationType:         "native",
		TokenEndpointAuthMethod: dcrAuthMethod(as.TokenEndpointAuthMethodsSupported),
	}
	if c.cfg.GrantType == DeviceCode {
		// RFC 8628 §3.4: the device grant never redirects. A redirect URI given anyway (for
		// servers that demand one) keeps the code grant, so that the metadata is coherent.
		meta.GrantTypes = []string{string(DeviceCode), "refresh_token"}
		if redirectURI == "" {
			meta.RedirectURIs, meta.ResponseTypes = []string{}, nil
		} else {
			meta.GrantTypes = append(meta.GrantTypes, "authorization_code")
		}
	}
	body, err := json.Marshal(&meta)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.post.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client registration: %w", err)
	}
	defer resp.Body.Close()
	reg, err := decodeRegistration(resp.StatusCode, resp.Body)
	if err != nil {
		return nil, err
	}
	if reg.AuthMethod == "" {
		reg.AuthMethod = meta.TokenEndpointAuthMethod
	}
	c.log.Info("mcpauth: registered a client", "issuer", as.Issuer, "client_id", reg.ClientID)
	return reg, nil
}

// decodeRegistration reads a registration response: the client information (RFC 7591
// §3.2.1) or an error (§3.2.2).
func decodeRegistration(status int, r io.Reader) (*Registration, error) {
	body, err := readCapped(r)
	if err != nil {
		return nil, &RegistrationError{StatusCode: status, Code: "invalid_response", Description: err.Error()}
	}
	if status != http.StatusCreated && status != http.StatusOK {
		var eb oauthErrorBody
		json.Unmarshal(body, &eb) // a body that is not an OAuth error leaves Code empty
		return nil, &RegistrationError{StatusCode: status, Code: eb.Code, Description: eb.Description}
	}
	// go-sdk v1.8.0's ClientRegistrationResponse.UnmarshalJSON dereferences nil on a JSON
	// null (found by FuzzDecodeRegistration): only an object is given to it.
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return nil, &RegistrationError{StatusCode: status, Code: "invalid_response", Description: "registration response is not a JSON object"}
	}
	var cr oauthex.ClientRegistrationResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, &RegistrationError{StatusCode: status, Code: "invalid_response", Description: "registration response is not valid: " + err.Error()}
	}
	if cr.ClientID == "" {
		return nil, &RegistrationError{StatusCode: status, Code: "invalid_response", Description: "registration response has no client_id"}
	}
	return &Registration{
		ClientID:        cr.ClientID,
		ClientSecret:    cr.ClientSecret,
		SecretExpiresAt: cr.ClientSecretExpiresAt,
		AuthMethod:      cr.TokenEndpointAuthMethod,
		Dynamic:         true,
	}, nil
}

// dcrAuthMethod prefers "none" (a native client keeps no secret), then the secret methods.
func dcrAuthMethod(supported []string) string {
	if len(supported) == 0 || slices.Contains(supported, AuthNone) {
		return AuthNone
	}
	for _, m := range []string{AuthClientSecretBasic, AuthClientSecretPost} {
		if slices.Contains(supported, m) {
			return m
		}
	}
	return AuthNone
}
