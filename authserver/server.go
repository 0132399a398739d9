// Package authserver is an OAuth 2.1 authorization server (draft-ietf-oauth-v2-1) for the Model
// Context Protocol's authorization spec: RFC 8414 metadata, RFC 7591/7592 dynamic client
// registration, Client ID Metadata Documents, login and consent pages, PKCE S256 (RFC 7636),
// RFC 8707 resource indicators bound into RFC 9068 JWT access tokens, refresh token rotation,
// RFC 7009 revocation and RFC 7662 introspection, on a store.Store (SQLite or PostgreSQL).
//
// A request travels: client registers (dcr.go) or is identified by a metadata document URL
// (cimd.go) → /authorize (authorize.go: client, redirect URI, PKCE, resource and scope checks;
// login.go and consent.go pages, or devlogin.go) → /token (token.go: code redemption, refresh
// rotation, client credentials; jwt.go signs with keys.go) → the resource server verifies the
// token with the keys published at jwks.go.
package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// RegistrationPolicy says who may register clients through RFC 7591 dynamic registration.
type RegistrationPolicy string

const (
	// RegistrationOpen lets any client register itself (the open-ecosystem default).
	RegistrationOpen RegistrationPolicy = "open"
	// RegistrationToken requires the initial access token of RFC 7591 §3 as a bearer token.
	RegistrationToken RegistrationPolicy = "token"
	// RegistrationClosed refuses dynamic registration: only pre-registered clients (and Client ID
	// Metadata Document clients, unless DisableCIMD) can obtain tokens.
	RegistrationClosed RegistrationPolicy = "closed"
)

// Resource is a protected resource (an MCP server) this authorization server issues tokens for.
type Resource struct {
	// URI is the canonical resource identifier (RFC 8707 §2, RFC 9728 "resource"), e.g.
	// https://mcp.example.com/mcp; access tokens for it carry it as "aud".
	URI string
	// Scopes are the scopes the resource understands.
	Scopes []string
}

