// The device authorization grant (RFC 8628) for a user whose browser is on another device:
// the client shows a code and a URL, the user approves elsewhere, the client polls.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauthwire"
)

func init() { deviceGrant = deviceAuthorizationLocked }

// devicePollUnit is the unit of the polling interval (RFC 8628 §3.2: seconds); tests shorten it.
var devicePollUnit = time.Second

// deviceRedirectURI is the redirect URI a dynamic registration needs; the device grant never
// redirects (RFC 8628 §3.4).
const deviceRedirectURI = "http://127.0.0.1" + callbackPath

// DeviceCodeExpiredError is the authorization server's expired_token (RFC 8628 §3.5): the user
// did not approve in time. Start the login again.
type DeviceCodeExpiredError struct{}

func (*DeviceCodeExpiredError) Error() string {
	return "the device code expired before the login was approved; run the login again"
}

// deviceAuthorizationLocked runs the device authorization grant and stores the token: it
// asks for a device code, shows the user code and verification URI on Config.Stderr, then
// polls the token endpoint at the interval, 5 seconds slower after each slow_down (§3.5).
func deviceAuthorizationLocked(ctx context.Context, c *Client, scopes []string) error {
	as := c.state.disc.as
	if as.DeviceAuthorizationEndpoint == "" {
		return &MetadataError{URL: as.Issuer, Reason: "no device_authorization_endpoint: this authorization server does not offer the device authorization grant (RFC 8628); log in with --no-browser instead"}
	}
	reg, err := c.registrationLocked(ctx, deviceRedirectURI)
	if err != nil {
		return err
	}
	da, err := c.requestDeviceCode(ctx, as.DeviceAuthorizationEndpoint, as.Issuer, reg, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "To authorize %s, open %s on any device and enter the code\n\n  %s\n\n", c.cfg.ClientName, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(c.stderr, "(or open %s)\n\n", da.VerificationURIComplete)
	}
	secs := da.Interval
	if secs <= 0 {
		secs = 5 // RFC 8628 §3.2: the default interval
	}
	interval := time.Duration(secs) * devicePollUnit
	deadline := c.now().Add(time.Duration(da.ExpiresIn) * devicePollUnit)
	form := url.Values{"grant_type": {string(DeviceCode)}, "device_code": {da.DeviceCode}}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the device login: %w", ctx.Err())
		case <-time.After(interval):
		}
		if da.ExpiresIn > 0 && c.now().After(deadline) {
			return &DeviceCodeExpiredError{}
		}
		err := c.tokenRequestLocked(ctx, form, scopes)
		var te *TokenError
		if !errors.As(err, &te) {
			return err // nil: the token is stored
		}
		switch te.Code {
		case "authorization_pending":
		case "slow_down":
			interval += 5 * devicePollUnit
			c.log.Debug("mcpauth: the authorization server asked to poll slower", "interval", interval)
		case "access_denied":
			return &UserDeniedError{Description: te.Description}
		case "expired_token":
			return &DeviceCodeExpiredError{}
		default:
			return err
		}
	}
}

// requestDeviceCode sends the device authorization request (RFC 8628 §3.1) with the resource
// parameter (RFC 8707 §2) and the client's authentication.
func (c *Client) requestDeviceCode(ctx context.Context, endpoint, issuer string, reg *Registration, scopes []string) (*oauthwire.DeviceAuthorizationResponse, error) {
	form := url.Values{"resource": {c.state.disc.resource}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	body, err := c.postForm(ctx, "device_authorization_endpoint", endpoint, issuer, reg, form)
	if err != nil {
		return nil, err
	}
	var da oauthwire.DeviceAuthorizationResponse
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: "device authorization response is not valid JSON: " + err.Error()}
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: "device authorization response lacks device_code, user_code or verification_uri"}
	}
	for _, u := range []string{da.VerificationURI, da.VerificationURIComplete} {
		if u == "" {
			continue
		}
		if _, err := c.rule.checkString(u); err != nil {
			return nil, &TokenError{StatusCode: http.StatusOK, Code: "invalid_response", Description: fmt.Sprintf("verification URI %q: %v", sanitize(u), err)}
		}
	}
	da.UserCode = sanitize(da.UserCode)
	return &da, nil
}
