// OAuth 2.0 Protected Resource Metadata (RFC 9728 §2, §3) for the MCP endpoint.

package protect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// wellKnownPRM is the well-known URI suffix of RFC 9728 §3.
const wellKnownPRM = "/.well-known/oauth-protected-resource"

// MetadataURLs returns the path-aware metadata URL of resource (RFC 9728
// §3.1: the well-known suffix inserted between host and path) and the root
// metadata URL. For a resource without a path both are the same.
func MetadataURLs(resource string) (pathAware, root string, err error) {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("protect: resource %q must be an absolute http(s) URL without query or fragment", resource)
	}
	origin := u.Scheme + "://" + u.Host
	return origin + wellKnownPRM + strings.TrimSuffix(u.EscapedPath(), "/"), origin + wellKnownPRM, nil
}

// Metadata returns the Protected Resource Metadata document of p.
func (p *Protector) Metadata() *oauthex.ProtectedResourceMetadata {
	return &oauthex.ProtectedResourceMetadata{
		Resource:               p.cfg.Resource,
		AuthorizationServers:   p.cfg.AuthorizationServers,
		ScopesSupported:        p.cfg.ScopesSupported,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           p.cfg.ResourceName,
		ResourceDocumentation:  p.cfg.ResourceDocumentation,
	}
}

// MetadataHandler serves the metadata document for GET and HEAD, with CORS
// headers so that browser-based clients can discover it (RFC 9728 §3.1
// requires only GET; metadata is public, so any origin may read it).
func (p *Protector) MetadataHandler() http.Handler {
	doc, _ := json.Marshal(p.Metadata())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, MCP-Protocol-Version")
		switch r.Method {
		case http.MethodOptions:
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet, http.MethodHead:
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "public, max-age=3600")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				_, _ = w.Write(doc)
			}
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
