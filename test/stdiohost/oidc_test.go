package stdiohost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/internal/testenv"
	"github.com/mcpauth/mcpauth/protect"
)

// startOIDCProvider runs test/oidcinterop/provider.mjs (oidc-provider v9, resource indicators
// issuing at+jwt for resource) and returns its issuer.
func startOIDCProvider(t *testing.T, node, root, resource string) string {
	t.Helper()
	cmd := exec.Command(node, "provider.mjs", "--resource", resource)
	cmd.Dir = filepath.Join(root, "test", "oidcinterop")
	cmd.Env = append(cmd.Environ(), "NODE_ENV=test")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var e struct{ Event, Issuer string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event == "ready" {
			go io.Copy(io.Discard, out)
			return e.Issuer
		}
	}
	t.Fatalf("oidc-provider did not start:\n%s", stderr.String())
	return ""
}

// serveGoSDK serves a go-sdk MCP server with a whoami tool on ln, protected by package
// protect with JWTs of issuer checked against its JWKS.
func serveGoSDK(t *testing.T, ln net.Listener, resource, issuer string) {
	t.Helper()
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	p, err := protect.New(protect.Config{Resource: resource, AuthorizationServers: []string{issuer}, Verifier: verifier,
		ScopesSupported: []string{"mcp:tools"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "go-sdk behind oidc-provider", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		info := protect.TokenInfoFromSDK(req.Extra.TokenInfo)
		if info == nil {
			return nil, nil, errors.New("no token")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "subject=" + info.Subject}}}, nil, nil
	})
	mux := http.NewServeMux()
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestTypeScriptStdioHostThroughProxyOIDCProvider: the TypeScript SDK's stdio client drives
// `mcpauth proxy` against a go-sdk MCP server whose tokens come from oidc-provider, an
// authorization server we did not write: the proxy registers (DCR), the user signs in and
// consents on the provider's pages ($BROWSER), and the host lists and calls the tool.
func TestTypeScriptStdioHostThroughProxyOIDCProvider(t *testing.T) {
	node := testenv.Node(t)
	root := testenv.RepoRoot(t)
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource := "http://" + ln.Addr().String() + "/mcp"
	issuer := startOIDCProvider(t, node, root, resource)
	serveGoSDK(t, ln, resource, issuer)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host := exec.CommandContext(ctx, node, filepath.Join(root, "test", "stdiohost", "host.mjs"), bin, resource, "1", "whoami", "{}")
	host.Dir = filepath.Join(root, "test")
	host.Env = append(host.Environ(), "MCPAUTH_CONFIG_DIR="+t.TempDir(),
		"BROWSER="+node+" "+filepath.Join(root, "test", "stdiohost", "oidcbrowser.mjs"), "DISPLAY=", "WAYLAND_DISPLAY=")
	stderr := &lockedBuffer{}
	host.Stderr = stderr
	host.WaitDelay = 5 * time.Second // the proxy and the "browser" inherit stderr
	out, err := host.Output()
	if err != nil {
		t.Fatalf("host: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var first struct {
		Tools  []string `json:"tools"`
		Result string   `json:"result"`
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if err := json.Unmarshal([]byte(line), &first); err != nil || fmt.Sprint(first.Tools) != "[whoami]" || !strings.HasPrefix(first.Result, "subject=alice") {
		t.Fatalf("host output %q (%v); stderr:\n%s", out, err, stderr.String())
	}
}
