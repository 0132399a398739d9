package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/doctor"
)

// TestDoctorAgainstServe diagnoses the real `mcpauth serve`: every step passes, and --json
// gives the same verdict.
func TestDoctorAgainstServe(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice", registration: "open", accessTokenTTL: 3600e9}, nil)
	t.Setenv("MCPAUTH_CONFIG_DIR", t.TempDir())

	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"doctor", svc.mcpURL})
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	for _, want := range []string{"✓ 401 and challenge", "✓ protected resource metadata: found at " + svc.issuer + "/.well-known/oauth-protected-resource/mcp",
		"✓ resource match", "✓ issuer", "✓ PKCE S256", "✓ client registration", "✓ refresh tokens", "A client can connect"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	root = newRootCmd()
	root.SetArgs([]string{"doctor", "--json", svc.mcpURL})
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var r doctor.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || !r.OK || len(r.Steps) < 9 {
		t.Fatalf("--json: %v, report %+v", err, r)
	}

	// A URL that is not an MCP endpoint: the verdict is "cannot connect", exit code 1.
	out.Reset()
	root = newRootCmd()
	root.SetArgs([]string{"doctor", svc.issuer + "/not-mcp"})
	root.SetOut(&out)
	var ec *exitCodeError
	if err := root.Execute(); !errors.As(err, &ec) || ec.code != exitError || !strings.Contains(out.String(), "✗ 401 and challenge") {
		t.Fatalf("doctor on a non-MCP URL: %v\n%s", err, out.String())
	}
}
