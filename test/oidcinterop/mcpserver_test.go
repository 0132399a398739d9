package oidcinterop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/protect"
)

// mcpScope is the scope the MCP server requires (provider.mjs grants it for
// the resource).
const mcpScope = "mcp:tools"

// mcpServer is a go-sdk MCP server behind mcpauth's protect middleware,
// which accepts only RFC 9068 JWT access tokens of the provider for this
// resource (signature by the provider's JWKS, typ at+jwt, iss, aud, exp).
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
	jwtVerifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: s.url})
	if err != nil {
		t.Fatal(err)
	}
	// Record each distinct token the server accepts.
	verifier := protect.VerifierFunc(func(ctx context.Context, token string) (*protect.TokenInfo, error) {
		info, err := jwtVerifier.Verify(ctx, token)
		if err == nil {
			s.mu.Lock()
			if !s.seen[token] {
				s.seen[token] = true
				s.subjects = append(s.subjects, info.Subject)
			}
			s.mu.Unlock()
		}
		return info, err
	})
	p, err := protect.New(protect.Config{
		Resource:             s.url,
		AuthorizationServers: []string{issuer},
		Verifier:             verifier,
		ScopesSupported:      []string{mcpScope},
		Logger:               slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "oidc-interop", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Returns the token's subject and client"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			info := protect.TokenInfoFromSDK(req.Extra.TokenInfo)
			if info == nil {
				return nil, nil, errors.New("no token info")
			}
			text := fmt.Sprintf("subject=%s client=%s", info.Subject, info.ClientID)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	mux := http.NewServeMux()
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
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
