// Connecting to an MCP server over Streamable HTTP with OAuth (MCP authorization specification,
// "Authorization Flow Steps").

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Connect connects to cfg.ServerURL and returns an initialized MCP session whose requests
// carry a valid access token, authorizing (and registering) first when the server asks for
// it. It is New(cfg) followed by Client.Connect.
func Connect(ctx context.Context, cfg Config) (*mcp.ClientSession, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c.Connect(ctx, nil)
}

// Client holds the OAuth state for one MCP server: discovered metadata, the registration
// and the current token. Its methods are safe for concurrent use; whatever the number of
// goroutines, at most one refresh or authorization runs at a time.
type Client struct {
	cfg      Config
	server   serverURL
	rule     endpointRule // which endpoints may be sent requests (Config.AllowHTTP)
	base     *http.Client // sends OAuth requests (discovery, registration, token)
	post     *http.Client // base without following redirects: registration and token requests
	store    Store
	log      *slog.Logger
	stderr   io.Writer
	now      func() time.Time
	openURL  func(ctx context.Context, authURL string) error
	authHTTP *http.Client // sends MCP requests with the bearer token

	lock  chan struct{} // held by the goroutine reading or changing the state below
	state state
}

// New checks cfg and returns a Client. It makes no network request.
func New(cfg Config) (*Client, error) {
	rule := endpointRule{allowHTTP: cfg.AllowHTTP}
	server, err := parseServerURL(rule, cfg.ServerURL)
	if err != nil {
		return nil, err
	}
	if cfg.Resource != "" {
		if err := checkResourceIndicator(cfg.Resource); err != nil {
			return nil, err
		}
	}
	switch cfg.GrantType {
	case "":
		cfg.GrantType = AuthorizationCode
	case AuthorizationCode:
	case ClientCredentials:
		if cfg.ClientID == "" || (cfg.ClientSecret == "" && cfg.PrivateKey == nil) {
			return nil, errors.New("client credentials grant needs Config.ClientID and a ClientSecret or PrivateKey")
		}
	case DeviceCode:
		if deviceGrant == nil {
			return nil, errors.New("the device authorization grant is not available in this build")
		}
	default:
		return nil, fmt.Errorf("unknown grant type %q", cfg.GrantType)
	}
	switch cfg.TokenEndpointAuthMethod {
	case "", AuthNone, AuthClientSecretBasic, AuthClientSecretPost:
	case AuthPrivateKeyJWT:
		if cfg.PrivateKey == nil {
			return nil, errors.New("private_key_jwt needs Config.PrivateKey")
		}
	default:
		return nil, fmt.Errorf("unknown token endpoint auth method %q", cfg.TokenEndpointAuthMethod)
	}
	if cfg.ClientMetadataURL != "" {
		if err := checkClientMetadataURL(cfg.ClientMetadataURL); err != nil {
			return nil, err
		}
	}
	if cfg.ClientName == "" {
		cfg.ClientName = "mcpauth"
	}
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = "dev"
	}
	c := &Client{cfg: cfg, server: server, rule: rule, lock: make(chan struct{}, 1)}
	c.base = cfg.HTTPClient
	if c.base == nil {
		c.base = http.DefaultClient
	}
	// A redirected token or registration request would carry the code, secret or
	// assertion to wherever the redirect points: refuse them.
	post := *c.base
	post.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.post = &post
	c.store = cfg.Store
	if c.store == nil {
		dir, err := DefaultConfigDir()
		if err != nil {
			return nil, err
		}
		c.store = NewFileStore(dir)
	}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.stderr = cfg.Stderr
	if c.stderr == nil {
		c.stderr = os.Stderr
	}
	c.now = cfg.Now
	if c.now == nil {
		c.now = time.Now
	}
	c.openURL = cfg.OpenBrowser
	if c.openURL == nil {
		c.openURL = openSystemBrowser
	}
	c.authHTTP = &http.Client{
		Transport:     &transport{c: c, base: c.base.Transport},
		CheckRedirect: c.base.CheckRedirect,
		Jar:           c.base.Jar,
		Timeout:       c.base.Timeout,
	}
	return c, nil
}

// Connect opens an MCP session over Streamable HTTP. opts may be nil.
//
// The session's HTTP client is HTTPClient(), which adds the bearer token and handles 401
// and 403 itself, rather than go-sdk's auth.OAuthHandler hook: that hook allows one
// authorization per request, turns a final 401/403 into an untyped error and is not called
// for the standalone SSE GET. (OAuthHandler returns the hook for callers that want it.)
func (c *Client) Connect(ctx context.Context, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	mc := mcp.NewClient(&mcp.Implementation{Name: c.cfg.ClientName, Version: c.cfg.ClientVersion}, opts)
	return mc.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   c.server.String(),
		HTTPClient: c.authHTTP,
	}, nil)
}

// HTTPClient returns an *http.Client for requests to the MCP server: it adds the bearer
// token (only to requests for the server's origin), refreshes it before expiry, and on 401
// or 403 insufficient_scope refreshes or authorizes and retries, at most 3 authorizations
// per request. A refusal it cannot cure is returned as an error: *AuthorizationRequiredError
// or *InsufficientScopeError (or the authorization error that stopped it).
func (c *Client) HTTPClient() *http.Client { return c.authHTTP }

// ServerResource returns the canonical URI of the MCP server, the key of stored credentials.
func (c *Client) ServerResource() string { return c.server.String() }