// Config configures a Server. Issuer, Store, Resources and KeyEncryptionKey are required; every
// other field has a safe default.
type Config struct {
	// Issuer is the issuer identifier (RFC 8414 §2): an https URL without query or fragment,
	// or http on a loopback host (127.0.0.1, [::1], localhost) for local use. Every endpoint
	// lives under it.
	Issuer string
	Store  store.Store
	// Resources are the resources this server issues tokens for.
	Resources []Resource
	// KeyEncryptionKey (32 bytes, see LoadKey) encrypts signing keys at rest and keys the
	// hashes of client secrets; every instance sharing a store needs the same one.
	KeyEncryptionKey []byte

	// RegistrationPolicy defaults to RegistrationOpen.
	RegistrationPolicy RegistrationPolicy
	// InitialAccessToken is required with RegistrationToken.
	InitialAccessToken string
	// RegistrationRate is how many registrations one source address may make per minute
	// (burst the same); default 10.
	RegistrationRate int
	// LoginRate is how many sign-in attempts one source address may make per minute (burst the
	// same); default 20, negative means no limit. This limit, the registration limit, the client
	// authentication budgets below and the device page's limit of unknown user codes are
	// counted in the store, so every instance sharing it enforces one budget.
	LoginRate int
	// LoginLockoutFailures wrong passwords for one account from one network (an IPv4 address or
	// an IPv6 /64) within LoginLockoutWindow lock the account for that network for LoginLockout,
	// doubled at each further lock up to a day; meanwhile even its right password gets the
	// wrong-password page (audited as login.locked). A browser the user signed in with before
	// has a count of its own instead. LoginLockoutAccountFailures wrong passwords from all
	// networks together lock the account for every browser but those. Defaults: 10 failures
	// per network, 100 per account (NIST SP 800-63B §5.2.2's ceiling), a 15-minute window, 15
	// minutes; negative LoginLockoutFailures mean no lockout, negative
	// LoginLockoutAccountFailures no account-wide count. The counts are kept in the store, so
	// every instance sharing it enforces the same locks.
	LoginLockoutFailures        int
	LoginLockoutAccountFailures int
	LoginLockoutWindow          time.Duration
	LoginLockout                time.Duration
	// ClientAuthFailuresPerClient and ClientAuthFailuresPerAddress are how many failed client
	// authentications per minute (burst the same) one client_id and one source address may
	// have at the token, revocation, introspection and device authorization endpoints; beyond
	// them those endpoints answer 429 with Retry-After until the budget refills. Defaults 60
	// and 20: a client's budget larger than an address's, so that no single address can lock
	// a client out. Negative means no limit.
	ClientAuthFailuresPerClient  int
	ClientAuthFailuresPerAddress int
	// TrustedProxies are the reverse proxies (load balancers) in front of the server: for a
	// request from one of them, the client address used by the rate limits and the audit log
	// is taken from X-Forwarded-For. Empty means the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// DisableCIMD turns off Client ID Metadata Document client IDs.
	DisableCIMD bool
	// CIMD resolves Client ID Metadata Document client IDs; nil means a *CIMDFetcher with
	// production defaults (SSRF guard on).
	CIMD MetadataFetcher

	// DevLoginUser, when set, logs that user in and consents automatically (devlogin.go). It
	// requires a loopback ListenAddr and a loopback issuer.
	DevLoginUser string
	// ListenAddr is the address the server listens on; New checks it for DevLoginUser and an
	// http issuer (both need loopback).
	ListenAddr string

	// Lifetimes; zero means the default in parentheses.
	AccessTokenTTL   time.Duration // access tokens (1h)
	RefreshTokenTTL  time.Duration // idle lifetime of a refresh token (30 days)
	GrantTTL         time.Duration // absolute lifetime of a refresh token family (90 days)
	CodeTTL          time.Duration // authorization codes (1 min)
	SessionTTL       time.Duration // login sessions (12h)
	ClientIdleExpiry time.Duration // self-registered clients unused this long are deleted (30 days)
	KeyRotation      time.Duration // how long a signing key signs (30 days)

	// RequestTimeout bounds the work on one request (zero: 15 s). Once it has passed (checked
	// every quarter of it, see deadline.go), what the request still waits for, the store above
	// all, is given up and the request answered with an error: a database that stops answering
	// (frozen, or gone silent in a failover) fails requests instead of holding them until its
	// connections time out, minutes later. It must leave room for a Client ID Metadata Document
	// fetch (5 s) and a store operation.
	RequestTimeout time.Duration

	// Logger receives audit events and errors; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// MetadataFetcher resolves a URL client_id to its Client ID Metadata Document, validated.
type MetadataFetcher interface {
	Fetch(ctx context.Context, clientID string) (*ClientMetadata, error)
}

// Server is the authorization server. Create it with New; serve Handler.
type Server struct {
	cfg     Config
	issuer  *url.URL
	store   store.Store // cfg.Store behind the client cache
	clients *clientCache
	log     *slog.Logger
	keys    *keyring
	secrets secretHasher
	cimd    MetadataFetcher
	// The budgets below are counted in the store, shared by every instance (ratelimit.go).
	regLimit *limiter
	loginLim *limiter
	// clientAuthLim and clientAuthAddrLim count failed client authentications.
	clientAuthLim     *limiter
	clientAuthAddrLim *limiter
	// knownClientAddrs spares a client's addresses its spent budget; nil without one.
	knownClientAddrs *knownClientAddrs
	// userCodeLim counts each user's unknown device user codes (device.go).
	userCodeLim *limiter
	// lockPolicy and accountLockPolicy are the login lockout's per network (and per known
	// browser) and per account (lockout.go); Failures 0 means none.
	lockPolicy, accountLockPolicy store.LockoutPolicy
	resources                     map[string]Resource
	devUser                       *store.User
	deadlines                     *requestDeadlines // Config.RequestTimeout (deadline.go)

	stop     context.CancelFunc
	stopOnce sync.Once
	done     chan struct{}
}

// New checks cfg, prepares the signing keys and starts the janitor that removes expired records
// and unused self-registered clients. It stops when ctx is done or Close is called.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	iss, err := checkIssuer(cfg.Issuer, cfg.ListenAddr)
	if err != nil {
		return nil, err
	}
	if len(cfg.KeyEncryptionKey) != keySize {
		return nil, fmt.Errorf("authserver: KeyEncryptionKey must be %d bytes (see LoadKey)", keySize)
	}
	clients := newClientCache(cfg.Now)
	s := &Server{
		cfg:       cfg,
		issuer:    iss,
		store:     cachingStore{Store: cfg.Store, clients: clients},
		clients:   clients,
		log:       cfg.Logger,
		secrets:   newSecretHasher(cfg.KeyEncryptionKey),
		cimd:      cfg.CIMD,
		regLimit:  newLimiter("register/", cfg.RegistrationRate, time.Minute, cfg.Store, time.Now),
		loginLim:  newLimiter("login/", cfg.LoginRate, time.Minute, cfg.Store, time.Now),
		resources: map[string]Resource{},
		deadlines: newRequestDeadlines(cfg.RequestTimeout),
		done:      make(chan struct{}),
	}
	s.clientAuthLim = newLimiter("client/", cfg.ClientAuthFailuresPerClient, time.Minute, cfg.Store, s.now)
	s.clientAuthAddrLim = newLimiter("client-addr/", cfg.ClientAuthFailuresPerAddress, time.Minute, cfg.Store, s.now)
	if s.clientAuthLim != nil {
		s.knownClientAddrs = &knownClientAddrs{st: cfg.Store, now: s.now}
	}
	s.userCodeLim = newLimiter("user-code/", userCodeFailures, time.Minute, cfg.Store, s.now)
	if cfg.LoginLockoutFailures > 0 {
		s.lockPolicy = store.LockoutPolicy{Failures: cfg.LoginLockoutFailures, Window: cfg.LoginLockoutWindow,
			Lock: cfg.LoginLockout, MaxLock: max(maxLoginLockout, cfg.LoginLockout)}
		if cfg.LoginLockoutAccountFailures > 0 {
			s.accountLockPolicy = s.lockPolicy
			s.accountLockPolicy.Failures = cfg.LoginLockoutAccountFailures
		}
	}
	for _, r := range cfg.Resources {
		s.resources[r.URI] = r
	}
	switch {
	case cfg.DisableCIMD:
		s.cimd = nil
	case s.cimd == nil:
		s.cimd = NewCIMDFetcher(CIMDOptions{Validate: registrationValidation})
	}
	s.keys = newKeyring(cfg.Store, cfg.KeyEncryptionKey, cfg.KeyRotation, cfg.AccessTokenTTL, cfg.Now)
	if _, err := s.keys.signer(ctx); err != nil {
		return nil, fmt.Errorf("authserver: signing key: %w", err)
	}
	if cfg.DevLoginUser != "" {
		if s.devUser, err = s.checkDevLogin(ctx); err != nil {
			return nil, err
		}
	}
	jctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() {
		select {
		case <-ctx.Done():
		case <-jctx.Done():
		}
		stop()
	}()
	go s.janitor(jctx)
	go s.deadlines.run(jctx)
	return s, nil
}

