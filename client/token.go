// Token requests: code exchange and refresh (RFC 6749 §4.1.3, §6, §5.1, §5.2), always with
// the resource parameter (RFC 8707 §2.2), and token endpoint client authentication (RFC 6749
// §2.3.1, RFC 7523 §2.2).

package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    *seconds `json:"expires_in"`
	RefreshToken string   `json:"refresh_token"`
	Scope        string   `json:"scope"`
}

// seconds is expires_in: a JSON number, or a string holding one (some servers send that).
type seconds int64

func (s *seconds) UnmarshalJSON(b []byte) error {
	if unq, err := strconv.Unquote(string(b)); err == nil {
		b = []byte(unq)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("expires_in is not a number of seconds")
	}
	*s = seconds(n)
	return nil
}

// oauthErrorBody is an OAuth error response (RFC 6749 §5.2, RFC 7591 §3.2.2).
type oauthErrorBody struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// tokenRequestLocked posts form to the token endpoint of the current entry and stores the
// token it returns. requested are the scopes asked for, recorded when the response does not
// name the granted ones.
func (c *Client) tokenRequestLocked(ctx context.Context, form url.Values, requested []string) error {
	e := c.state.entry
	tr, err := c.postToken(ctx, e, form)
	if err != nil {
		return err
	}
	old := e.Token
	t := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: "Bearer", RefreshToken: tr.RefreshToken}
	if tr.ExpiresIn != nil && *tr.ExpiresIn > 0 && *tr.ExpiresIn < math.MaxInt64/seconds(time.Second) {
		t.Expiry = c.now().Add(time.Duration(*tr.ExpiresIn) * time.Second)
	}
	if t.RefreshToken == "" && old != nil && form.Get("grant_type") == "refresh_token" {
		t.RefreshToken = old.RefreshToken // RFC 6749 §6: the old one stays valid
	}
	e.Token = t
	switch {
	case tr.Scope != "":
		e.Scopes = strings.Fields(tr.Scope)
	case form.Get("grant_type") != "refresh_token":
		e.Scopes = requested
	}
	c.saveLocked(ctx)
	return nil
}

// refreshLocked refreshes the current token. On invalid_grant the token is dropped; on
// invalid_client a dynamic registration is dropped too, to be replaced once.
func (c *Client) refreshLocked(ctx context.Context) error {
	unlock, err := c.lockStore(ctx) // one refresh at a time across processes too (lock.go, cli)
	if err != nil {
		return err
	}
	defer unlock()
	if c.adoptStoredLocked(ctx) {
		return nil
	}
	e := c.state.entry
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.Token.RefreshToken}}
	err = c.tokenRequestLocked(ctx, form, e.Scopes)
	if err == nil {
		c.log.Debug("mcpauth: token refreshed", "issuer", e.Issuer)
		return nil
	}
	var te *TokenError
	if errors.As(err, &te) {
		c.log.Info("mcpauth: refresh refused; authorization needed", "error", te.Code)
		e.Token = nil
		if te.Code == "invalid_client" && e.Registration != nil && e.Registration.Dynamic && !c.state.reregistered {
			c.state.reregistered = true
			e.Registration = nil
		}
		c.saveLocked(ctx)
	}
	return err
}

// adoptStoredLocked takes a newer entry another process sharing the store wrote, and
// reports whether its token can be used as is. With refresh token rotation the refresh token
// this Client holds may already be spent by that process.
func (c *Client) adoptStoredLocked(ctx context.Context) bool {
	e := c.state.entry
	stored, err := c.store.Get(ctx, e.Key)
	if err != nil || stored.Token == nil || stored.Registration == nil || !stored.Updated.After(e.Updated) {
		return false
	}
	c.state.entry = stored
	if stored.TokenEndpoint == "" {
		stored.TokenEndpoint = e.TokenEndpoint
	}
	return c.fresh(stored.Token)
}

// postToken sends one token request with the resource parameter and client authentication.
func (c *Client) postToken(ctx context.Context, e *Entry, form url.Values) (*tokenResponse, error) {
	if e.Registration == nil {
		return nil, errors.New("token request without a client registration")
	}
	resource := e.ResourceIndicator
	if resource == "" {
		resource = e.Resource
	}
	form.Set("resource", resource)
	body, err := c.postForm(ctx, "token_endpoint", e.TokenEndpoint, e.Issuer, e.Registration, form)
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: "token response is not valid JSON: " + err.Error()}
	}
	if tr.AccessToken == "" {
		return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: "token response has no access_token"}
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: fmt.Sprintf("token_type %q is not Bearer", sanitize(tr.TokenType))}
	}
	return &tr, nil
}

// postForm posts an OAuth request form (token or device authorization) to the endpoint named
// name of issuer, with the client authentication of reg and without following redirects,
// and returns the body of a 200 answer. Any other answer is a *TokenError (RFC 6749 §5.2).
func (c *Client) postForm(ctx context.Context, name, endpoint, issuer string, reg *Registration, form url.Values) ([]byte, error) {
	ep, err := c.rule.checkString(endpoint)
	if err != nil {
		return nil, &MetadataError{URL: issuer, Reason: name + ": " + err.Error()}
	}
	header := http.Header{}
	if err := c.authenticate(reg, issuer, form, header); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.post.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s request: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s response: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb oauthErrorBody
		json.Unmarshal(body, &eb) // a body that is not an OAuth error leaves Code empty
		secrets := requestSecrets(reg, form, header)
		return nil, &TokenError{StatusCode: resp.StatusCode, Code: redact(eb.Code, secrets), Description: redact(eb.Description, secrets)}
	}
	return body, nil
}

// secretParams are the request parameters that must never reach an error message.
var secretParams = []string{"code", "code_verifier", "refresh_token", "client_secret", "client_assertion", "device_code"}

// requestSecrets lists the secrets a request sends: the client secret (also when it travels
// base64-encoded in the Basic header), the Authorization header value, and the secret form
// parameters.
func requestSecrets(reg *Registration, form url.Values, header http.Header) []string {
	secrets := []string{reg.ClientSecret, strings.TrimPrefix(header.Get("Authorization"), "Basic ")}
	for _, k := range secretParams {
		secrets = append(secrets, form.Get(k))
	}
	return secrets
}

// redact removes from a server's error code or description any secret of the request it
// answers (a server may echo what it refused).
func redact(text string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return text
}

// authenticate adds the client authentication of reg to a token request.
func (c *Client) authenticate(reg *Registration, issuer string, form url.Values, header http.Header) error {
	switch reg.AuthMethod {
	case AuthClientSecretBasic:
		// RFC 6749 §2.3.1: both are form-encoded before base64.
		cred := url.QueryEscape(reg.ClientID) + ":" + url.QueryEscape(reg.ClientSecret)
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	case AuthClientSecretPost:
		form.Set("client_id", reg.ClientID)
		form.Set("client_secret", reg.ClientSecret)
	case AuthPrivateKeyJWT:
		assertion, err := c.clientAssertion(reg.ClientID, issuer)
		if err != nil {
			return err
		}
		form.Set("client_id", reg.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	default: // none: a public client identifies itself
		form.Set("client_id", reg.ClientID)
	}
	return nil
}
