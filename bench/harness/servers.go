// Starting the servers under test: mcpauth serve (the product), benchserver (the floor, the
// unprotected MCP server, registration without its rate limit) and the oidc-provider peer.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/internal/testenv"
)

// Serve is a running mcpauth serve.
type Serve struct {
	*Process
	Issuer, MCPURL string
	// Addr is host:port, to restart a server on the same address (and so the same issuer).
	Addr string
}

var serveReady = regexp.MustCompile(`authorization server (http://(127\.0\.0\.1:\d+))$`)

// StartServe runs bin serve with args (add --addr 127.0.0.1:0 or a previous Addr yourself).
func StartServe(t testing.TB, opt Options, bin string, args ...string) *Serve {
	t.Helper()
	opt.Ready = serveReady
	p := Start(t, opt, append([]string{bin, "serve"}, args...)...)
	return &Serve{Process: p, Issuer: p.Match[1], MCPURL: p.Match[1] + "/mcp", Addr: p.Match[2]}
}

// AddClient pre-registers a confidential client_credentials client with mcpauth clients add,
// on the store given by storeArgs (--data DIR or --postgres DSN), and returns its credentials.
func AddClient(t testing.TB, env []string, bin string, storeArgs ...string) *Client {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"clients", "add", "--name", "bench backend", "--confidential",
		"--grant-types", "client_credentials"}, storeArgs...)...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mcpauth clients add: %v\n%s", err, out)
	}
	c := &Client{}
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, "client_id: "); ok {
			c.ID = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			c.Secret = strings.TrimSpace(v)
		}
	}
	if c.ID == "" || c.Secret == "" {
		t.Fatalf("mcpauth clients add printed no credentials")
	}
	return c
}

// NewKeyEnv returns an environment entry with a fresh key encryption key, which every process
// sharing one PostgreSQL database needs.
func NewKeyEnv() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return "MCPAUTH_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)
}

var listeningReady = regexp.MustCompile(`^listening (http://\S+)$`)

// StartBenchServer builds and runs bench/benchserver in mode with extra flags; it returns the
// process and its base URL.
func StartBenchServer(t testing.TB, pin int, mode string, args ...string) (*Process, string) {
	t.Helper()
	bin := testenv.BuildBinary(t, "./bench/benchserver")
	p := Start(t, Options{Ready: listeningReady, PinCPU: pin}, append([]string{bin, "-mode", mode}, args...)...)
	return p, p.Match[1]
}

var oidcReady = regexp.MustCompile(`^\{"issuer":"(http://127\.0\.0\.1:\d+)"\}$`)

// OIDCProvider is the oidc-provider peer started by StartOIDCProvider.
type OIDCProvider struct {
	*Process
	Issuer string
	// CC is its pre-registered client_credentials client.
	CC *Client
}

// StartOIDCProvider runs bench/oidc-provider.mjs with Node 22 from test/node_modules, issuing
// tokens for resource.
func StartOIDCProvider(t testing.TB, pin int, resource string) *OIDCProvider {
	t.Helper()
	node := testenv.Node(t)
	secret := rand.Text() + rand.Text()
	script := filepath.Join(testenv.RepoRoot(t), "bench", "oidc-provider.mjs")
	p := Start(t, Options{Ready: oidcReady, PinCPU: pin, Env: []string{"NODE_ENV=production"}},
		node, script, "--node-modules", testenv.NodeModules(t), "--resource", resource, "--cc-secret", secret)
	return &OIDCProvider{Process: p, Issuer: p.Match[1], CC: &Client{ID: "bench-cc", Secret: secret}}
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input([^>]*)>`)
	attrRE  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// AuthorizeWithForms runs an authorization request through login and consent forms (those of
// oidc-provider's devInteractions, which accept any password) as a browser would: it follows
// redirects with a cookie jar and submits each form until the server redirects to the client.
func (as *AS) AuthorizeWithForms(ctx context.Context, c *Client, scope, login string) (code, verifier string, err error) {
	authURL, state, verifier := as.AuthorizationURL(c, scope)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: as.HTTP.Transport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), RedirectURI) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	for range 6 {
		resp, err := browser.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("authorize: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, RedirectURI) {
			code, err := codeFromRedirect(loc, state, as.Metadata.Issuer)
			return code, verifier, err
		}
		m := formRE.FindSubmatch(body)
		if m == nil {
			return "", "", &StatusError{Op: "authorize (no form)", Status: resp.StatusCode}
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			return "", "", err
		}
		form := url.Values{}
		for _, in := range inputRE.FindAllSubmatch(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllSubmatch(in[1], -1) {
				attrs[string(a[1])] = html.UnescapeString(string(a[2]))
			}
			switch name := attrs["name"]; name {
			case "":
			case "login":
				form.Set(name, login)
			case "password":
				form.Set(name, "any")
			default:
				form.Set(name, attrs["value"])
			}
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return "", "", fmt.Errorf("authorize: too many forms")
}

// JWTHeader decodes the JOSE header of a compact JWS (for checks of alg and typ).
func JWTHeader(token string) (map[string]any, error) {
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, fmt.Errorf("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
