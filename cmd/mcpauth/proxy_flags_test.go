package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/client"
)

// TestProxyFlags covers mcp-remote's flags as mcpauth proxy reads them: ${VAR} expansion in
// --header (a bad header is named, its value never shown), JSON or @file for the static
// client flags, the loopback-only --host, the http check and --auth-timeout.
func TestProxyFlags(t *testing.T) {
	t.Setenv("MCP_TEST_TOKEN", "s3cret")
	t.Setenv("MCPAUTH_CONFIG_DIR", t.TempDir())
	h, err := parseHeaders([]string{"Authorization: Bearer ${MCP_TEST_TOKEN}", "X-Tenant:  acme "})
	if err != nil || h.Get("Authorization") != "Bearer s3cret" || h.Get("X-Tenant") != "acme" {
		t.Fatalf("headers %v, %v", h, err)
	}
	if _, err := parseHeaders([]string{"Bad Name: s3cret-value"}); err == nil || strings.Contains(err.Error(), "s3cret-value") {
		t.Fatalf("bad header: %v", err)
	}

	info := filepath.Join(t.TempDir(), "info.json")
	os.WriteFile(info, []byte(`{"client_id":"pre-1","client_secret":"${MCP_TEST_TOKEN}"}`), 0o600)
	o := proxyOptions{transport: "http-first", host: "localhost", clientInfo: "@" + info, authTimeout: "45",
		clientMetadata: `{"client_name":"Claude via mcpauth","scope":"notes:read notes:write","token_endpoint_auth_method":"client_secret_post"}`}
	cfg, _, timeout, err := o.clientConfig("https://api.example.com/mcp", 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "pre-1" || cfg.ClientSecret != "s3cret" || cfg.ClientName != "Claude via mcpauth" ||
		strings.Join(cfg.Scopes, " ") != "notes:read notes:write" || cfg.TokenEndpointAuthMethod != "client_secret_post" || timeout.Seconds() != 45 {
		t.Fatalf("config %+v, timeout %v", cfg, timeout)
	}

	for name, bad := range map[string]proxyOptions{
		"remote --host":   {transport: "http-first", host: "example.com"},
		"bad transport":   {transport: "websocket", host: "localhost"},
		"bad timeout":     {transport: "http-first", host: "localhost", authTimeout: "soon"},
		"bad client info": {transport: "http-first", host: "localhost", clientInfo: "{"},
		"no client_id":    {transport: "http-first", host: "localhost", clientInfo: `{"client_secret":"x"}`},
	} {
		if _, _, _, err := bad.clientConfig("https://api.example.com/mcp", 0, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, _, err := (proxyOptions{transport: "http-first", host: "localhost"}).clientConfig("http://api.example.com/mcp", 0, nil, nil); err == nil || !strings.Contains(err.Error(), "--allow-http") {
		t.Errorf("plain http off loopback: %v", err)
	}
	// --allow-http and --resource reach the client (client.TestAllowHTTP and
	// client.TestResourceOverride show what it does with them); --resource also keeps the
	// session in a store of its own.
	o = proxyOptions{transport: "http-first", host: "localhost", allowHTTP: true, resource: "https://audience.example/api"}
	cfg, dir, _, err := o.clientConfig("http://api.example.com/mcp", 0, nil, nil)
	if err != nil || !cfg.AllowHTTP || cfg.Resource != "https://audience.example/api" {
		t.Fatalf("--allow-http --resource: config %+v, %v", cfg, err)
	}
	if _, err := client.New(cfg); err != nil {
		t.Fatalf("client.New with --allow-http: %v", err)
	}
	if plain, _ := storeDir("", ""); dir == plain {
		t.Errorf("--resource shares the default store %s", dir)
	}
}
