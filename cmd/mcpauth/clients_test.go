package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// TestClientsCommands pre-registers a confidential client with the CLI, then shows that an
// authorization server on the same data directory accepts its secret (client_credentials).
func TestClientsCommands(t *testing.T) {
	data := t.TempDir()
	out, err := runCLI(t, "", "clients", "add", "--data", data, "--name", "Backend", "--confidential",
		"--grant-types", "client_credentials", "--scopes", "weather:read", "--quota-tier", "gold")
	id := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if err != nil || id == nil || secret == nil || len(secret[1]) < 43 {
		t.Fatalf("clients add: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "clients", "add", "--data", data, "--id", "desktop-app", "--name", "Desktop", "--redirect-uri", "http://127.0.0.1/callback")
	if err != nil || !strings.Contains(out, "client_id: desktop-app") || strings.Contains(out, "client_secret") {
		t.Fatalf("public client: %v\n%s", err, out)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(jwks, []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","use":"sig"}]}`), 0o600)
	out, err = runCLI(t, "", "clients", "add", "--data", data, "--id", "signer", "--jwks", jwks, "--grant-types", "client_credentials")
	if err != nil || strings.Contains(out, "client_secret") {
		t.Fatalf("clients add --jwks: %v\n%s", err, out)
	}
	os.WriteFile(jwks, []byte(`{"keys":[]}`), 0o600)
	if _, err := runCLI(t, "", "clients", "add", "--data", data, "--jwks", jwks, "--grant-types", "client_credentials"); exitCode(err) != exitUsage {
		t.Fatalf("an empty key set: %v", err)
	}
	if _, err := runCLI(t, "", "clients", "add", "--data", data, "--redirect-uri", "http://evil.example/cb"); exitCode(err) != exitUsage {
		t.Fatalf("http redirect URI: %v", err)
	}
	out, err = runCLI(t, "", "clients", "list", "--data", data)
	if err != nil || !regexp.MustCompile(`desktop-app\s+static\s+Desktop\s+none`).MatchString(out) || !strings.Contains(out, "gold") ||
		!regexp.MustCompile(`signer\s+static\s+private_key_jwt`).MatchString(out) {
		t.Fatalf("clients list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "clients", "show", id[1], "--data", data)
	var info map[string]any
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info["client_name"] != "Backend" || strings.Contains(out, secret[1]) {
		t.Fatalf("clients show: %v\n%s", err, out)
	}

	st, err := sqlite.Open(filepath.Join(data, "mcpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, err := authserver.LoadKey(filepath.Join(data, "key.b64"))
	if err != nil {
		t.Fatal(err)
	}
	as, err := authserver.New(t.Context(), authserver.Config{
		Issuer: "https://as.example.com", Store: st, KeyEncryptionKey: kek,
		Resources: []authserver.Resource{{URI: "https://mcp.example.com/mcp", Scopes: []string{"weather:read"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	token := func(secret string) int {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id[1], secret)
		rec := httptest.NewRecorder()
		as.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if code := token(secret[1]); code != 200 {
		t.Fatalf("client_credentials with the printed secret: %d", code)
	}
	if code := token(secret[1] + "x"); code != 401 {
		t.Fatalf("wrong secret: %d", code)
	}
	as.Close()
	st.Close()

	if _, err := runCLI(t, "", "clients", "remove", id[1], "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "", "clients", "show", id[1], "--data", data); exitCode(err) != exitUsage {
		t.Fatalf("show after remove: %v", err)
	}
	// Another key file cannot decrypt the signing key the server made: refused.
	if _, err := runCLI(t, "", "clients", "list", "--data", data, "--key-file", filepath.Join(t.TempDir(), "other.b64")); err == nil {
		t.Fatal("a wrong key encryption key was accepted")
	}
}