func (c *Config) defaults() error {
	if c.Store == nil {
		return errors.New("authserver: Config.Store is required")
	}
	if len(c.Resources) == 0 {
		return errors.New("authserver: Config.Resources needs at least one resource")
	}
	for _, r := range c.Resources {
		u, err := url.Parse(r.URI)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("authserver: resource %q must be an absolute URI without fragment (RFC 8707 §2)", r.URI)
		}
		for _, sc := range r.Scopes {
			if !validScopeToken(sc) {
				return fmt.Errorf("authserver: resource %q has an invalid scope %q", r.URI, sc)
			}
		}
	}
	switch c.RegistrationPolicy {
	case "":
		c.RegistrationPolicy = RegistrationOpen
	case RegistrationOpen, RegistrationClosed:
	case RegistrationToken:
		if len(c.InitialAccessToken) < 16 {
			return errors.New("authserver: the token registration policy needs an InitialAccessToken of at least 16 characters")
		}
	default:
		return fmt.Errorf("authserver: unknown registration policy %q (open, token or closed)", c.RegistrationPolicy)
	}
	setDefault(&c.AccessTokenTTL, time.Hour)
	setDefault(&c.RefreshTokenTTL, 30*24*time.Hour)
	setDefault(&c.GrantTTL, 90*24*time.Hour)
	setDefault(&c.CodeTTL, time.Minute)
	setDefault(&c.SessionTTL, 12*time.Hour)
	setDefault(&c.ClientIdleExpiry, 30*24*time.Hour)
	setDefault(&c.KeyRotation, 30*24*time.Hour)
	setDefault(&c.RequestTimeout, 15*time.Second)
	if c.RegistrationRate <= 0 {
		c.RegistrationRate = 10
	}
	setDefaultCount(&c.LoginRate, 20)
	setDefaultCount(&c.LoginLockoutFailures, 10)
	setDefaultCount(&c.LoginLockoutAccountFailures, 100)
	setDefault(&c.LoginLockoutWindow, 15*time.Minute)
	setDefault(&c.LoginLockout, 15*time.Minute)
	setDefaultCount(&c.ClientAuthFailuresPerClient, 60)
	setDefaultCount(&c.ClientAuthFailuresPerAddress, 20)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// setDefaultCount sets a zero limit to v; a negative one (no limit) stays.
