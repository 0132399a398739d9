package authserver_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// chromium starts headless Debian Chromium with a new, empty profile and JavaScript disabled,
// so every page must work as plain HTML forms. The browser stops when the test ends.
func chromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)...)
	t.Cleanup(cancelAlloc)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(bctx, noScript); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// callback is the client's loopback redirect endpoint: it records each authorization response
// and shows it, as a native MCP client's receiver would.
type callback struct {
	*httptest.Server
	mu        sync.Mutex
	responses []url.Values
}

func newCallback(t *testing.T) *callback {
	cb := &callback{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" { // e.g. the browser's /favicon.ico
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		cb.mu.Lock()
		cb.responses = append(cb.responses, q)
		cb.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(w, "<h1 id=result>Authorization failed: %s</h1>", html.EscapeString(e))
			return
		}
		fmt.Fprint(w, "<h1 id=result>Authorization complete</h1>")
	}))
	t.Cleanup(cb.Close)
	return cb
}

func (cb *callback) last(t *testing.T) url.Values {
	t.Helper()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.responses) == 0 {
		t.Fatal("the browser never reached the redirect URI")
	}
	return cb.responses[len(cb.responses)-1]
}

// text returns the text of the element with id on the current page, failing the test when it
// is missing.
func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("element #%s: %v", id, err)
	}
	return s
}

// submit clicks the button with id and waits for the page it leads to.
func submit(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		t.Fatalf("click #%s: %v", id, err)
	}
}

