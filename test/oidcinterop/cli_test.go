package oidcinterop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// browserEnv, when set, makes the test binary act as the user's browser for
// the authorization URL in its last argument: the mcpauth CLI starts it
// through $BROWSER, as it would start a real browser.
const browserEnv = "OIDCINTEROP_BROWSER_LOGIN"

func TestMain(m *testing.M) {
	if login := os.Getenv(browserEnv); login != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := newFormBrowser(login).Open(ctx, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "form browser:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testCLI: `mcpauth login` (bin) registers with the provider, prints the
// authorization URL and starts $BROWSER (here this test binary, which signs in
// and consents); then `mcpauth tools` and `mcpauth call` work on the stored
// credentials without a single request to the provider.
func testCLI(t *testing.T, bin string) {
	e := newEnv(t, false)
	var seen int
	run := func(args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--config-dir", e.storeDir)...)
		cmd.Env = append(os.Environ(), "BROWSER="+os.Args[0], browserEnv+"=alice")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("mcpauth %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		e.output.Write([]byte(out.String() + errOut.String()))
		return out.String(), errOut.String()
	}

	_, stderr := run("login", e.mcp.url)
	if !strings.Contains(stderr, e.provider.issuer+"/auth?") {
		t.Errorf("mcpauth login did not print the authorization URL on stderr:\n%s", stderr)
	}
	c := counts(e.eventsSince(t, &seen))
	t.Logf("mcpauth login: provider events %v", c)
	if c["registration"] != 1 || c["authorization"] != 1 || c["token:authorization_code"] != 1 || c["token_error"] != 0 {
		t.Errorf("mcpauth login: provider events %v, want 1 registration, 1 authorization, 1 code exchange", c)
	}

	stdout, _ := run("tools", e.mcp.url, "--output", "json")
	var tools []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(stdout), &tools); err != nil || len(tools) != 1 || tools[0].Name != "whoami" {
		t.Errorf("mcpauth tools --output json: %v, %q", err, stdout)
	}
	if stdout, _ := run("call", e.mcp.url, "whoami"); !strings.Contains(stdout, "subject=alice ") {
		t.Errorf("mcpauth call whoami: %q", stdout)
	}
	if ev := e.eventsSince(t, &seen); len(ev) != 0 {
		t.Errorf("mcpauth tools and call: provider events %v, want none", counts(ev))
	}
	if entry := e.storedEntry(t); strings.Contains(e.output.String(), entry.Token.AccessToken) ||
		strings.Contains(e.output.String(), entry.Token.RefreshToken) {
		t.Error("the CLI printed a token")
	}
}
