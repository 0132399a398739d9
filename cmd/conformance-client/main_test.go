package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/client"
)

// TestRunUsage: bad invocations exit 2 with a message, never a panic.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		name              string
		args              []string
		scenario, context string
		wantErr           string
	}{
		{"no server URL", nil, "initialize", "", "usage:"},
		{"no scenario", []string{"http://127.0.0.1:1/mcp"}, "", "", "usage:"},
		{"context not JSON", []string{"http://127.0.0.1:1/mcp"}, "auth/pre-registration", "{client_id", "kind=usage"},
		{"context not an object", []string{"http://127.0.0.1:1/mcp"}, "auth/pre-registration", `["x"]`, "kind=usage"},
		{"unknown scenario", []string{"http://127.0.0.1:1/mcp"}, "no-such-scenario", "", "kind=usage"},
		{"bad private key", []string{"http://127.0.0.1:1/mcp"}, "auth/client-credentials-jwt",
			`{"client_id":"c","private_key_pem":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`, "kind=usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := run(tc.args, tc.scenario, tc.context, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) || stdout.Len() != 0 {
				t.Errorf("stdout %q, stderr %q; want %q on stderr", stdout.String(), stderr.String(), tc.wantErr)
			}
		})
	}
}

// TestRunInitialize runs the initialize scenario against a go-sdk server
// that needs no authorization.
func TestRunInitialize(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "plain", Version: "1"}, nil)
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer srv.Close()
	var stdout, stderr strings.Builder
	if code := run([]string{srv.URL}, "initialize", "", &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if want := "conformance-client: ok\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}

// TestConfig: the scenario decides the grant; the context's client and key
// are used as given.
func TestConfig(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))

	pre, err := config("auth/pre-registration", "http://127.0.0.1:1/mcp", scenarioContext{ClientID: "id", ClientSecret: "s"}, io.Discard)
	if err != nil || pre.GrantType == client.ClientCredentials || pre.ClientID != "id" || pre.ClientSecret != "s" {
		t.Errorf("pre-registration: %+v, %v; want the authorization code grant with the given client", pre, err)
	}
	if pre.ClientMetadataURL != cimdURL {
		t.Errorf("ClientMetadataURL %q, want %q", pre.ClientMetadataURL, cimdURL)
	}
	jwt, err := config("auth/client-credentials-jwt", "http://127.0.0.1:1/mcp",
		scenarioContext{ClientID: "id", PrivateKeyPEM: keyPEM, SigningAlgorithm: "ES256"}, io.Discard)
	if err != nil || jwt.GrantType != client.ClientCredentials || jwt.PrivateKey == nil || jwt.PrivateKeyAlg != "ES256" {
		t.Errorf("client-credentials-jwt: %+v, %v; want client_credentials with the ES256 key", jwt, err)
	}
}

// TestErrorKind: each typed error of the client library has its kind, also
// when wrapped.
func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&client.ResourceMismatchError{}, "resource_mismatch"},
		{&client.InsufficientScopeError{}, "insufficient_scope"},
		{&client.IssuerMismatchError{}, "issuer_mismatch"},
		{&client.PKCEUnsupportedError{}, "pkce_unsupported"},
		{&client.RegistrationError{}, "registration_rejected"},
		{&client.NoRegistrationError{}, "no_registration"},
		{&client.UserDeniedError{}, "user_denied"},
		{&client.AuthorizationResponseError{}, "authorization_response"},
		{&client.TokenError{}, "token"},
		{&client.MetadataError{}, "metadata"},
		{&client.AuthorizationRequiredError{}, "authorization_required"},
		{client.ErrInsecureURL, "insecure_url"},
		{context.DeadlineExceeded, "timeout"},
		{errUsage, "usage"},
		{errors.New("boom"), "other"},
	}
	for _, tc := range tests {
		wrapped := fmt.Errorf("connect: %w", tc.err)
		if got := errorKind(wrapped); got != tc.want {
			t.Errorf("errorKind(%T) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
