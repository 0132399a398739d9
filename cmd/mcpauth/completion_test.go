package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/client"
)

// TestCompletion completes server URLs from the stored logins and --transport values, through
// cobra's hidden __complete command that the generated shell scripts call.
func TestCompletion(t *testing.T) {
	t.Setenv(client.ConfigDirEnv, t.TempDir())
	dir, _ := storeDir("", "")
	for _, r := range []string{"https://a.example.com/mcp", "https://b.example.com/mcp"} {
		if err := client.NewFileStore(dir).Put(context.Background(), &client.Entry{Key: client.Key{Resource: r, Issuer: "https://as.example.com"}, Updated: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCmd(t, "__complete", "logout", "https://a")
	if err != nil || !strings.Contains(out, "https://a.example.com/mcp") || strings.Contains(out, "https://b.example.com/mcp") {
		t.Fatalf("logout completion: %v\n%s", err, out)
	}
	out, err = runCmd(t, "__complete", "proxy", "--transport", "")
	if err != nil || !strings.Contains(out, "sse-first") || !strings.Contains(out, "http-only") {
		t.Fatalf("--transport completion: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "completion", "bash"); err != nil || !strings.Contains(out, "__start_mcpauth") {
		t.Fatalf("completion bash: %v", err)
	}
}
