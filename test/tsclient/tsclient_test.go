// Package tsclient proves mcpauth's authorization server and protected MCP
// server (`mcpauth serve`) with a client we did not write: the official
// TypeScript SDK (@modelcontextprotocol/sdk) and its OAuth client.
package tsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
	"github.com/mcpauth/mcpauth/test/servetest"
)

// step is one JSON line printed by client.mjs.
type step struct {
	Step                string   `json:"step"`
	ClientID            string   `json:"client_id"`
	AuthMethod          *string  `json:"token_endpoint_auth_method"`
	Endpoint            string   `json:"endpoint"`
	Resource            string   `json:"resource"`
	Scope               *string  `json:"scope"`
	CodeChallengeMethod string   `json:"code_challenge_method"`
	Iss                 string   `json:"iss"`
	TokenType           string   `json:"token_type"`
	RefreshToken        bool     `json:"refresh_token"`
	Names               []string `json:"names"`
	IsError             bool     `json:"isError"`
	Text                string   `json:"text"`
}

// TestTypeScriptSDKClient: the official TypeScript SDK client registers by
// DCR, authorizes with PKCE S256 and resource, gets a token bound to the MCP
// server, lists the tools and calls one, against `mcpauth serve` on SQLite
// and on PostgreSQL.
func TestTypeScriptSDKClient(t *testing.T) {
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	t.Run("SQLite", func(t *testing.T) { testTypeScriptSDKClient(t, servetest.Start(t, bin, "--dev-login", "alice")) })
	t.Run("PostgreSQL", func(t *testing.T) {
		srv := servetest.Start(t, bin, "--dev-login", "alice", "--postgres", testenv.PostgresDSN(t))
		testTypeScriptSDKClient(t, srv)
	})
}

func testTypeScriptSDKClient(t *testing.T, srv *servetest.Server) {
	node := testenv.Node(t)
	mcpURL, issuer := srv.MCPURL, srv.Issuer

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", mcpURL, "weather_forecast", `{"city":"Paris","days":2}`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("TypeScript SDK client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	steps := map[string]step{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var s step
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("client output %q: %v", line, err)
		}
		steps[s.Step] = s
		order = append(order, s.Step)
	}
	want := []string{"registered", "authorize", "callback", "tokens", "connected", "tools", "called"}
	if !slices.Equal(order, want) {
		t.Fatalf("client steps %v, want %v\nstderr:\n%s", order, want, stderr.String())
	}

	if s := steps["registered"]; s.ClientID == "" || s.AuthMethod == nil || *s.AuthMethod != "none" {
		t.Errorf("registration: client_id %q, token_endpoint_auth_method %v; want a public client (none)", s.ClientID, s.AuthMethod)
	}
	if s := steps["authorize"]; s.Endpoint != issuer+"/authorize" || s.Resource != mcpURL || s.CodeChallengeMethod != "S256" || s.Scope == nil || *s.Scope == "" {
		t.Errorf("authorization request: %+v; want endpoint %s/authorize, resource %s, S256, the challenge's scopes", s, issuer, mcpURL)
	}
	if s := steps["callback"]; s.Iss != issuer {
		t.Errorf("authorization response iss %q, want %q (RFC 9207)", s.Iss, issuer)
	}
	if s := steps["tokens"]; !strings.EqualFold(s.TokenType, "bearer") || !s.RefreshToken {
		t.Errorf("token response: %+v; want a bearer token and a refresh token", s)
	}
	if s := steps["tools"]; !slices.Contains(s.Names, "weather_forecast") {
		t.Errorf("tools/list: %v", s.Names)
	}
	if s := steps["called"]; s.IsError || !strings.Contains(s.Text, `"city":"Paris"`) {
		t.Errorf("tools/call weather_forecast: error=%v text %q", s.IsError, s.Text)
	}

	// The server's audit log: one registration, and an access token whose
	// audience is the MCP server (RFC 8707).
	srv.Sync(t)
	audit := srv.Audit()
	for _, rec := range audit {
		if rec["audit"] == "token.issued" {
			if aud, _ := rec["aud"].([]any); len(aud) != 1 || aud[0] != mcpURL {
				t.Errorf("token issued with aud %v, want [%s]", rec["aud"], mcpURL)
			}
		}
	}
	if n := servetest.AuditCounts(audit); n["client.registered"] != 1 || n["code.issued"] != 1 || n["token.issued"] != 1 {
		t.Errorf("audit %v: want 1 registration, 1 code, 1 token", n)
	}
}
