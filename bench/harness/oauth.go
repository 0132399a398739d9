// The OAuth 2.1 flows a client runs against an authorization server (RFC 8414 discovery, RFC 7591
// registration, authorization code with PKCE S256 and RFC 8707 resource, refresh, client
// credentials), written directly over HTTP so that each request can be timed on its own.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// StatusError is an unexpected HTTP answer. Its text holds the status and the OAuth error code,
// never a token.
type StatusError struct {
	Op     string
	Status int
	Code   string // the OAuth "error" member; for an MCP request, the WWW-Authenticate challenge
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s", e.Op, e.Status, e.Code)
}

// AS is an authorization server as a client sees it.
type AS struct {
	HTTP     *http.Client
	Issuer   string
	Metadata struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RegistrationEndpoint  string `json:"registration_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	// Resource is the RFC 8707 resource every request names.
	Resource string
}

// Discover reads the server's metadata: RFC 8414, else OpenID Connect Discovery.
func Discover(ctx context.Context, hc *http.Client, issuer, resource string) (*AS, error) {
	as := &AS{HTTP: hc, Issuer: issuer, Resource: resource}
	var last error
	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		if last = as.do(ctx, "metadata", http.MethodGet, issuer+wk, nil, "", http.StatusOK, &as.Metadata); last == nil {
			if as.Metadata.Issuer != issuer {
				return nil, fmt.Errorf("metadata issuer %q, want %q", as.Metadata.Issuer, issuer)
			}
			return as, nil
		}
	}
	return nil, last
}

// do sends a request and decodes a JSON answer of status want into out (if not nil).
func (as *AS) do(ctx context.Context, op, method, u string, body io.Reader, contentType string, want int, out any, header ...string) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	req.Header.Set("Accept", "application/json")
	resp, err := as.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &StatusError{Op: op, Status: resp.StatusCode, Code: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// RedirectURI is the redirect URI of every client the harness registers. Nothing listens there:
// the flows read the code from the authorization server's Location header.
const RedirectURI = "http://127.0.0.1:9/callback"

// Client is a registered client.
type Client struct {
	ID, Secret string
}

// Register registers a public native client for the authorization code and refresh grants
// (RFC 7591 §3).
func (as *AS) Register(ctx context.Context, name string) (*Client, error) {
	body := registrationBody(name)
	var c struct {
		ClientID string `json:"client_id"`
	}
	if err := as.do(ctx, "register", http.MethodPost, as.Metadata.RegistrationEndpoint, bytes.NewReader(body), "application/json", http.StatusCreated, &c); err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("register: no client_id")
	}
	return &Client{ID: c.ClientID}, nil
}

// Tokens is a token response (RFC 6749 §5.1).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
}

// Token posts a token request; the client authenticates with Basic when it has a secret.
func (as *AS) Token(ctx context.Context, c *Client, form url.Values) (*Tokens, error) {
	body, header := as.tokenForm(c, form)
	var t Tokens
	op := "token " + form.Get("grant_type")
	err := as.do(ctx, op, http.MethodPost, as.Metadata.TokenEndpoint, strings.NewReader(body),
		"application/x-www-form-urlencoded", http.StatusOK, &t, header...)
	if err != nil {
		return nil, err
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("%s: no access_token", op)
	}
	return &t, nil
}

// tokenForm completes a token request's form with the resource (RFC 8707) and the client's
// authentication: HTTP Basic with a secret (RFC 6749 §2.3.1), else client_id. It returns the
// encoded form and the header fields to send with it.
func (as *AS) tokenForm(c *Client, form url.Values) (body string, header []string) {
	if as.Resource != "" {
		form.Set("resource", as.Resource)
	}
	if c.Secret != "" {
		header = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(c.ID)+":"+url.QueryEscape(c.Secret)))}
	} else {
		form.Set("client_id", c.ID)
	}
	return form.Encode(), header
}

// ClientCredentials runs the client_credentials grant (OAuth 2.1 §4.2).
func (as *AS) ClientCredentials(ctx context.Context, c *Client, scope string) (*Tokens, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return as.Token(ctx, c, form)
}

// Refresh runs the refresh_token grant (OAuth 2.1 §4.3).
func (as *AS) Refresh(ctx context.Context, c *Client, refreshToken string) (*Tokens, error) {
	return as.Token(ctx, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// Exchange redeems an authorization code (OAuth 2.1 §4.1.3).
func (as *AS) Exchange(ctx context.Context, c *Client, code, verifier string) (*Tokens, error) {
	return as.Token(ctx, c, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {RedirectURI}})
}

// AuthorizationURL builds an authorization request with PKCE S256 (RFC 7636) and returns it with
// its state and code verifier.
func (as *AS) AuthorizationURL(c *Client, scope string) (authURL, state, verifier string) {
	verifier, state = rand.Text()+rand.Text(), rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {RedirectURI}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	if as.Resource != "" {
		q.Set("resource", as.Resource)
	}
	return as.Metadata.AuthorizationEndpoint + "?" + q.Encode(), state, verifier
}

// Authorize runs an authorization request that the server approves at once (mcpauth serve
// --dev-login): the first answer is the redirect to the client with the code. It checks state
// and the RFC 9207 iss.
func (as *AS) Authorize(ctx context.Context, c *Client, scope string) (code, verifier string, err error) {
	authURL, state, verifier := as.AuthorizationURL(c, scope)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := as.HTTP.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("authorize: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", "", &StatusError{Op: "authorize", Status: resp.StatusCode}
	}
	code, err = codeFromRedirect(resp.Header.Get("Location"), state, as.Metadata.Issuer)
	return code, verifier, err
}

// codeFromRedirect reads the code from the redirect to the client, checking state and iss.
func codeFromRedirect(location, state, issuer string) (string, error) {
	loc, err := url.Parse(location)
	if err != nil || !strings.HasPrefix(location, RedirectURI) {
		return "", fmt.Errorf("authorize: redirected elsewhere than the client")
	}
	q := loc.Query()
	switch {
	case q.Get("error") != "":
		return "", &StatusError{Op: "authorize", Status: http.StatusFound, Code: q.Get("error")}
	case q.Get("state") != state:
		return "", fmt.Errorf("authorize: state mismatch")
	case q.Has("iss") && q.Get("iss") != issuer:
		return "", fmt.Errorf("authorize: iss mismatch")
	case q.Get("code") == "":
		return "", fmt.Errorf("authorize: no code")
	}
	return q.Get("code"), nil
}