func setDefaultCount(n *int, v int) {
	if *n == 0 {
		*n = v
	}
}

// maxLoginLockout bounds the doubling of an account lock.
const maxLoginLockout = 24 * time.Hour

// checkIssuer enforces RFC 8414 §2: https, no query or fragment; http only on loopback, and then
// only when the server listens on loopback too.
func checkIssuer(issuer, listenAddr string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(u.Path, "/") {
		return nil, fmt.Errorf("authserver: issuer %q must be an absolute URL without query, fragment, userinfo or trailing slash (RFC 8414 §2)", issuer)
	}
	for _, seg := range strings.Split(strings.TrimPrefix(u.Path, "/"), "/") {
		if u.Path != "" && (seg == "" || strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") != "" || seg == "." || seg == "..") {
			return nil, fmt.Errorf("authserver: issuer path %q may only hold segments of letters, digits and -._~", u.Path)
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("authserver: issuer %q must use https (http only on a loopback host)", issuer)
		}
		if listenAddr != "" && !IsLoopbackAddr(listenAddr) {
			return nil, fmt.Errorf("authserver: an http issuer needs a loopback listen address, not %q", listenAddr)
		}
	default:
		return nil, fmt.Errorf("authserver: issuer %q must use https", issuer)
	}
	return u, nil
}

// IsLoopbackAddr reports whether a listen address (host:port) accepts connections only from
// this machine: its host is a loopback IP or "localhost". ":8080" and "0.0.0.0:8080" are not.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close stops the janitor. It does not close the store.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		s.stop()
		<-s.done
	})
	return nil
}