// signIn fills in the login form and submits it.
func signIn(t *testing.T, ctx context.Context, username, password string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Clear(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	if err != nil {
		t.Fatalf("fill in the login form: %v", err)
	}
	submit(t, ctx, "signin")
}

// TestBrowserLoginConsentToken drives real headless Chromium, JavaScript off, through the
// pages: a client registers (DCR), the user opens its authorization URL, mistypes the password
// and sees why, signs in, sees the consent page, approves; the browser lands on the client's
// redirect URI with a code, which the client exchanges for a token. A second authorization for
// a scope not yet consented to is denied on the consent page, and the browser lands on the
// redirect URI with access_denied. A wrong redirect URI is never followed.
func TestBrowserLoginConsentToken(t *testing.T) {
	ctx := chromium(t)
	as := newTestAS(t, nil)
	addUser(t, as, "alice", "correct horse battery", "weather:read", "stocks:read")
	cb := newCallback(t)
	redirectURI := cb.URL + "/callback"
	reg := register(t, as, map[string]any{
		"client_name": "Browser Test Client", "redirect_uris": []string{redirectURI}, "application_type": "native",
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	id := reg["client_id"].(string)
	verifier, challenge := pkce()
	params := codeParams(id, challenge)
	params.Set("redirect_uri", redirectURI)

	if err := chromedp.Do(ctx, chromedp.Navigate(authorizeURL(as, params))); err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil || !strings.Contains(page, "Sign in") || !strings.Contains(page, "Browser Test Client") || strings.Contains(page, "<script") {
		t.Fatalf("login page (%v):\n%s", err, page)
	}

	signIn(t, ctx, "alice", "not the password")
	if msg := text(t, ctx, "error"); !strings.Contains(msg, "Wrong username or password") {
		t.Fatalf("wrong password message: %q", msg)
	}
	signIn(t, ctx, "alice", "correct horse battery")
	if h := text(t, ctx, "scopes"); !strings.Contains(h, "weather:read") {
		t.Fatalf("consent page scopes: %q", h)
	}
	if w := text(t, ctx, "localhost-warning"); !strings.Contains(w, "this computer") {
		t.Fatalf("consent page localhost warning: %q", w)
	}
	submit(t, ctx, "approve")

	if r := text(t, ctx, "result"); r != "Authorization complete" {
		t.Fatalf("redirect page: %q", r)
	}
	q := cb.last(t)
	if q.Get("code") == "" || q.Get("state") != "st-123" || q.Get("iss") != as.URL {
		t.Fatalf("authorization response %v", q)
	}
	form := codeForm(id, q.Get("code"), verifier)
	form.Set("redirect_uri", redirectURI)
	status, tok := tokenRequest(t, as, form)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	if claims, _ := verifyJWT(t, as, tok["access_token"].(string)); claims["scope"] != "weather:read" || claims["aud"] != resourceA {
		t.Fatalf("claims %v", claims)
	}

	// Denied consent: alice is still signed in, so the consent page comes at once.
	_, challenge = pkce()
	params.Set("code_challenge", challenge)
	params.Set("scope", "stocks:read")
	params.Set("state", "st-456")
	if err := chromedp.Do(ctx, chromedp.Navigate(authorizeURL(as, params))); err != nil {
		t.Fatal(err)
	}
	if h := text(t, ctx, "scopes"); !strings.Contains(h, "stocks:read") {
		t.Fatalf("second consent page scopes: %q", h)
	}
	submit(t, ctx, "deny")
	if r := text(t, ctx, "result"); r != "Authorization failed: access_denied" {
		t.Fatalf("redirect page after denial: %q", r)
	}
	if q := cb.last(t); q.Get("error") != "access_denied" || q.Get("state") != "st-456" || q.Get("iss") != as.URL || q.Get("code") != "" {
		t.Fatalf("denied authorization response %v", q)
	}

	// No open redirect: a redirect URI one character off is not followed, even for a signed-in
	// user; the browser stays on the server's error page.
	params.Set("redirect_uri", redirectURI+"x")
	if err := chromedp.Do(ctx, chromedp.Navigate(authorizeURL(as, params))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loc, as.URL+"/authorize") {
		t.Fatalf("browser left the server for %s (%v)", loc, err)
	}
	if msg := text(t, ctx, "error"); !strings.Contains(msg, "not registered") {
		t.Fatalf("error page message: %q", msg)
	}
}

// TestBrowserHTTPSIssuer: on an https issuer, the real browser keeps the session and CSRF
// cookies under the __Host- prefix, Secure, HttpOnly and SameSite=Lax — a browser silently drops
// a __Host- cookie with the wrong attributes, which Go's cookie jar does not check — and a
// pre-registered client's user gets through login and consent to a code.
func TestBrowserHTTPSIssuer(t *testing.T) {
	// The test server's certificate is self-signed; only this test browser ignores that.
	ctx := chromium(t, chromedp.Flag("ignore-certificate-errors", true))
	front := httptest.NewUnstartedServer(nil)
	as := newTestAS(t, func(c *authserver.Config) { c.Issuer = "https://" + front.Listener.Addr().String() })
	front.Config.Handler = as.Handler()
	front.StartTLS()
	t.Cleanup(front.Close)
	addUser(t, as, "dora", "password-of-dora", "weather:read")
	cb := newCallback(t)
	client, _, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{Name: "HTTPS Test Client", RedirectURIs: []string{cb.URL + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	_, challenge := pkce()
	params := codeParams(client.ID, challenge)
	params.Set("redirect_uri", cb.URL+"/callback")

	if err := chromedp.Do(ctx, chromedp.Navigate(authorizeURL(as, params))); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, "dora", "password-of-dora")
	if h := text(t, ctx, "scopes"); !strings.Contains(h, "weather:read") {
		t.Fatalf("consent page scopes: %q", h)
	}
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{as.URL + "/"}})
		if err != nil {
			return nil, err
		}
		return res.Cookies, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cookies {
		names = append(names, c.Name)
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
			t.Errorf("cookie %s: secure=%v httpOnly=%v sameSite=%s path=%s", c.Name, c.Secure, c.HTTPOnly, c.SameSite, c.Path)
		}
	}
	if !slices.Contains(names, "__Host-mcpauth_session") {
		t.Fatalf("the browser holds no __Host- session cookie: %v", names)
	}
	submit(t, ctx, "approve")
	if q := cb.last(t); q.Get("code") == "" || q.Get("iss") != as.URL {
		t.Fatalf("authorization response %v", q)
	}
}
