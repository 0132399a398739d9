// mcpauth proxy: a stdio MCP server for desktop hosts that forwards to a remote MCP server
// with OAuth, accepting mcp-remote's command line.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/proxy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func init() { subcommands = append(subcommands, newProxyCmd) }

type proxyOptions struct {
	headers        []string
	allowHTTP      bool
	resource       string
	clientInfo     string
	clientMetadata string
	host           string
	authTimeout    string
	debug, silent  bool
	transport      string
	profile        string
}

func newProxyCmd() *cobra.Command {
	o := proxyOptions{}
	cmd := &cobra.Command{
		Use:   "proxy URL [callback-port]",
		Short: "Serve MCP on stdio for a desktop host, forwarding to a remote server with OAuth",
		Long: `proxy lets a desktop MCP host that only speaks stdio (Claude Desktop, Cursor, VS Code,
Windsurf) use a remote MCP server protected by OAuth. Configure the host to run
"mcpauth proxy URL". stdout carries only JSON-RPC; logs go to stderr.

On first use it logs in through the browser (or run "mcpauth login URL" once beforehand);
then it reuses the stored registration and token, refreshes silently, and reconnects when
the server restarts. Several proxies for one server log in and refresh one at a time.
Without a terminal or a browser and without usable stored credentials it exits with code 3.

The flags are mcp-remote's, with the same meaning. HTTPS_PROXY and NO_PROXY are honoured.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeStoredServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			port := 0
			if len(args) == 2 {
				p, err := strconv.Atoi(args[1])
				if err != nil || p <= 0 || p > 65535 {
					return withExitCode(exitUsage, fmt.Errorf("callback port %q is not a port number", args[1]))
				}
				port = p
			}
			return runProxy(cmd.Context(), args[0], port, o, os.Stdin, os.Stdout, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.headers, "header", nil, "add `\"Name: value\"` to every request to the MCP server (repeatable; ${VAR} is expanded from the environment)")
	f.BoolVar(&o.allowHTTP, "allow-http", false, "allow plain http to the server and its authorization server off loopback: tokens travel unencrypted (trusted private networks only)")
	f.StringVar(&o.resource, "resource", "", "send this `URI` as the OAuth resource (RFC 8707) instead of the server's, and keep its session apart from others for the same server")
	f.StringVar(&o.clientInfo, "static-oauth-client-info", "", "pre-registered client as `JSON|@file`: {\"client_id\":...,\"client_secret\":...}")
	f.StringVar(&o.clientMetadata, "static-oauth-client-metadata", "", "client metadata as `JSON|@file`: client_name, scope, token_endpoint_auth_method")
	f.StringVar(&o.host, "host", "localhost", "callback host; the redirect URI always uses 127.0.0.1 (RFC 8252 §7.3), so only a loopback name is accepted")
	f.StringVar(&o.authTimeout, "auth-timeout", "", "how long to wait for the browser login (`seconds` or a duration like 2m; default 10m)")
	f.BoolVar(&o.debug, "debug", false, "log debugging details to stderr (never tokens or secrets)")
	f.BoolVar(&o.silent, "silent", false, "log nothing but errors")
	f.StringVar(&o.transport, "transport", string(proxy.HTTPFirst), "http-first, sse-first, http-only or sse-only")
	f.StringVar(&o.profile, "profile", "", "use the credentials of this `profile` (several accounts for one server)")
	cmd.RegisterFlagCompletionFunc("transport", completeTransports)
	return cmd
}

func runProxy(ctx context.Context, serverURL string, port int, o proxyOptions, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) error {
	logger := proxyLogger(stderr, o)
	cfg, dir, timeout, err := o.clientConfig(serverURL, port, logger, stderr)
	if err != nil {
		return withExitCode(exitUsage, err)
	}
	header, err := parseHeaders(o.headers)
	if err != nil {
		return withExitCode(exitUsage, err)
	}
	c, err := client.New(cfg)
	if err != nil {
		return withExitCode(exitUsage, err)
	}
	if err := ensureCredentials(ctx, c, dir, header, timeout); err != nil {
		return err
	}
	local, err := (&mcp.IOTransport{Reader: stdin, Writer: stdout}).Connect(ctx)
	if err != nil {
		return err
	}
	return proxy.Run(ctx, local, proxy.Config{
		URL:        c.ServerResource(),
		HTTPClient: c.HTTPClient(),
		Header:     header,
		Transport:  proxy.Strategy(o.transport),
		Logger:     logger,
	})
}

