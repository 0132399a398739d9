// Authorization server metadata discovery (RFC 8414 §3, OpenID Connect Discovery 1.0 §4;
// MCP authorization specification, "Authorization Server Metadata Discovery").

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// authServerMeta is authorization server metadata (RFC 8414 §2) with the device
// authorization endpoint (RFC 8628 §4).
type authServerMeta struct {
	oauthex.AuthServerMeta
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
}

// authServerMetadataURLs lists the metadata URLs of an issuer in the specification's order:
// for an issuer with a path, OAuth path insertion, OpenID Connect path insertion, then
// OpenID Connect path appending; for one without, the two root documents.
func authServerMetadataURLs(rule endpointRule, issuer string) ([]string, error) {
	u, err := rule.checkString(issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer %q: %w", sanitize(issuer), err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer %q has a query or fragment (RFC 8414 §2)", sanitize(issuer))
	}
	origin := u.Scheme + "://" + u.Host
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if p == "" {
		return []string{
			origin + "/.well-known/oauth-authorization-server",
			origin + "/.well-known/openid-configuration",
		}, nil
	}
	return []string{
		origin + "/.well-known/oauth-authorization-server" + p,
		origin + "/.well-known/openid-configuration" + p,
		origin + p + "/.well-known/openid-configuration",
	}, nil
}

// fetchAuthServerMetadata returns the first metadata document of issuer found, or an error
// wrapping errNoDocument when there is none. legacy is the 2025-03-26 fallback, where issuer
// is only the MCP server's origin: the document's issuer must then be on that origin.
func (c *Client) fetchAuthServerMetadata(ctx context.Context, issuer string, legacy bool) (*authServerMeta, error) {
	urls, err := authServerMetadataURLs(c.rule, issuer)
	if err != nil {
		return nil, &MetadataError{URL: issuer, Reason: err.Error()}
	}
	lastErr := errNoDocument
	for _, u := range urls {
		body, err := c.fetchJSON(ctx, u)
		if errors.Is(err, errNoDocument) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		return decodeAuthServerMetadata(c.rule, body, issuer, u, legacy)
	}
	return nil, lastErr
}

// decodeAuthServerMetadata parses and validates a metadata document fetched for issuer (for
// legacy, an origin: see fetchAuthServerMetadata).
func decodeAuthServerMetadata(rule endpointRule, body []byte, issuer, from string, legacy bool) (*authServerMeta, error) {
	var as authServerMeta
	if err := json.Unmarshal(body, &as); err != nil {
		return nil, &MetadataError{URL: from, Reason: fmt.Sprintf("invalid authorization server metadata: %v", err)}
	}
	if legacy && sameOrigin(as.Issuer, issuer) {
		issuer = as.Issuer
	}
	if as.Issuer != issuer {
		return nil, &IssuerMismatchError{Expected: issuer, Got: sanitize(as.Issuer), Where: "metadata " + from}
	}
	if as.TokenEndpoint == "" {
		return nil, &MetadataError{URL: from, Reason: "token_endpoint missing"}
	}
	for name, v := range map[string]string{
		"authorization_endpoint":        as.AuthorizationEndpoint,
		"token_endpoint":                as.TokenEndpoint,
		"registration_endpoint":         as.RegistrationEndpoint,
		"device_authorization_endpoint": as.DeviceAuthorizationEndpoint,
	} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err == nil {
			err = rule.check(u)
		}
		if err != nil {
			return nil, &MetadataError{URL: from, Reason: fmt.Sprintf("%s %q: %v", name, sanitize(v), err)}
		}
	}
	return &as, nil
}

// sameOrigin reports whether the URL a is on the origin o (scheme://host[:port]).
func sameOrigin(a, o string) bool {
	u, err := url.Parse(a)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Scheme+"://"+u.Host, o)
}
