package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/client"
)

// runClientCLI runs the mcpauth command line in-process and returns stdout, stderr and the error.
func runClientCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

// helperBrowser sets $BROWSER to a script that follows the authorization URL the way a
// browser would against `serve --dev-login` (which approves at once), through the loopback
// callback: it runs this test binary as TestBrowserHelper. It counts the authorizations in
// the returned file.
func helperBrowser(t *testing.T) string {
	dir := t.TempDir()
	log := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "browser")
	body := "#!/bin/sh\necho x >> " + log + "\nMCPAUTH_BROWSER_HELPER=1 exec " + os.Args[0] + " -test.run='^TestBrowserHelper$' -- \"$1\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)
	return log
}

// TestBrowserHelper is the browser of helperBrowser, run in its own process: it GETs the URL
// after "--", following redirects.
func TestBrowserHelper(t *testing.T) {
	if os.Getenv("MCPAUTH_BROWSER_HELPER") != "1" {
		t.Skip("the browser process of helperBrowser")
	}
	args := flag.Args()
	if len(args) != 1 {
		t.Fatalf("want one URL, got %q", args)
	}
	resp, err := http.Get(args[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func opened(t *testing.T, log string) int {
	b, _ := os.ReadFile(log)
	return strings.Count(string(b), "x")
}

// TestClientCommands runs login, tools and call against a local protected server (mcpauth
// serve with --dev-login).
func TestClientCommands(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice", initialScopes: []string{"weather:read"}}, nil)
	log := helperBrowser(t)
	cfgDir := filepath.Join(t.TempDir(), "cfg")

	out, errOut, err := runClientCLI(t, "login", svc.mcpURL, "--config-dir", cfgDir, "--client-name", "CLI test", "-o", "json")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, errOut)
	}
	var res loginResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("login output %q: %v", out, err)
	}
	if !res.Authorized || res.Issuer != svc.issuer || res.ClientID == "" || res.Server != svc.mcpURL {
		t.Fatalf("login result %+v", res)
	}
	if !strings.Contains(errOut, "/authorize?") {
		t.Errorf("the authorization URL was not printed to stderr: %q", errOut)
	}
	if opened(t, log) != 1 {
		t.Fatalf("browser opened %d times, want 1", opened(t, log))
	}

	// The stored login is reused: no new authorization.
	out, errOut, err = runClientCLI(t, "tools", svc.mcpURL, "--config-dir", cfgDir)
	if err != nil {
		t.Fatalf("tools: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "weather_forecast") {
		t.Errorf("tools output lacks weather_forecast:\n%s", out)
	}
	out, _, err = runClientCLI(t, "tools", svc.mcpURL, "--config-dir", cfgDir, "--output", "json")
	var tools []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &tools) != nil || len(tools) == 0 || tools[0]["name"] == nil {
		t.Fatalf("tools --output json: %v\n%s", err, out)
	}

	out, errOut, err = runClientCLI(t, "call", svc.mcpURL, "weather_forecast", "city=Paris", "--json", `{"days":2}`, "--config-dir", cfgDir)
	if err != nil {
		t.Fatalf("call: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "Paris") {
		t.Errorf("call output: %q", out)
	}
	if opened(t, log) != 1 {
		t.Errorf("browser opened %d times after reuse, want 1", opened(t, log))
	}

	// A tool that reports an error: its text on stderr, a non-zero exit.
	out, errOut, err = runClientCLI(t, "call", svc.mcpURL, "weather_forecast", "city=Paris", "days=99", "--config-dir", cfgDir)
	if err == nil || !strings.Contains(errOut, "days") || out != "" {
		t.Errorf("call with a tool error: err %v, stdout %q, stderr %q", err, out, errOut)
	}

	// A tool needing another scope steps up (one more authorization).
	out, errOut, err = runClientCLI(t, "call", svc.mcpURL, "stock_quotes", `symbols=["ACME"]`, "--config-dir", cfgDir, "-o", "json")
	if err != nil {
		t.Fatalf("call stock_quotes: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "ACME") {
		t.Errorf("call output: %q", out)
	}
	if opened(t, log) != 2 {
		t.Errorf("browser opened %d times, want 2 (one step-up)", opened(t, log))
	}
}

func TestClientCommandErrors(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice"}, nil)
	helperBrowser(t)
	cfgDir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown tool", []string{"call", svc.mcpURL, "no_such_tool", "--config-dir", cfgDir}, exitError, "no_such_tool"},
		{"bad pair", []string{"call", svc.mcpURL, "weather_forecast", "city", "--config-dir", cfgDir}, exitUsage, "key=value"},
		{"bad json", []string{"call", svc.mcpURL, "weather_forecast", "--json", "[1]", "--config-dir", cfgDir}, exitUsage, "JSON object"},
		{"bad output", []string{"tools", svc.mcpURL, "-o", "yaml", "--config-dir", cfgDir}, exitUsage, "--output"},
		{"insecure server", []string{"tools", "http://example.com/mcp", "--config-dir", cfgDir}, exitUsage, "https"},
		{"other issuer", []string{"tools", svc.mcpURL, "--issuer", "https://as.example", "--config-dir", cfgDir}, exitError, "issuer mismatch"},
		{"profile and config dir", []string{"tools", svc.mcpURL, "--profile", "work", "--config-dir", cfgDir}, exitUsage, "--profile"},
		{"bad profile", []string{"tools", svc.mcpURL, "--profile", "../x"}, exitUsage, "profile"},
		{"secret without id", []string{"login", svc.mcpURL, "--client-secret", "x", "--config-dir", cfgDir}, exitUsage, "--client-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runClientCLI(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			code := exitError
			if ec, ok := err.(*exitCodeError); ok {
				code = ec.code
			}
			if code != tc.code || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "rejected by transport") {
				t.Fatalf("error %q (exit %d); want exit %d mentioning %q", err, code, tc.code, tc.want)
			}
		})
	}
}

