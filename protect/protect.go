// Package protect is resource-server middleware that puts any MCP server's
// Streamable HTTP endpoint behind OAuth 2.1, as the MCP authorization spec
// asks of servers:
//
//   - Protected Resource Metadata (RFC 9728) at the path-aware and root
//     well-known URLs, pointing clients to the authorization server;
//   - 401 with a WWW-Authenticate challenge for a missing or bad token
//     (RFC 6750 §3), tokens verified as RFC 9068 JWTs against the
//     authorization server's JWKS ([JWTVerifier]) or by RFC 7662
//     introspection ([IntrospectionVerifier]), audience-checked;
//   - per-tool scopes: a tools/call without the tool's scopes gets 403
//     insufficient_scope before the tool runs, so clients step up;
//   - rate limits per user and per client (quota tiers), in memory or Redis;
//   - MCP sessions bound to the user who created them;
//   - the client's token never forwarded to the wrapped handler.
//
// It works with any standards-compliant authorization server.
package protect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Config configures a [Protector].
type Config struct {
	// Resource is the canonical URL of the MCP endpoint, e.g.
	// "https://api.example.com/mcp" (RFC 8707 §2, the token audience). Required.
	Resource string
	// AuthorizationServers lists the issuer identifiers clients may use. Required.
	AuthorizationServers []string
	// Verifier checks access tokens. Required.
	Verifier Verifier
	// ResourceName and ResourceDocumentation are shown to users (RFC 9728 §2).
	ResourceName, ResourceDocumentation string
	// ScopesSupported is published in the metadata: the scopes a client may
	// request for this resource. Keep it minimal (no offline_access).
	ScopesSupported []string
	// ChallengeScopes is the scope of the 401 challenge: what a client should
	// request to start (default ScopesSupported).
	ChallengeScopes []string
	// ToolScopes gives the scopes each tool needs.
	ToolScopes ToolScopes
	// CallScopes, when set, adds scopes a call needs because of its
	// arguments (e.g. writing to a shared folder), on top of ToolScopes.
	// It must be cheap and must not trust the arguments beyond reading them.
	CallScopes func(ToolCall) []string
	// ScopeHierarchy says which granted scopes imply others.
	ScopeHierarchy ScopeHierarchy
	// RateLimits, when set, limits requests per user and per client.
	RateLimits *RateLimits
	// AllowedOrigins lists the web origins whose pages may call the MCP
	// endpoint (CORS), or "*" for any; empty allows none.
	AllowedOrigins []string
	// MaxBodyBytes bounds a request body (default 4 MiB); larger gets 413.
	MaxBodyBytes int64
	// MaxSessions bounds the session-to-user bindings kept (default 100000).
	MaxSessions int
	// Metrics, when set, counts decisions (see NewMetrics).
	Metrics *Metrics
	// Logger receives one record per refused request (default slog.Default()).
	// Records never hold tokens.
	Logger *slog.Logger
}

// Protector is the middleware built from a [Config].
type Protector struct {
	cfg         Config
	metadataURL string
	rootURL     string
	sessions    *sessionBinder
	policies    *ratePolicies // of cfg.RateLimits, when set
}

