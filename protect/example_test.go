package protect_test

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/mcpauth/mcpauth/protect"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protect a go-sdk MCP server with tokens from any standards-compliant
// authorization server: JWT access tokens checked against its JWKS, one
// scope per tool, and per-user limits.
func Example() {
	const resource = "https://mcp.example.com/mcp"
	const issuer = "https://auth.example.com"
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: resource})
	if err != nil {
		log.Fatal(err)
	}
	p, err := protect.New(protect.Config{
		Resource:             resource,
		AuthorizationServers: []string{issuer},
		Verifier:             verifier,
		ResourceName:         "Example MCP server",
		ScopesSupported:      []string{"notes:read", "notes:write"},
		ChallengeScopes:      []string{"notes:read"},
		ToolScopes:           protect.ToolScopes{"read_note": {"notes:read"}, "write_note": {"notes:write"}},
		RateLimits:           &protect.RateLimits{PerUser: protect.Limit{Requests: 120, Window: time.Minute}},
	})
	if err != nil {
		log.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1.0.0"}, nil)
	server.AddReceivingMiddleware(p.ServerMiddleware(true)) // hide tools the user may not call
	mux := http.NewServeMux()
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	fmt.Println(p.MetadataURL())
	// Output: https://mcp.example.com/.well-known/oauth-protected-resource/mcp
}

// An opaque-token deployment asks the authorization server about each token
// (RFC 7662), caching answers no longer than the token lives.
func ExampleNewIntrospectionVerifier() {
	v, err := protect.NewIntrospectionVerifier(protect.IntrospectionVerifierConfig{
		Issuer:       "https://auth.example.com",
		Resource:     "https://mcp.example.com/mcp",
		ClientID:     "mcp-resource-server",
		ClientSecret: "from-your-secret-store",
		CacheTTL:     30 * time.Second,
	})
	fmt.Println(v != nil, err)
	// Output: true <nil>
}

// The challenge a client receives when a tool needs more scopes.
func ExampleChallenge() {
	fmt.Println(protect.Challenge{
		ResourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
		Scope:            []string{"notes:read", "notes:write"},
		Error:            protect.ErrorInsufficientScope,
	})
	// Output: Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="notes:read notes:write", error="insufficient_scope"
}
