// The authorization flow of the MCP specification ("Authorization Flow Steps"): which token
// a request carries, and what a 401 or 403 insufficient_scope leads to.

package client

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/wwwauth"
	"golang.org/x/oauth2"
)

// expirySkew is how long before its expiry a token is refreshed.
const expirySkew = 30 * time.Second

// state is what a Client knows; it is read and changed only under Client.lock.
type state struct {
	loaded       bool
	entry        *Entry     // credentials in use; Key.Issuer is their issuer
	disc         *discovery // nil until discovery ran
	discFailure  *discoveryFailure
	denied       error  // a refused authorization: not asked again
	bgRefused    string // an access token a background request found refused even after a refresh
	reregistered bool   // a dynamic registration was replaced after invalid_client
	storeLocked  bool   // this Client holds the store's cross-process lock (lock.go)
}

// refusal is what a 401 or 403 response says.
type refusal struct {
	status      int
	challenges  []Challenge
	errCode     string   // error= of the Bearer challenge
	scopes      []string // scope= of the Bearer challenge
	metadataURL string   // resource_metadata= of the Bearer challenge
}

func parseRefusal(resp *http.Response) refusal {
	r := refusal{status: resp.StatusCode}
	parsed, _ := wwwauth.Parse(resp.Header.Values("WWW-Authenticate")) // keep what parsed
	for _, pc := range parsed {
		r.challenges = append(r.challenges, Challenge{Scheme: pc.Scheme, Params: pc.Params})
	}
	if b, ok := wwwauth.Find(parsed, "Bearer"); ok {
		r.errCode = b.Params["error"]
		r.scopes = strings.Fields(b.Params["scope"])
		r.metadataURL = b.Params["resource_metadata"]
	}
	return r
}

func (r refusal) required(err error) *AuthorizationRequiredError {
	return &AuthorizationRequiredError{StatusCode: r.status, Challenges: r.challenges, Err: err}
}

// acquire takes the client lock, or gives up when ctx ends.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.lock }

// fresh reports whether t can be sent now.
func (c *Client) fresh(t *oauth2.Token) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || t.Expiry.After(c.now().Add(expirySkew)))
}

// loadLocked reads stored credentials for the server once: the most recent entry usable
// with this configuration.
func (c *Client) loadLocked(ctx context.Context) {
	if c.state.loaded {
		return
	}
	c.state.loaded = true
	entries, err := c.store.List(ctx, c.server.String())
	if err != nil {
		c.log.Warn("mcpauth: reading stored credentials", "err", err)
		return
	}
	for _, e := range entries {
		if c.cfg.Issuer != "" && e.Issuer != c.cfg.Issuer {
			continue
		}
		if c.cfg.ClientID != "" && (e.Registration == nil || e.Registration.ClientID != c.cfg.ClientID) {
			continue
		}
		if c.cfg.ClientID == "" && e.Registration != nil && !e.Registration.Dynamic &&
			e.Registration.ClientID != c.cfg.ClientMetadataURL && !c.reusableMetadataDocument(e.Registration) {
			continue // a pre-registered client, or another metadata document, of another configuration
		}
		c.state.entry = e
		return
	}
}

// token returns the access token to send, refreshing it when it is about to expire. It
// returns nil when there is none yet: the request goes without, and the server's 401
// starts the authorization.
func (c *Client) token(ctx context.Context) (*oauth2.Token, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	c.loadLocked(ctx)
	e := c.state.entry
	if e == nil || e.Token == nil {
		return nil, nil
	}
	if c.fresh(e.Token) {
		return e.Token, nil
	}
	if e.Token.RefreshToken != "" && e.TokenEndpoint != "" && e.Registration != nil {
		if err := c.refreshLocked(ctx); err == nil {
			return c.state.entry.Token, nil
		} else if !isTokenError(err) {
			return nil, err
		}
	}
	if c.cfg.GrantType == ClientCredentials && c.state.disc != nil {
		if err := c.obtainLocked(ctx, c.state.entry.Scopes); err != nil {
			return nil, err
		}
		return c.state.entry.Token, nil
	}
	return nil, nil
}

// operation is what one request has already done to recover from refusals.
type operation struct {
	background     bool // not a POST: refresh, but never ask the user
	refreshed      bool
	authorized     bool // ran a full authorization
	authorizations int
}

