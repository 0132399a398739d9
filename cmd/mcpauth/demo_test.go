package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
)

// TestDemoExitsZeroAndPrintsEachStep runs the README's first command as a
// user would: the built binary, "mcpauth demo".
func TestDemoExitsZeroAndPrintsEachStep(t *testing.T) {
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Env = append(cmd.Environ(), "MCPAUTH_KEY_ENCRYPTION_KEY=") // the demo makes its own key
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mcpauth demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, step := range demoSteps {
		if !strings.Contains(text, "== "+step+"\n") {
			t.Errorf("output lacks %q", step)
		}
	}
	for _, want := range []string{
		"401 Unauthorized", `resource_metadata="`, "/.well-known/oauth-protected-resource/mcp",
		"/.well-known/oauth-authorization-server", "201 Created", "302 Found", "code=%5Bredacted%5D",
		`"access_token":"[redacted]"`, "Authorization: Bearer [redacted]",
		"weather_forecast", "stock_quotes", "flight_search", "Demo complete",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Steps appear in order.
	last := -1
	for _, step := range demoSteps {
		i := strings.Index(text, "== "+step)
		if i < last {
			t.Errorf("step %q out of order", step)
		}
		last = i
	}
	// Nothing secret is printed: no JWT, no code, no PKCE verifier, no secret.
	for _, re := range []string{`eyJ[A-Za-z0-9_-]{8,}`, `[?&]code=[^%&\s]`, `code_verifier=[^%&\s]`, `"(access|refresh)_token":"[^\[]`, `client_secret=[^%&\s]`} {
		if m := regexp.MustCompile(re).FindString(text); m != "" {
			t.Errorf("output leaks a secret matching %s: %q", re, m)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}