// New checks cfg and returns a Protector.
func New(cfg Config) (*Protector, error) {
	pathAware, root, err := MetadataURLs(cfg.Resource)
	if err != nil {
		return nil, err
	}
	if len(cfg.AuthorizationServers) == 0 {
		return nil, errors.New("protect: Config.AuthorizationServers is empty")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("protect: Config.Verifier is nil")
	}
	// MCP authorization, "Refresh Tokens": refresh tokens are not a
	// resource requirement, so offline_access is never advertised.
	if slices.Contains(cfg.ScopesSupported, "offline_access") || slices.Contains(cfg.ChallengeScopes, "offline_access") {
		return nil, errors.New("protect: offline_access must not be in ScopesSupported or ChallengeScopes")
	}
	if cfg.ChallengeScopes == nil {
		cfg.ChallengeScopes = cfg.ScopesSupported
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 100000
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Protector{cfg: cfg, metadataURL: pathAware, rootURL: root, sessions: newSessionBinder(cfg.MaxSessions)}
	if rl := cfg.RateLimits; rl != nil {
		// A copy, so that the policies formatted here stay those enforced.
		copied := *rl
		copied.Tiers = maps.Clone(rl.Tiers)
		if copied.Limiter == nil {
			copied.Limiter = NewMemoryLimiter()
		}
		p.cfg.RateLimits = &copied
		p.policies = newRatePolicies(&copied)
	}
	return p, nil
}

// MetadataURL returns the path-aware Protected Resource Metadata URL, the
// one named in challenges.
func (p *Protector) MetadataURL() string { return p.metadataURL }

// Mount registers on mux the MCP endpoint at the resource's path, wrapped by
// p, and the metadata at the path-aware and root well-known paths.
func (p *Protector) Mount(mux *http.ServeMux, mcpHandler http.Handler) {
	md := p.MetadataHandler()
	mux.Handle(urlPath(p.metadataURL), md)
	if p.rootURL != p.metadataURL {
		mux.Handle(urlPath(p.rootURL), md)
	}
	mux.Handle(urlPath(p.cfg.Resource), p.Handler(mcpHandler))
}

// urlPath returns the path of an absolute URL already validated by New.
func urlPath(u string) string {
	parsed, _ := url.Parse(u)
	if parsed.Path == "" {
		return "/"
	}
	return parsed.Path
}

type tokenInfoKey struct{}

// TokenInfoFromContext returns the verified token of the request, or nil.
// The wrapped handler sees this, never the token itself.
func TokenInfoFromContext(ctx context.Context) *TokenInfo {
	ti, _ := ctx.Value(tokenInfoKey{}).(*TokenInfo)
	return ti
}

// sdkExtraKey holds the *TokenInfo in the go-sdk's auth.TokenInfo.Extra.
const sdkExtraKey = "mcpauth/protect.TokenInfo"

// TokenInfoFromSDK returns the *TokenInfo from the go-sdk's request
// TokenInfo (req.Extra.TokenInfo in a tool handler), or nil.
func TokenInfoFromSDK(ti *auth.TokenInfo) *TokenInfo {
	if ti == nil {
		return nil
	}
	info, _ := ti.Extra[sdkExtraKey].(*TokenInfo)
	return info
}

// Handler wraps the MCP endpoint next.
func (p *Protector) Handler(next http.Handler) http.Handler {
	// The go-sdk's own middleware puts an auth.TokenInfo in the context,
	// which its Streamable HTTP server uses to bind sessions and passes to
	// tool handlers; here it only copies what p already verified.
	// Expiry was enforced by the Verifier (with its clock skew), so the
	// go-sdk is not asked to check it again.
	sdk := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		return TokenInfoFromContext(ctx).derive().sdk, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	inner := sdk(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Never pass the client's token upstream (MCP authorization, "Token
		// Passthrough"): authorize left only a marker for the go-sdk.
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The decision returns before the MCP handler runs, so that its large
		// frame is not on the stack beneath the whole MCP request (deeper
		// stacks cost stack growth and GC scanning on every request).
		if r, w := p.authorize(w, r); r != nil {
			inner.ServeHTTP(w, r)
		}
	})
}

