package authserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// An authorization server for one MCP server, on an embedded SQLite database, listening on a
// loopback port (so its issuer may be plain http). Mount Handler at the root of the issuer's
// origin: it serves the metadata, registration, authorization, token, revocation,
// introspection and JWKS endpoints.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "mcpauth-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "mcpauth.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kek, err := authserver.LoadKey(filepath.Join(dir, "key.b64")) // created on first use
	if err != nil {
		log.Fatal(err)
	}

	hs := httptest.NewUnstartedServer(nil)
	issuer := "http://" + hs.Listener.Addr().String()
	as, err := authserver.New(context.Background(), authserver.Config{
		Issuer:           issuer,
		ListenAddr:       hs.Listener.Addr().String(),
		Store:            st,
		KeyEncryptionKey: kek,
		Resources: []authserver.Resource{
			{URI: issuer + "/mcp", Scopes: []string{"weather:read", "stocks:read"}},
		},
		RegistrationPolicy: authserver.RegistrationOpen,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer as.Close()
	hs.Config.Handler = as.Handler()
	hs.Start()
	defer hs.Close()

	resp, err := http.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var m authserver.Metadata
	json.NewDecoder(resp.Body).Decode(&m)
	fmt.Println(m.Issuer == issuer, m.CodeChallengeMethodsSupported, m.ScopesSupported)
	fmt.Println(m.AuthorizationResponseISSParameter, m.RegistrationEndpoint == issuer+"/register")
	// Output:
	// true [S256] [weather:read stocks:read]
	// true true
}

// Pre-register a confidential backend that obtains tokens with client_credentials, and a user
// who may grant one scope. The secret is returned once; the store keeps only its keyed hash.
func ExampleAdmin() {
	dir, _ := os.MkdirTemp("", "mcpauth-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "mcpauth.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kek, _ := authserver.LoadKey(filepath.Join(dir, "key.b64"))
	admin, err := authserver.NewAdmin(context.Background(), st, kek)
	if err != nil {
		log.Fatal(err)
	}

	client, secret, err := admin.AddClient(context.Background(), authserver.StaticClient{
		Name: "Reporting backend", Confidential: true, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"stocks:read"}, QuotaTier: "gold",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.AuthMethod, client.GrantTypes, client.Scopes, len(secret) > 43)

	user, err := admin.AddUser(context.Background(), "alice", "correct horse battery", []string{"weather:read"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(user.Username, user.Scopes)
	// Output:
	// client_secret_basic [client_credentials] [stocks:read] true
	// alice [weather:read]
}
