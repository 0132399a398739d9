// The go-sdk auth.OAuthHandler interface, for callers that build their own go-sdk transport.

package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"
)

// ErrNoToken is returned by TokenSource().Token when no token has been obtained yet.
var ErrNoToken = errors.New("no access token yet: the server has not asked for authorization")

// tokenTimeout bounds a refresh made by the shared token source, which has no context of
// its own.
const tokenTimeout = time.Minute

// OAuthHandler returns a go-sdk auth.OAuthHandler backed by this Client: TokenSource
// returns one shared, cached token source, and Authorize refreshes or authorizes once
// however many requests fail at the same time.
func (c *Client) OAuthHandler() auth.OAuthHandler { return oauthHandler{c} }

// TokenSource returns the Client's token source. Its Token method returns the current
// token, refreshing it when it is about to expire, or ErrNoToken before the first
// authorization; it never starts an interactive authorization (use Client.Token for that).
func (c *Client) TokenSource() oauth2.TokenSource { return tokenSource{c} }

type tokenSource struct{ c *Client }

func (s tokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	t, err := s.c.token(ctx)
	if err == nil && t == nil {
		err = ErrNoToken
	}
	return t, err
}

type oauthHandler struct{ c *Client }

// TokenSource returns the shared token source, or nil before the first authorization (the
// go-sdk transport then sends the request without a token).
func (h oauthHandler) TokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	t, err := h.c.token(ctx)
	if err != nil || t == nil {
		return nil, err
	}
	return h.c.TokenSource(), nil
}

// Authorize handles a 401 or 403 response: it refreshes or runs the authorization flow,
// unless another request already did.
func (h oauthHandler) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer drain(resp)
	used, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	return h.c.handleRefusal(ctx, used, resp, &operation{background: req.Method != http.MethodPost})
}
