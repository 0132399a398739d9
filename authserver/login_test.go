package authserver_test

import (
	"errors"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	resp, body := do(b.t, b.c, req)
	return resp, string(body)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := do(b.t, b.c, req)
	return resp, string(body)
}

var hiddenRE = regexp.MustCompile(`name="(csrf|request)" value="([^"]*)"`)

// hidden returns the hidden fields of a page's form.
func hidden(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf") == "" || v.Get("request") == "" {
		t.Fatalf("no form in page:\n%s", page)
	}
	return v
}

// formSignIn opens the authorization URL in b, submits the login form as user (password
// "password-of-USER") and returns the page that follows (the consent page).
func formSignIn(t *testing.T, b *browser, as *testAS, authz, user string) string {
	t.Helper()
	_, page := b.get(authz)
	form := hidden(t, page)
	form.Set("username", user)
	form.Set("password", "password-of-"+user)
	_, page = b.post(as.URL+"/login", form)
	return page
}

func addUser(t *testing.T, as *testAS, name, password string, scopes ...string) {
	t.Helper()
	if _, err := as.Admin().AddUser(t.Context(), name, password, scopes); err != nil {
		t.Fatal(err)
	}
}

// TestLoginAndConsent walks the pages over HTTP: login page, wrong password, login, consent
// page (client name, redirect host, scopes, localhost warning), approve, code; the second
// authorization skips consent; a denial redirects access_denied.
func TestLoginAndConsent(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "alice", "correct horse battery", "weather:read")
	id := publicClient(t, as)
	b := newBrowser(t)
	verifier, challenge := pkce()
	authz := authorizeURL(as, codeParams(id, challenge))

	resp, page := b.get(authz)
	if resp.StatusCode != 200 || !strings.Contains(page, "Sign in") || !strings.Contains(page, "Test Client") {
		t.Fatalf("login page: %d %s", resp.StatusCode, page)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || strings.Contains(page, "<script") {
		t.Fatal("login page: missing frame-ancestors or has a script")
	}
	form := hidden(t, page)
	form.Set("username", "alice")
	form.Set("password", "wrong password")
	resp, page = b.post(as.URL+"/login", form)
	if resp.StatusCode != 401 || !strings.Contains(page, "Wrong username or password") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, page)
	}
	form = hidden(t, page)
	form.Set("username", "alice")
	form.Set("password", "correct horse battery")
	resp, page = b.post(as.URL+"/login", form)
	if resp.StatusCode != 200 || !strings.Contains(page, "Authorize Test Client") || !strings.Contains(page, "weather:read") ||
		!strings.Contains(page, "127.0.0.1:43210") || !strings.Contains(page, `id="localhost-warning"`) || !strings.Contains(page, `id="unverified"`) {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	form = hidden(t, page)
	form.Set("action", "approve")
	resp, _ = b.post(as.URL+"/consent", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" || loc.Query().Get("iss") != as.URL || loc.Query().Get("state") != "st-123" {
		t.Fatalf("approve: %d %s", resp.StatusCode, loc)
	}
	if status, tok := tokenRequest(t, as, codeForm(id, loc.Query().Get("code"), verifier)); status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}

	// Consent is remembered: the next authorization goes straight back with a code.
	_, challenge = pkce()
	if q := getRedirect(t, b.c, authorizeURL(as, codeParams(id, challenge))); q.Get("code") == "" {
		t.Fatalf("second authorization: %v", q)
	}
	// ... but not for a scope not consented to; the user cannot grant stocks:read at all, so
	// a request for it alone is denied.
	p := codeParams(id, challenge)
	p.Set("scope", "stocks:read")
	if q := getRedirect(t, b.c, authorizeURL(as, p)); q.Get("error") != "access_denied" {
		t.Fatalf("scope the user may not grant: %v", q)
	}
	ev := strings.Join(as.Audit.events(), ",")
	for _, want := range []string{"login.failed", "login.succeeded", "consent.granted", "code.issued"} {
		if !strings.Contains(ev, want) {
			t.Errorf("audit event %s missing from %s", want, ev)
		}
	}
	if strings.Contains(as.Audit.text(), "correct horse battery") || strings.Contains(as.Audit.text(), loc.Query().Get("code")) {
		t.Fatal("a password or code reached the log")
	}
	// A password typed into the username field does not reach the log either.
	b2 := newBrowser(t)
	_, page = b2.get(authorizeURL(as, codeParams(id, challenge)))
	form = hidden(t, page)
	form.Set("username", "my-secret-password")
	form.Set("password", "x")
	if resp, _ := b2.post(as.URL+"/login", form); resp.StatusCode != 401 {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	if strings.Contains(as.Audit.text(), "my-secret-password") {
		t.Fatal("a failed username reached the log")
	}
}

// TestSwitchUser: "Not you?" on the consent page ends the session and shows the login page for
// the same request.
func TestSwitchUser(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "frank", "password-of-frank", "weather:read")
	id := publicClient(t, as)
	b := newBrowser(t)
	_, challenge := pkce()
	page := formSignIn(t, b, as, authorizeURL(as, codeParams(id, challenge)), "frank")
	if !strings.Contains(page, "switch-user") {
		t.Fatalf("no switch-user form on the consent page:\n%s", page)
	}
	resp, page := b.post(as.URL+"/logout", hidden(t, page))
	if resp.StatusCode != 200 || !strings.Contains(page, "Sign in") {
		t.Fatalf("logout: %d %s", resp.StatusCode, page)
	}
	// The session is gone: the authorization request shows the login page again.
	if _, page := b.get(authorizeURL(as, codeParams(id, challenge))); !strings.Contains(page, `id="signin"`) {
		t.Fatalf("after logout:\n%s", page)
	}
}