func TestToolArguments(t *testing.T) {
	got, err := toolArguments(map[string]any{"a": 1.0, "keep": "x"}, []string{"a=2", "s=42", "n=42", "b=true", "o={\"k\":[1]}", "t=hello world", "e="}, map[string]bool{"s": true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":2,"b":true,"e":"","keep":"x","n":42,"o":{"k":[1]},"s":"42","t":"hello world"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Fatalf("arguments %s, want %s", b, want)
	}
}

func TestClientFlagsConfig(t *testing.T) {
	var f clientFlags
	cmd := &cobra.Command{Use: "x"}
	f.register(cmd)
	if err := cmd.ParseFlags([]string{"--device-code", "--scope", "a b,c", "--scope", "d", "--client-id", "x", "--issuer", "https://as.example", "--config-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config("https://api.example/mcp", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GrantType != client.DeviceCode || strings.Join(cfg.Scopes, " ") != "a b c d" || cfg.ClientID != "x" || cfg.Issuer != "https://as.example" || cfg.ReadRedirect != nil {
		t.Fatalf("config %+v", cfg)
	}
}

// TestLoginProfile: --profile keeps a login apart, where status, logout and proxy look.
func TestLoginProfile(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice"}, nil)
	helperBrowser(t)
	base := t.TempDir()
	t.Setenv(client.ConfigDirEnv, base)
	if _, errOut, err := runClientCLI(t, "login", svc.mcpURL, "--profile", "work"); err != nil {
		t.Fatalf("login: %v\n%s", err, errOut)
	}
	want, _ := storeDir("work", "")
	files, _ := filepath.Glob(filepath.Join(want, "*.credentials.json"))
	if len(files) != 1 {
		t.Fatalf("credentials in %s: %v", want, files)
	}
	if root, _ := filepath.Glob(filepath.Join(base, "*.credentials.json")); len(root) != 0 {
		t.Fatalf("the default profile got credentials too: %v", root)
	}
}