// clientConfig turns the flags into a client configuration, the store directory and the
// login timeout.
func (o proxyOptions) clientConfig(serverURL string, port int, logger *slog.Logger, stderr io.Writer) (client.Config, string, time.Duration, error) {
	var cfg client.Config
	if err := proxy.Strategy(o.transport).Validate(); err != nil {
		return cfg, "", 0, err
	}
	switch strings.ToLower(o.host) {
	case "localhost", "127.0.0.1", "::1", "[::1]":
	default:
		return cfg, "", 0, fmt.Errorf("--host %q: the OAuth callback listens on 127.0.0.1 only", o.host)
	}
	if err := checkServerScheme(serverURL, o.allowHTTP); err != nil {
		return cfg, "", 0, err
	}
	timeout := 10 * time.Minute
	if o.authTimeout != "" {
		d, err := parseSeconds(o.authTimeout)
		if err != nil {
			return cfg, "", 0, fmt.Errorf("--auth-timeout: %w", err)
		}
		timeout = d
	}
	dir, err := storeDir(o.profile, o.resource)
	if err != nil {
		return cfg, "", 0, err
	}
	cfg = client.Config{
		ServerURL:    serverURL,
		ClientName:   "mcpauth",
		Store:        client.NewFileStore(dir),
		RedirectPort: port,
		Stderr:       stderr,
		Logger:       logger,
		Resource:     o.resource,
		AllowHTTP:    o.allowHTTP,
	}
	if o.clientInfo != "" {
		var info struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := decodeJSONArg("--static-oauth-client-info", o.clientInfo, &info); err != nil {
			return cfg, "", 0, err
		}
		if info.ClientID == "" {
			return cfg, "", 0, errors.New("--static-oauth-client-info: client_id is missing")
		}
		cfg.ClientID, cfg.ClientSecret = expandEnv(info.ClientID), expandEnv(info.ClientSecret)
	}
	if o.clientMetadata != "" {
		var md struct {
			ClientName string `json:"client_name"`
			Scope      string `json:"scope"`
			AuthMethod string `json:"token_endpoint_auth_method"`
		}
		if err := decodeJSONArg("--static-oauth-client-metadata", o.clientMetadata, &md); err != nil {
			return cfg, "", 0, err
		}
		if md.ClientName != "" {
			cfg.ClientName = md.ClientName
		}
		cfg.Scopes = strings.Fields(md.Scope)
		if cfg.ClientID != "" {
			cfg.TokenEndpointAuthMethod = md.AuthMethod
		}
	}
	return cfg, dir, timeout, nil
}

// checkServerScheme refuses plain http off loopback unless --allow-http.
func checkServerScheme(raw string, allowHTTP bool) error {
	u, err := parseURLArg(raw)
	if err != nil {
		return err
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) && !allowHTTP {
		return fmt.Errorf("%s is plain http: use https, or pass --allow-http on a trusted private network", raw)
	}
	return nil
}

// ensureCredentials makes sure a proxy can start: it asks the server without a token
// whether it needs one and, if so, obtains one. The client registers, authorizes and
// refreshes under the store's cross-process lock (client.LockServer), so that of many proxies
// started at once exactly one does each and the others reuse what it stored. Without a way to
// ask the user it fails with exit code 3.
func ensureCredentials(ctx context.Context, c *client.Client, dir string, header http.Header, timeout time.Duration) error {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if usableCredentials(ctx, dir, c.ServerResource()) {
		if fresh(ctx, dir, c.ServerResource()) {
			return nil // the common case: no lock, no request
		}
		_, err := c.Token(lctx) // a refresh, or adopting the one another proxy did
		return err
	}
	needs, err := needsAuthorization(ctx, c.ServerResource(), header)
	if err != nil {
		return err
	}
	if !needs {
		return nil
	}
	if !canAskUser() {
		return withExitCode(exitNeedLogin, fmt.Errorf("%s needs a login and there is no terminal or browser to ask for it: run `mcpauth login %s` first", c.ServerResource(), c.ServerResource()))
	}
	if _, err := c.Token(lctx); err != nil {
		if errors.Is(lctx.Err(), context.DeadlineExceeded) {
			return withExitCode(exitNeedLogin, fmt.Errorf("login not completed within %s: run `mcpauth login %s`", timeout, c.ServerResource()))
		}
		return err
	}
	return nil
}

// needsAuthorization sends the MCP server a request without a token: a 401 means it needs one.
func needsAuthorization(ctx context.Context, serverURL string, header http.Header) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serverURL, nil)
	if err != nil {
		return false, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("connecting to %s: %w", serverURL, err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusUnauthorized, nil
}

// canAskUser reports whether a login can reach the user: a terminal on stdin or stderr, or
// a browser to open.
func canAskUser() bool {
	if term.IsTerminal(int(os.Stdin.Fd())) || term.IsTerminal(int(os.Stderr.Fd())) {
		return true
	}
	if os.Getenv("BROWSER") != "" {
		return true
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

func proxyLogger(stderr io.Writer, o proxyOptions) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case o.debug:
		level = slog.LevelDebug
	case o.silent:
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// envRef is compiled on first use, not at start-up.
var envRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

// expandEnv replaces ${VAR} with the environment variable's value.
func expandEnv(s string) string {
	return envRef().ReplaceAllStringFunc(s, func(m string) string { return os.Getenv(m[2 : len(m)-1]) })
}

// parseHeaders parses --header values "Name: value", expanding ${VAR} in the value. Errors
// name the header, never its value.
func parseHeaders(raw []string) (http.Header, error) {
	h := http.Header{}
	for _, hv := range raw {
		name, value, ok := strings.Cut(hv, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", name)
		}
		value = strings.TrimSpace(expandEnv(value))
		if strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("--header %s: the value has a line break", name)
		}
		h.Add(name, value)
	}
	return h, nil
}

// decodeJSONArg decodes a flag given as inline JSON or as @file.
func decodeJSONArg(flag, arg string, v any) error {
	b := []byte(arg)
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not valid JSON: %v", flag, err)
	}
	return nil
}

// parseSeconds accepts "30" (seconds, mcp-remote's form) or a Go duration ("2m").
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a number of seconds or a duration", s)
	}
	return d, nil
}
