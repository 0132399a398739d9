// The authorization code grant through a loopback redirect (RFC 6749 §4.1, RFC 8252 §7.3,
// RFC 8707 §2.1; MCP authorization specification, "Authorization Code Protection").

package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authTimeout bounds the wait for the user to finish in the browser.
const authTimeout = 10 * time.Minute

// callbackPath is the path of the loopback redirect URI.
const callbackPath = "/callback"

// authorizationCodeLocked runs the authorization code flow and stores the token. When the
// token endpoint rejects a dynamic registration as invalid_client, it registers again and
// restarts, once.
func (c *Client) authorizationCodeLocked(ctx context.Context, scopes []string) error {
	d := c.state.disc
	if d.as.AuthorizationEndpoint == "" {
		return &MetadataError{URL: d.as.Issuer, Reason: "no authorization_endpoint"}
	}
	authEP, err := c.rule.checkString(d.as.AuthorizationEndpoint)
	if err != nil {
		return &MetadataError{URL: d.as.Issuer, Reason: "authorization_endpoint: " + err.Error()}
	}
	for {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.cfg.RedirectPort))
		if err != nil {
			return fmt.Errorf("loopback redirect listener: %w", err)
		}
		redirectURI := fmt.Sprintf("http://127.0.0.1:%d%s", ln.Addr().(*net.TCPAddr).Port, callbackPath)
		reg, err := c.registrationLocked(ctx, redirectURI)
		if err != nil {
			ln.Close()
			return err
		}
		pk := newPKCE()
		code, err := c.authorizeInBrowser(ctx, ln, authEP, reg, redirectURI, scopes, pk)
		if err != nil {
			return err
		}
		form := url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {code},
			"redirect_uri":  {redirectURI},
			"code_verifier": {pk.verifier},
		}
		err = c.tokenRequestLocked(ctx, form, scopes)
		var te *TokenError
		if errors.As(err, &te) && te.Code == "invalid_client" && reg.Dynamic && !c.state.reregistered {
			c.log.Info("mcpauth: the authorization server no longer knows the registered client; registering again")
			c.state.reregistered = true
			c.state.entry.Registration = nil
			continue
		}
		return err
	}
}

// authorizeInBrowser sends the user to the authorization endpoint and returns the code the
// loopback callback receives. It closes ln.
func (c *Client) authorizeInBrowser(ctx context.Context, ln net.Listener, authEP *url.URL, reg *Registration, redirectURI string, scopes []string, pk pkce) (string, error) {
	d := c.state.disc
	state := randomString()
	u := *authEP
	q := u.Query() // parameters of the endpoint URL are kept (RFC 6749 §3.1)
	q.Set("response_type", "code")
	q.Set("client_id", reg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	q.Set("code_challenge", pk.challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("resource", d.resource)
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	u.RawQuery = q.Encode()
	authURL := u.String()

	results := make(chan callbackResult, 1)
	srv := &http.Server{
		Handler:           c.callbackHandler(state, results),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // lets the result page reach the browser
	}()

	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	if c.cfg.ReadRedirect != nil {
		go c.readPastedRedirect(ctx, state, c.state.disc.as, results)
	}
	fmt.Fprintf(c.stderr, "To authorize %s, open this URL in your browser:\n\n  %s\n\n", c.cfg.ClientName, authURL)
	if !c.cfg.NoBrowser {
		if err := c.openURL(ctx, authURL); err != nil {
			c.log.Warn("mcpauth: could not open a browser; open the URL by hand", "err", err)
		}
	}
	select {
	case r := <-results:
		return r.code, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the authorization callback: %w", ctx.Err())
	}
}

// readPastedRedirect delivers the authorization response in a redirect URL the user pasted.
func (c *Client) readPastedRedirect(ctx context.Context, state string, as *authServerMeta, results chan<- callbackResult) {
	raw, err := c.cfg.ReadRedirect(ctx)
	if err != nil {
		c.log.Debug("mcpauth: no pasted redirect URL", "err", err)
		return
	}
	res := callbackResult{err: &AuthorizationResponseError{Code: "invalid_request", Description: "the pasted text is not the redirect URL"}}
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.Path == callbackPath {
		res = parseCallback(u.Query(), state, as)
	}
	select {
	case results <- res:
	default: // the loopback listener answered first
	}
}

type callbackResult struct {
	code string
	err  error
}

// callbackHandler serves the loopback redirect URI: it validates the authorization response
// (state, iss, error) and shows a page telling the user they may close the tab.
func (c *Client) callbackHandler(state string, results chan<- callbackResult) http.Handler {
	as := c.state.disc.as
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != callbackPath {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		res := parseCallback(q, state, as)
		// A request with another state is not the answer to this authorization (a stale tab,
		// or a page probing loopback ports): it is refused without ending the wait.
		if q.Get("state") == state {
			select {
			case results <- res:
			default: // a result was delivered already
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, callbackPage, "Authorization failed", html.EscapeString(res.err.Error())+" You may close this tab.")
			return
		}
		fmt.Fprintf(w, callbackPage, "Authorization complete", "You may close this tab and return to "+html.EscapeString(c.cfg.ClientName)+".")
	})
}

const callbackPage = `<!doctype html><html><head><meta charset="utf-8"><title>mcpauth</title></head>
<body style="font-family:sans-serif;margin:4em"><h1>%s</h1><p>%s</p></body></html>
`

// parseCallback validates an authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207
// §2.4): the state first, then the issuer, then error or code.
func parseCallback(q url.Values, state string, as *authServerMeta) callbackResult {
	if q.Get("state") != state {
		return callbackResult{err: &AuthorizationResponseError{Code: "invalid_state", Description: "the state parameter does not match this authorization request"}}
	}
	if err := checkIss(as, q); err != nil {
		return callbackResult{err: err}
	}
	if code := q.Get("error"); code != "" {
		if code == "access_denied" {
			return callbackResult{err: &UserDeniedError{Description: q.Get("error_description")}}
		}
		return callbackResult{err: &AuthorizationResponseError{Code: code, Description: q.Get("error_description"), fromServer: true}}
	}
	code := q.Get("code")
	if code == "" {
		return callbackResult{err: &AuthorizationResponseError{Code: "invalid_response", Description: "the authorization response has no code"}}
	}
	return callbackResult{code: code}
}

// randomString returns 32 random bytes, base64url-encoded.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