// handleRefusal handles a 401 or 403 response to a request sent with the access token used
// ("" for none). It returns nil when the request should be retried with the new token:
// another request already got one, or a refresh or an authorization got one now.
func (c *Client) handleRefusal(ctx context.Context, used string, resp *http.Response, op *operation) error {
	r := parseRefusal(resp)
	if r.status == http.StatusForbidden && r.errCode != "insufficient_scope" {
		return r.required(nil) // not a token problem: nothing to step up to
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	c.loadLocked(ctx)
	if c.state.denied != nil {
		return c.state.denied
	}
	e := c.state.entry
	if e != nil && e.Token != nil && e.Token.AccessToken != used && c.fresh(e.Token) {
		return nil // another request already obtained a new token
	}
	var scopes []string
	if r.status == http.StatusUnauthorized {
		if op.background && used != "" && used == c.state.bgRefused {
			return r.required(errors.New("the token was refused on an earlier attempt too"))
		}
		if !op.refreshed && !op.authorized && e != nil && e.Token != nil && e.Token.RefreshToken != "" && e.TokenEndpoint != "" && e.Registration != nil {
			op.refreshed = true
			err := c.refreshLocked(ctx)
			if err == nil {
				return nil
			}
			if !isTokenError(err) {
				return err
			}
		}
		switch {
		case op.authorized:
			return r.required(errors.New("the server refused a token just obtained"))
		case op.background && c.cfg.GrantType != ClientCredentials: // only a grant without the user may run in the background
			c.state.bgRefused = used // a retried stream does not refresh again for it
			return r.required(errors.New("the token was refused and could not be refreshed"))
		}
		d, err := c.discoverLocked(ctx, r.metadataURL)
		if err != nil {
			return err
		}
		scopes = c.selectScopes(r.scopes, d)
	} else {
		var granted []string
		if e != nil && e.Token != nil {
			granted = e.Scopes
		}
		if containsAll(granted, r.scopes) || op.background {
			return &InsufficientScopeError{Required: r.scopes, Granted: granted, Attempts: op.authorizations}
		}
		d, err := c.discoverLocked(ctx, r.metadataURL)
		if err != nil {
			return err
		}
		scopes = union(granted, r.scopes)
		if len(granted) == 0 {
			scopes = union(c.selectScopes(nil, d), r.scopes)
		}
	}
	op.authorized = true
	op.authorizations++
	return c.obtainLocked(ctx, scopes)
}

// Token returns a valid access token for the server, refreshing or authorizing (after
// discovery from the server's well-known metadata) when needed. It is for callers that
// make their own requests; Connect and HTTPClient do this on their own.
func (c *Client) Token(ctx context.Context) (*oauth2.Token, error) {
	t, err := c.token(ctx)
	if err != nil || t != nil {
		return t, err
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	if c.state.denied != nil {
		return nil, c.state.denied
	}
	d, err := c.discoverLocked(ctx, "")
	if err != nil {
		return nil, err
	}
	if err := c.obtainLocked(ctx, c.selectScopes(nil, d)); err != nil {
		return nil, err
	}
	return c.state.entry.Token, nil
}

// obtainLocked gets a new token from the discovered authorization server with the grant
// of the configuration, registering first when needed, and stores it. A grant with the user
// runs under the store's cross-process lock, so that of several processes sharing the store
// one registers and authorizes and the others, having waited, use what it stored.
func (c *Client) obtainLocked(ctx context.Context, scopes []string) error {
	if c.cfg.GrantType != ClientCredentials {
		unlock, err := c.lockStore(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	d := c.state.disc
	key := Key{Resource: c.server.String(), Issuer: d.as.Issuer}
	if c.adoptLoginLocked(ctx, key, scopes) {
		return nil
	}
	c.state.entry.TokenEndpoint = d.as.TokenEndpoint
	c.state.entry.ResourceIndicator = d.resource
	var err error
	switch c.cfg.GrantType {
	case ClientCredentials:
		err = c.clientCredentialsLocked(ctx, scopes)
	case DeviceCode:
		err = deviceGrant(ctx, c, scopes)
	default:
		err = c.authorizationCodeLocked(ctx, scopes)
	}
	if err != nil {
		var rd *UserDeniedError
		var re *AuthorizationResponseError
		if errors.As(err, &rd) || errors.As(err, &re) && re.fromServer {
			c.state.denied = err // the authorization server said no: asking again would ask the user again
		}
		return err
	}
	return nil
}

// adoptLoginLocked reads the stored entry of key (credentials are bound to their issuer:
// never another issuer's) and makes it current when it is newer than the current one. It
// reports whether its token, obtained by another process meanwhile, serves scopes as is.
func (c *Client) adoptLoginLocked(ctx context.Context, key Key, scopes []string) bool {
	prev := c.state.entry
	if prev != nil && prev.Key != key {
		prev = nil
	}
	stored, err := c.store.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			c.log.Warn("mcpauth: reading stored credentials", "err", err)
		}
		if prev == nil {
			c.state.entry = &Entry{Key: key}
		}
		return false
	}
	if prev != nil && !stored.Updated.After(prev.Updated) {
		c.state.entry = prev
		return false
	}
	c.state.entry = stored
	return stored.Token != nil && c.fresh(stored.Token) && stored.Registration != nil &&
		(prev == nil || prev.Token == nil || stored.Token.AccessToken != prev.Token.AccessToken) &&
		containsAll(stored.Scopes, scopes)
}

// deviceGrant obtains and stores a token with the RFC 8628 device authorization grant,
// under the client lock, like clientCredentialsLocked. device.go sets it; while it is nil,
// New refuses GrantType DeviceCode.
var deviceGrant func(ctx context.Context, c *Client, scopes []string) error

// saveLocked stores the current entry.
func (c *Client) saveLocked(ctx context.Context) {
	e := c.state.entry
	e.Updated = c.now()
	if err := c.store.Put(ctx, e); err != nil {
		c.log.Warn("mcpauth: storing credentials", "err", err)
	}
}

func isTokenError(err error) bool {
	var te *TokenError
	return errors.As(err, &te)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
