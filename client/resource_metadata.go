// OAuth 2.0 Protected Resource Metadata discovery (RFC 9728 §3; MCP authorization
// specification, "Protected Resource Metadata Discovery Requirements").

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const prmWellKnown = "/.well-known/oauth-protected-resource"

// resourceMetadataURLs lists where to look for the server's protected resource metadata:
// the challenge's resource_metadata URL, else the path-aware well-known URL, else the root
// one (RFC 9728 §3.1) — never the root first.
func (c *Client) resourceMetadataURLs(fromChallenge string) []string {
	var urls []string
	if fromChallenge != "" {
		urls = append(urls, fromChallenge)
	}
	if p := strings.TrimSuffix(c.server.u.EscapedPath(), "/"); p != "" {
		urls = append(urls, c.server.origin()+prmWellKnown+p)
	}
	return append(urls, c.server.origin()+prmWellKnown)
}

// fetchResourceMetadata returns the first protected resource metadata found, checked
// against the server URL, or an error wrapping errNoDocument when there is none.
func (c *Client) fetchResourceMetadata(ctx context.Context, fromChallenge string) (*oauthex.ProtectedResourceMetadata, string, error) {
	lastErr := errNoDocument
	for _, u := range c.resourceMetadataURLs(fromChallenge) {
		body, err := c.fetchJSON(ctx, u)
		if errors.Is(err, errNoDocument) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, "", err
		}
		prm, err := decodeResourceMetadata(c.rule, body)
		if err != nil {
			return nil, "", &MetadataError{URL: u, Reason: err.Error()}
		}
		if !c.server.covers(prm.Resource) {
			return nil, "", &ResourceMismatchError{Expected: c.server.String(), Got: sanitize(prm.Resource)}
		}
		return prm, u, nil
	}
	return nil, "", lastErr
}

// decodeResourceMetadata parses and validates a protected resource metadata document.
func decodeResourceMetadata(rule endpointRule, body []byte) (*oauthex.ProtectedResourceMetadata, error) {
	var prm oauthex.ProtectedResourceMetadata
	if err := json.Unmarshal(body, &prm); err != nil {
		return nil, fmt.Errorf("invalid protected resource metadata: %v", err)
	}
	if prm.Resource == "" {
		return nil, errors.New("protected resource metadata has no resource")
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, errors.New("protected resource metadata lists no authorization_servers")
	}
	for _, as := range prm.AuthorizationServers {
		if _, err := rule.checkString(as); err != nil {
			return nil, fmt.Errorf("authorization server %q: %v", sanitize(as), err)
		}
	}
	return &prm, nil
}
