// Discovery of the authorization server of an MCP server (MCP authorization specification,
// "Authorization Server Discovery"): protected resource metadata, then authorization server
// metadata, with the 2025-03-26 fallback for servers without the former.

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// maxMetadataBytes caps the size of a metadata document or an OAuth JSON response.
const maxMetadataBytes = 1 << 20

// discovery is the outcome of discovery.
type discovery struct {
	prm      *oauthex.ProtectedResourceMetadata // nil for a 2025-03-26 server
	prmURL   string
	resource string // the resource parameter of authorization and token requests
	as       *authServerMeta
}

// errNoDocument is a metadata URL answering 4xx: try the next candidate.
var errNoDocument = errors.New("no document")

// failureMemory is how long a failed discovery is remembered: the requests of one Connect
// (server/discover, then initialize) must not repeat it.
const failureMemory = 30 * time.Second

// discoveryFailure is a remembered failed discovery.
type discoveryFailure struct {
	metadataURL string
	err         error
	at          time.Time
}

// discoverLocked runs discovery once per Client, or again when a challenge names another
// metadata URL. A failure is remembered for failureMemory.
func (c *Client) discoverLocked(ctx context.Context, metadataURL string) (*discovery, error) {
	if d := c.state.disc; d != nil && (metadataURL == "" || metadataURL == d.prmURL) {
		return d, nil
	}
	if f := c.state.discFailure; f != nil && f.metadataURL == metadataURL && c.now().Sub(f.at) < failureMemory {
		return nil, f.err
	}
	d, err := c.discover(ctx, metadataURL)
	if err != nil {
		if ctx.Err() == nil {
			c.state.discFailure = &discoveryFailure{metadataURL: metadataURL, err: err, at: c.now()}
		}
		return nil, err
	}
	c.state.disc, c.state.discFailure = d, nil
	return d, nil
}

func (c *Client) discover(ctx context.Context, metadataURL string) (*discovery, error) {
	d := &discovery{resource: c.server.String()}
	prm, prmURL, err := c.fetchResourceMetadata(ctx, metadataURL)
	switch {
	case err == nil:
		d.prm, d.prmURL = prm, prmURL
		d.resource = prm.Resource
		issuer := prm.AuthorizationServers[0]
		if c.cfg.Issuer != "" {
			if !slices.Contains(prm.AuthorizationServers, c.cfg.Issuer) {
				return nil, &IssuerMismatchError{Expected: c.cfg.Issuer, Got: sanitize(issuer), Where: "protected resource metadata (the configured issuer)"}
			}
			issuer = c.cfg.Issuer
		}
		as, err := c.fetchAuthServerMetadata(ctx, issuer, false)
		if errors.Is(err, errNoDocument) {
			return nil, &MetadataError{URL: issuer, Reason: "no authorization server metadata found (RFC 8414 or OpenID Connect Discovery)"}
		}
		if err != nil {
			return nil, err
		}
		d.as = as
	case errors.Is(err, errNoDocument):
		// 2025-03-26: the MCP server's origin is the authorization server.
		c.log.Debug("mcpauth: no protected resource metadata; using the server origin as authorization server")
		as, err := c.fetchAuthServerMetadata(ctx, c.server.origin(), true)
		if errors.Is(err, errNoDocument) {
			as = defaultEndpoints(c.server.origin())
		} else if err != nil {
			return nil, err
		}
		d.as = as
	default:
		return nil, err
	}
	if c.cfg.Issuer != "" && d.as.Issuer != c.cfg.Issuer {
		return nil, &IssuerMismatchError{Expected: c.cfg.Issuer, Got: sanitize(d.as.Issuer), Where: "discovery (the configured issuer)"}
	}
	if c.cfg.GrantType == AuthorizationCode && !slices.Contains(d.as.CodeChallengeMethodsSupported, "S256") {
		return nil, &PKCEUnsupportedError{Issuer: d.as.Issuer, Methods: d.as.CodeChallengeMethodsSupported}
	}
	if c.cfg.Resource != "" {
		d.resource = c.cfg.Resource
	}
	c.log.Debug("mcpauth: discovered", "resource", d.resource, "issuer", d.as.Issuer)
	return d, nil
}

// defaultEndpoints are the 2025-03-26 default endpoints of an authorization server without
// metadata. PKCE S256 is mandatory for it, so it is assumed.
func defaultEndpoints(origin string) *authServerMeta {
	return &authServerMeta{AuthServerMeta: oauthex.AuthServerMeta{
		Issuer:                        origin,
		AuthorizationEndpoint:         origin + "/authorize",
		TokenEndpoint:                 origin + "/token",
		RegistrationEndpoint:          origin + "/register",
		CodeChallengeMethodsSupported: []string{"S256"},
	}}
}

// fetchJSON GETs a JSON document through the configured HTTP client. A 4xx answer is
// errNoDocument; the body is capped at maxMetadataBytes.
func (c *Client) fetchJSON(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := c.rule.checkString(rawURL)
	if err != nil {
		return nil, &MetadataError{URL: rawURL, Reason: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &MetadataError{URL: rawURL, Reason: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.base.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil, fmt.Errorf("%s: HTTP %d: %w", rawURL, resp.StatusCode, errNoDocument)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &MetadataError{URL: rawURL, Reason: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	if err := checkJSONContentType(resp.Header.Get("Content-Type")); err != nil {
		return nil, &MetadataError{URL: rawURL, Reason: err.Error()}
	}
	body, err := readCapped(resp.Body)
	if err != nil {
		return nil, &MetadataError{URL: rawURL, Reason: err.Error()}
	}
	return body, nil
}

// readCapped reads at most maxMetadataBytes, failing on a longer body.
func readCapped(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxMetadataBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxMetadataBytes {
		return nil, fmt.Errorf("body larger than %d bytes", maxMetadataBytes)
	}
	return body, nil
}

// checkJSONContentType accepts application/json and application/*+json.
func checkJSONContentType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q is not JSON", sanitize(ct))
	}
	if mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") {
		return nil
	}
	return fmt.Errorf("content type %q is not JSON", sanitize(mt))
}
