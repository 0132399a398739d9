// Authorization server metadata discovery (RFC 8414 §3, OpenID Connect Discovery 1.0 §4).

package protect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxMetadataBytes bounds metadata and JWKS documents read from the network.
const maxMetadataBytes = 1 << 20

// asMetadata holds the fields of the authorization server metadata the
// verifiers use.
type asMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// metadataURLs returns the well-known URLs to try for issuer, in the order of
// the MCP authorization spec: RFC 8414 path insertion, then OpenID Connect
// path insertion, then OpenID Connect path appending.
func metadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("protect: issuer %q is not an absolute URL without query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	urls := []string{origin + "/.well-known/oauth-authorization-server" + path,
		origin + "/.well-known/openid-configuration" + path}
	if path != "" {
		urls = append(urls, origin+path+"/.well-known/openid-configuration")
	}
	return urls, nil
}

// discoverAS fetches the metadata of issuer and checks that it names the same
// issuer (RFC 8414 §3.3), so that a look-alike server cannot hand out keys.
func discoverAS(ctx context.Context, c *http.Client, issuer string) (*asMetadata, error) {
	urls, err := metadataURLs(issuer)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, u := range urls {
		var md asMetadata
		status, err := getJSON(ctx, c, u, &md)
		if err != nil {
			lastErr = err
			continue
		}
		if status == http.StatusNotFound {
			lastErr = fmt.Errorf("%w: no metadata at %s", ErrVerifierUnavailable, u)
			continue
		}
		if md.Issuer != issuer {
			return nil, fmt.Errorf("%w: metadata at %s names issuer %q, want %q", ErrVerifierUnavailable, u, md.Issuer, issuer)
		}
		return &md, nil
	}
	return nil, lastErr
}

// getJSON GETs u into v. A 404 is returned as a status without error so that
// discovery can try the next URL; other non-200 answers are errors.
func getJSON(ctx context.Context, c *http.Client, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrVerifierUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: GET %s: %v", ErrVerifierUnavailable, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return resp.StatusCode, nil
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%w: GET %s: HTTP %d", ErrVerifierUnavailable, u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%w: GET %s: %v", ErrVerifierUnavailable, u, err)
	}
	if len(body) > maxMetadataBytes {
		return resp.StatusCode, fmt.Errorf("%w: GET %s: document larger than %d bytes", ErrVerifierUnavailable, u, maxMetadataBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("%w: GET %s: %v", ErrVerifierUnavailable, u, err)
	}
	return resp.StatusCode, nil
}