// authorize decides a request: it answers a refused one itself and returns
// nil, or returns the request (with its TokenInfo) and the response writer
// for the MCP handler.
func (p *Protector) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, http.ResponseWriter) {
	if p.cors(w, r) {
		return nil, nil
	}
	m := p.cfg.Metrics
	token, ok := bearerToken(r)
	if !ok {
		p.refuse(w, r, http.StatusUnauthorized, ReasonMissing, Challenge{ResourceMetadata: p.metadataURL, Scope: p.cfg.ChallengeScopes})
		return nil, nil
	}
	ti, err := p.cfg.Verifier.Verify(r.Context(), token)
	if err != nil {
		var te *TokenError
		if !errors.As(err, &te) {
			p.cfg.Logger.Error("protect: token verifier failed", "err", err)
			m.requests.WithLabelValues("unavailable").Inc()
			http.Error(w, "authorization server unavailable", http.StatusServiceUnavailable)
			return nil, nil
		}
		p.refuse(w, r, http.StatusUnauthorized, te.Reason, Challenge{ResourceMetadata: p.metadataURL, Scope: p.cfg.ChallengeScopes,
			Error: ErrorInvalidToken, Description: te.Error()})
		return nil, nil
	}

	if r.Method == http.MethodPost {
		need, status, err := p.scopesForBody(r)
		if err != nil {
			m.requests.WithLabelValues("bad_request").Inc()
			p.cfg.Logger.Info("protect: request refused", "status", status, "err", err)
			http.Error(w, err.Error(), status)
			return nil, nil
		}
		if missing := p.missingScopes(ti, need); len(missing) > 0 {
			p.refuse(w, r, http.StatusForbidden, ErrorInsufficientScope, Challenge{ResourceMetadata: p.metadataURL, Scope: need,
				Error: ErrorInsufficientScope, Description: "this call needs scope " + strings.Join(need, " ")}, "sub", ti.Subject, "client_id", ti.ClientID)
			return nil, nil
		}
	}

	d := ti.derive()
	bound := false // the request's session is bound to its user already
	if sid := r.Header.Get(sessionHeader); sid != "" {
		owner := p.sessions.owner(sid)
		if owner != "" && owner != d.user {
			m.requests.WithLabelValues("forbidden").Inc()
			m.authFailures.WithLabelValues("session_user").Inc()
			p.cfg.Logger.Warn("protect: session used with another user's token", "sub", ti.Subject, "client_id", ti.ClientID)
			http.Error(w, "this session belongs to another user", http.StatusForbidden)
			return nil, nil
		}
		bound = owner != ""
		if r.Method == http.MethodDelete {
			defer p.sessions.forget(sid)
		}
	}

	if rl := p.cfg.RateLimits; rl != nil {
		out := rl.take(r.Context(), ti, d, p.policies, w.Header())
		switch {
		case out.err != nil:
			m.limiterErrs.Inc()
			p.cfg.Logger.Error("protect: rate limiter failed", "err", out.err, "fail_closed", rl.FailClosed)
			if rl.FailClosed {
				m.requests.WithLabelValues("unavailable").Inc()
				http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
				return nil, nil
			}
		case out.denied != "":
			m.requests.WithLabelValues("rate_limited").Inc()
			m.rateLimited.WithLabelValues(out.denied).Inc()
			p.cfg.Logger.Info("protect: rate limited", "limit", out.denied, "sub", ti.Subject, "client_id", ti.ClientID)
			http.Error(w, fmt.Sprintf("rate limit exceeded (%s); retry after %s", out.denied, w.Header().Get("Retry-After")+"s"), http.StatusTooManyRequests)
			return nil, nil
		}
	}

	m.ok.Inc()
	// The token goes no further than the verifier: the go-sdk's middleware
	// finds a marker of a verified bearer token in its place (lower case,
	// which it reads without allocating), and TokenInfo in the context.
	field := r.Header["Authorization"] // bearerToken found it: at least one value
	field[0] = verifiedMarker
	r.Header["Authorization"] = field[:1]
	r = r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, ti))
	if bound {
		return r, w
	}
	return r, &sessionRecorder{ResponseWriter: w, binder: p.sessions, user: d.user}
}

// verifiedMarker replaces the Authorization field of an authorized request.
const verifiedMarker = "bearer verified"

// scopesForBody reads (and restores) the request body and returns the scopes
// its tool calls need.
func (p *Protector) scopesForBody(r *http.Request) ([]string, int, error) {
	if r.Body == nil {
		return nil, 0, nil
	}
	body, err := readBody(r.Body, r.ContentLength, p.cfg.MaxBodyBytes)
	_ = r.Body.Close()
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(body)) > p.cfg.MaxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", p.cfg.MaxBodyBytes)
	}
	rb := new(readBodyCloser)
	rb.Reset(body)
	r.Body = rb
	pk := peekers.Get().(*peeker)
	defer pk.release()
	calls, err := pk.peek(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return p.requiredScopes(calls), 0, nil
}

// readBodyCloser is the body read by the middleware, for the MCP handler.
type readBodyCloser struct{ bytes.Reader }

func (*readBodyCloser) Close() error { return nil }

// readBody reads rd to its end like io.ReadAll, but at most maxBytes+1 bytes
// (more than maxBytes: the body is too large), into a buffer of the declared
// length (plus one byte, so that reaching EOF does not grow it) when that is
// within maxBytes.
func readBody(rd io.Reader, contentLength, maxBytes int64) ([]byte, error) {
	size := int64(512)
	if contentLength >= 0 && contentLength < maxBytes {
		size = contentLength + 1
	}
	b := make([]byte, 0, size)
	for int64(len(b)) <= maxBytes {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):min(int64(cap(b)), maxBytes+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// bearerToken extracts the token of an "Authorization: Bearer" header
// (RFC 6750 §2.1). Tokens in the query string are not accepted (MCP
// authorization, "Token Requirements").
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// refuse writes a 401 or 403 challenge and counts and logs it.
func (p *Protector) refuse(w http.ResponseWriter, r *http.Request, status int, reason string, c Challenge, logAttrs ...any) {
	outcome := "unauthorized"
	if status == http.StatusForbidden {
		outcome = "forbidden"
	}
	p.cfg.Metrics.requests.WithLabelValues(outcome).Inc()
	p.cfg.Metrics.authFailures.WithLabelValues(reason).Inc()
	if reason != ReasonMissing {
		p.cfg.Logger.Info("protect: request refused", append([]any{"status", status, "reason", reason, "method", r.Method}, logAttrs...)...)
	}
	writeChallenge(w, status, c)
}