func TestConsentDenied(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "bob", "password-of-bob", "weather:read", "stocks:read")
	id := publicClient(t, as)
	b := newBrowser(t)
	_, challenge := pkce()
	page := formSignIn(t, b, as, authorizeURL(as, codeParams(id, challenge)), "bob")
	form := hidden(t, page)
	form.Set("action", "deny")
	resp, _ := b.post(as.URL+"/consent", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if q := loc.Query(); resp.StatusCode != 302 || q.Get("error") != "access_denied" || q.Get("iss") != as.URL || q.Get("code") != "" {
		t.Fatalf("deny: %d %s", resp.StatusCode, loc)
	}
	// Nothing was remembered: prompt=none now says consent_required.
	p := codeParams(id, challenge)
	p.Set("prompt", "none")
	if q := getRedirect(t, b.c, authorizeURL(as, p)); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none after a denial: %v", q)
	}
}

// TestFormsNeedCSRFToken: a login or consent POST without the browser's CSRF cookie and token
// is refused.
func TestFormsNeedCSRFToken(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "carol", "password-of-carol", "weather:read")
	id := publicClient(t, as)
	_, challenge := pkce()
	b := newBrowser(t)
	_, page := b.get(authorizeURL(as, codeParams(id, challenge)))
	form := hidden(t, page)
	form.Set("username", "carol")
	form.Set("password", "password-of-carol")

	attacker := newBrowser(t) // no CSRF cookie
	if resp, _ := attacker.post(as.URL+"/login", form); resp.StatusCode != 403 {
		t.Fatalf("login without the CSRF cookie: %d", resp.StatusCode)
	}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("csrf", "forged")
	if resp, _ := b.post(as.URL+"/login", bad); resp.StatusCode != 403 {
		t.Fatalf("login with a forged token: %d", resp.StatusCode)
	}
	if resp, _ := b.post(as.URL+"/login", form); resp.StatusCode != 200 {
		t.Fatalf("login with the right token: %d", resp.StatusCode)
	}
}

func TestPromptNoneWithoutSession(t *testing.T) {
	as := newTestAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	p := codeParams(id, challenge)
	p.Set("prompt", "none")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != "login_required" || q.Get("iss") != as.URL {
		t.Fatalf("prompt=none: %v", q)
	}
}

// TestSessionCookieAttributes: HttpOnly and SameSite=Lax always; on an https issuer the
// __Host- prefix and Secure.
func TestSessionCookieAttributes(t *testing.T) {
	for _, issuerHTTPS := range []bool{false, true} {
		as := newTestAS(t, func(c *authserver.Config) {
			if issuerHTTPS {
				c.Issuer = "https://as.example.com"
			}
		})
		addUser(t, as, "dave", "password-of-dave", "weather:read")
		c, _, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{Name: "static", RedirectURIs: []string{loopback}})
		if err != nil {
			t.Fatal(err)
		}
		id := c.ID
		_, challenge := pkce()
		h := as.Handler()
		u := "/authorize?" + codeParams(id, challenge).Encode()
		rec := httptestGet(h, u)
		csrfCookie := rec.Result().Cookies()[0]
		form := hidden(t, rec.Body.String())
		form.Set("username", "dave")
		form.Set("password", "password-of-dave")
		req := httptestPost("/login", form)
		req.AddCookie(csrfCookie)
		rec = serve(h, req)
		var session *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if strings.Contains(c.Name, "mcpauth_session") {
				session = c
			}
		}
		if session == nil {
			t.Fatalf("https=%v: no session cookie (%d)", issuerHTTPS, rec.Code)
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
			t.Errorf("https=%v: session cookie %+v", issuerHTTPS, session)
		}
		if issuerHTTPS != (strings.HasPrefix(session.Name, "__Host-") && session.Secure) {
			t.Errorf("https=%v: cookie name %s secure %v", issuerHTTPS, session.Name, session.Secure)
		}
	}
}

// TestPasswordChangeAndUserRemoval: after SetPassword only the new password works and earlier
// sessions have ended; after
// RemoveUser the user cannot sign in and their grants are revoked.
func TestPasswordChangeAndUserRemoval(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "hana", "first-password", "weather:read")
	id := publicClient(t, as)
	_, challenge := pkce()
	authz := authorizeURL(as, codeParams(id, challenge))
	try := func(password string) int {
		b := newBrowser(t)
		_, page := b.get(authz)
		form := hidden(t, page)
		form.Set("username", "hana")
		form.Set("password", password)
		resp, _ := b.post(as.URL+"/login", form)
		return resp.StatusCode
	}
	// A browser signed in before the change is signed out by it.
	signedIn := newBrowser(t)
	_, page := signedIn.get(authz)
	form := hidden(t, page)
	form.Set("username", "hana")
	form.Set("password", "first-password")
	if _, page = signedIn.post(as.URL+"/login", form); !strings.Contains(page, "approve") {
		t.Fatalf("login: %s", page)
	}
	if err := as.Admin().SetPassword(t.Context(), "hana", "second-password"); err != nil {
		t.Fatal(err)
	}
	if _, page = signedIn.get(authz); !strings.Contains(page, `id="signin"`) {
		t.Fatalf("the session survived a password change:\n%s", page)
	}
	if try("first-password") != 401 || try("second-password") != 200 {
		t.Fatal("the password change did not take effect")
	}
	if err := as.Admin().SetPassword(t.Context(), "hana", "short"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if err := as.Admin().RemoveUser(t.Context(), "hana"); err != nil {
		t.Fatal(err)
	}
	if try("second-password") != 401 {
		t.Fatal("a removed user signed in")
	}
	if err := as.Admin().RemoveUser(t.Context(), "hana"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
}
