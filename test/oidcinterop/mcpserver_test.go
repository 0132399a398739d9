package oidcinterop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// mcpScope is the scope the MCP server requires (provider.mjs grants it for
// the resource).
const mcpScope = "mcp:tools"

// mcpServer is a go-sdk MCP server behind a bearer check that accepts only
// RFC 9068 JWT access tokens of the provider for this resource.
type mcpServer struct {
	url      string // the MCP endpoint, which is also the resource
	listener net.Listener

	mu       sync.Mutex
	subjects []string // sub of every accepted token, in order
	seen     map[string]bool
}

// listenMCP reserves the server's address, so that its URL (the resource) is
// known before the provider starts; serve starts it once the issuer is known.
func listenMCP(t *testing.T) *mcpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &mcpServer{url: "http://" + l.Addr().String() + "/mcp", listener: l, seen: map[string]bool{}}
}

func (s *mcpServer) serve(t *testing.T, issuer string) {
	t.Helper()
	v := &jwtVerifier{issuer: issuer, audience: s.url}
	server := mcp.NewServer(&mcp.Implementation{Name: "oidc-interop", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Returns the token's subject"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			info := req.Extra.TokenInfo
			if info == nil {
				return nil, nil, errors.New("no token info")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "subject=" + info.UserID}}}, nil, nil
		})
	prmURL := strings.Replace(s.url, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               s.url,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        []string{mcpScope},
		BearerMethodsSupported: []string{"header"},
	}))
	verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		info, err := v.verify(ctx, token)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if !s.seen[token] {
			s.seen[token] = true
			s.subjects = append(s.subjects, info.UserID)
		}
		s.mu.Unlock()
		return info, nil
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux.Handle("/mcp", auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: prmURL,
		Scopes:              []string{mcpScope},
	})(handler))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(s.listener) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// distinctTokens is how many different access tokens the server accepted.
func (s *mcpServer) distinctTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subjects)
}

// jwtVerifier checks RFC 9068 access tokens: an ES256 signature by a key of
// the issuer's JWKS, typ at+jwt, iss, aud containing the resource, exp.
type jwtVerifier struct {
	issuer, audience string

	mu   sync.Mutex
	jwks *jose.JSONWebKeySet
}

func (v *jwtVerifier) keys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.jwks != nil {
		return v.jwks, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.issuer+"/jwks", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	v.jwks = &set
	return v.jwks, nil
}

func (v *jwtVerifier) verify(ctx context.Context, token string) (*auth.TokenInfo, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWT", auth.ErrInvalidToken)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", auth.ErrInvalidToken, typ)
	}
	set, err := v.keys(ctx)
	if err != nil {
		return nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("%w: unknown key", auth.ErrInvalidToken)
	}
	var std jwt.Claims
	var extra struct {
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
	}
	if err := tok.Claims(keys[0].Key, &std, &extra); err != nil {
		return nil, fmt.Errorf("%w: bad signature", auth.ErrInvalidToken)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{v.audience}, Time: time.Now()}, 5*time.Second); err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	scopes := strings.Fields(extra.Scope)
	slices.Sort(scopes)
	return &auth.TokenInfo{
		Scopes:     scopes,
		Expiration: std.Expiry.Time(),
		UserID:     std.Subject,
		Extra:      map[string]any{"client_id": extra.ClientID},
	}, nil
}