// janitor removes expired records and unused self-registered clients every few minutes.
func (s *Server) janitor(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep runs one round of the janitor.
func (s *Server) sweep(ctx context.Context) {
	now := s.now()
	if _, err := s.store.DeleteExpired(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Error("authserver: delete expired records", "err", err)
	}
	n, err := s.store.DeleteUnusedClients(ctx, now.Add(-s.cfg.ClientIdleExpiry))
	if err != nil && ctx.Err() == nil {
		s.log.Error("authserver: delete unused clients", "err", err)
	}
	if n > 0 {
		s.audit(ctx, "clients.expired", slog.Int("count", n))
	}
	for _, l := range []*limiter{s.regLimit, s.loginLim, s.clientAuthLim, s.clientAuthAddrLim, s.userCodeLim} {
		l.sweep()
	}
	s.knownClientAddrs.sweep()
	// At the earlier clock: the sign-in and registration budgets count on the wall clock.
	expired := now
	if t := time.Now(); t.Before(now) {
		expired = t
	}
	if _, err := s.store.DeleteExpiredRateCounts(ctx, expired); err != nil && ctx.Err() == nil {
		s.log.Error("authserver: delete expired rate counts", "err", err)
	}
	if _, err := s.store.DeleteExpiredClientAssertions(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Error("authserver: delete expired client assertions", "err", err)
	}
	if p := s.lockPolicy; p.Failures > 0 {
		if _, err := s.store.DeleteStaleLoginFailures(ctx, now.Add(-p.Window), now.Add(-p.MaxLock)); err != nil && ctx.Err() == nil {
			s.log.Error("authserver: delete stale login failures", "err", err)
		}
	}
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// endpoint returns the absolute URL of an endpoint path under the issuer.
func (s *Server) endpoint(path string) string { return s.cfg.Issuer + path }

// Endpoint paths under the issuer.
const (
	pathAuthorize  = "/authorize"
	pathLogin      = "/login"
	pathConsent    = "/consent"
	pathLogout     = "/logout"
	pathToken      = "/token"
	pathRegister   = "/register"
	pathRevoke     = "/revoke"
	pathIntrospect = "/introspect"
	pathJWKS       = "/jwks"
)

// Handler returns the HTTP handler of every endpoint, at the issuer's paths: the endpoints
// above under the issuer's path, and the metadata at /.well-known/oauth-authorization-server
// and /.well-known/openid-configuration, in the path-insertion form of RFC 8414 §3.1 when the
// issuer has a path (plus the appended form OpenID Connect Discovery §4 uses).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	base := strings.TrimSuffix(s.issuer.EscapedPath(), "/")
	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		mux.HandleFunc("GET "+wk+base, s.cors(s.handleMetadata))
		mux.HandleFunc("OPTIONS "+wk+base, s.cors(nil))
		if base != "" {
			mux.HandleFunc("GET "+base+wk, s.cors(s.handleMetadata))
			mux.HandleFunc("OPTIONS "+base+wk, s.cors(nil))
		}
	}
	mux.HandleFunc("GET "+base+pathJWKS, s.cors(s.handleJWKS))
	mux.HandleFunc("GET "+base+pathAuthorize, s.handleAuthorize)
	mux.HandleFunc("POST "+base+pathLogin, s.handleLogin)
	mux.HandleFunc("POST "+base+pathConsent, s.handleConsent)
	mux.HandleFunc("POST "+base+pathLogout, s.handleLogout)
	mux.HandleFunc("POST "+base+pathToken, s.cors(s.handleToken))
	mux.HandleFunc("POST "+base+pathRevoke, s.cors(s.handleRevoke))
	mux.HandleFunc("POST "+base+pathIntrospect, s.handleIntrospect)
	s.routeDevice(mux, base) // RFC 8628 device grant: device.go (cli)
	for _, p := range []string{pathToken, pathRevoke, pathRegister} {
		mux.HandleFunc("OPTIONS "+base+p, s.cors(nil))
	}
	if s.cfg.RegistrationPolicy != RegistrationClosed {
		mux.HandleFunc("POST "+base+pathRegister, s.cors(s.handleRegister))
		mux.HandleFunc("GET "+base+pathRegister+"/{id}", s.cors(s.handleClientRead))
		mux.HandleFunc("PUT "+base+pathRegister+"/{id}", s.cors(s.handleClientUpdate))
		mux.HandleFunc("DELETE "+base+pathRegister+"/{id}", s.cors(s.handleClientDelete))
		mux.HandleFunc("OPTIONS "+base+pathRegister+"/{id}", s.cors(nil))
	} else {
		mux.HandleFunc("POST "+base+pathRegister, s.cors(s.handleRegisterClosed))
	}
	return s.deadlines.handler(s.guardClientAuth(mux, base+pathToken, base+pathRevoke, base+pathIntrospect, base+pathDeviceAuthorization))
}

// cors lets browser-based clients call the endpoints that public clients use (OAuth 2.1 §6).
// No credentials (cookies) are involved, so any origin is allowed. A nil h answers preflights.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Access-Control-Allow-Origin"] = headerAnyOrigin
		if r.Method == http.MethodOptions || h == nil {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// headerAnyOrigin is the value of Access-Control-Allow-Origin, shared (net/http only reads it).
var headerAnyOrigin = []string{"*"}

// resourcesScopes returns the union of the scopes of the given resources.
func (s *Server) resourcesScopes(uris []string) []string {
	var out []string
	for _, u := range uris {
		for _, sc := range s.resources[u].Scopes {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// allScopes returns every scope of every resource, in configuration order.
func (s *Server) allScopes() []string {
	var uris []string
	for _, r := range s.cfg.Resources {
		uris = append(uris, r.URI)
	}
	return s.resourcesScopes(uris)
}
