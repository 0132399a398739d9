package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/client"
)

// Connect to a server whose authorization server lets clients register themselves: the
// first run registers, opens the browser for the user to log in and stores the credentials
// under the user's config directory; later runs reuse them.
func ExampleConnect() {
	ctx := context.Background()
	s, err := client.Connect(ctx, client.Config{ServerURL: "https://api.example.com/mcp", ClientName: "My AI Tool"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "weather_forecast", Arguments: map[string]any{"city": "Paris"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
}

// Connect with a client registered beforehand with the server's authorization server.
func ExampleConnect_preRegistered() {
	ctx := context.Background()
	s, err := client.Connect(ctx, client.Config{
		ServerURL:    "https://api.example.com/mcp",
		ClientID:     "known-client-id",
		ClientSecret: "secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}

// A backend service authenticates as itself with the client credentials grant.
func ExampleConnect_clientCredentials() {
	s, err := client.Connect(context.Background(), client.Config{
		ServerURL:    "https://api.example.com/mcp",
		GrantType:    client.ClientCredentials,
		ClientID:     "reporting-service",
		ClientSecret: "secret",
		Store:        client.NewMemoryStore(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}

// Get tokens without an MCP session, e.g. for a proxy, and tell the user what went wrong.
func ExampleClient_Token() {
	c, err := client.New(client.Config{ServerURL: "https://api.example.com/mcp"})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Token(context.Background())
	var denied *client.UserDeniedError
	var mismatch *client.ResourceMismatchError
	switch {
	case errors.As(err, &denied):
		log.Fatal("you refused the authorization")
	case errors.As(err, &mismatch):
		log.Fatalf("the server's metadata is for %s: refusing", mismatch.Got)
	case err != nil:
		log.Fatal(err)
	}
	_ = tok.AccessToken // send as "Authorization: Bearer …", or use c.HTTPClient()
}

// Use the client's OAuth with a go-sdk transport built by hand, e.g. to set transport
// options: HTTPClient adds the token and handles 401 and 403 insufficient_scope itself.
func ExampleClient_HTTPClient() {
	ctx := context.Background()
	c, err := client.New(client.Config{ServerURL: "https://api.example.com/mcp", ClientName: "My AI Tool"})
	if err != nil {
		log.Fatal(err)
	}
	mc := mcp.NewClient(&mcp.Implementation{Name: "My AI Tool", Version: "1.0"}, nil)
	s, err := mc.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             c.ServerResource(),
		HTTPClient:           c.HTTPClient(),
		DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}
