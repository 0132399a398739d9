// mcpauth serve: our authorization server at the origin and the example public MCP server at /mcp,
// protected by package protect, in one process.

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/internal/metrics"
	"github.com/mcpauth/mcpauth/internal/servegc"
	"github.com/mcpauth/mcpauth/protect"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveOptions are the flags of mcpauth serve.
type serveOptions struct {
	addr, data, devLogin, issuer     string
	tlsCert, tlsKey                  string
	postgresDSN, redisURL            string
	keyFile                          string
	registration, initialAccessToken string
	userRate, clientRate             int
	rateWindow                       time.Duration
	tiers                            []string
	initialScopes                    []string
	corsOrigins                      []string
	redisFailClosed                  bool
	stateless                        bool
	accessTokenTTL                   time.Duration
	requestTimeout                   time.Duration
	logJSON                          bool
	// Brute-force limits of the authorization server (authserver.Config).
	loginRate, lockoutFailures               int
	lockoutAccountFailures                   int
	lockoutWindow, lockout                   time.Duration
	clientAuthFailures, clientAuthAddrFailed int
	trustedProxies                           []string
}

func newServeCmd() *cobra.Command {
	o := serveOptions{}
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server and the protected example MCP server on one origin",
		Long: `serve runs, in one process, mcpauth's OAuth 2.1 authorization server (its issuer is the
origin, e.g. http://127.0.0.1:8080) and the example public MCP server at /mcp on the same origin,
protected by per-tool scopes and rate limits. Data lives in a SQLite file under --data, or in
PostgreSQL with --postgres. Several instances behind one load balancer share one PostgreSQL
database, one Redis (--redis, for global rate limits), one key encryption key
(` + authserver.KeyEnv + ` or --key-file) and one --issuer, and run --stateless so that any
instance can answer any request.

Operational endpoints: /metrics (Prometheus), /healthz (the process is up), /readyz (the store
answers and can write, and Redis answers if --redis-fail-closed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfigFile(cmd.Flags(), configFile); err != nil {
				return withExitCode(exitUsage, err)
			}
			servegc.Apply(os.Getenv) // GOGC=400, 512 MiB soft limit unless the environment sets them
			return runServe(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON `file` of flag values, e.g. {\"addr\": \"127.0.0.1:9000\", \"rate-tier\": [\"gold=6000\"]}; flags on the command line win")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address `host:port`")
	f.StringVar(&o.data, "data", "mcpauth-data", "`directory` for the SQLite database and the key file")
	f.StringVar(&o.devLogin, "dev-login", "", "log this `user` in and consent automatically (loopback only; for demos and tests)")
	f.StringVar(&o.issuer, "issuer", "", "issuer `URL` (default: http://ADDR, or https://ADDR with TLS); must be https off loopback")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	// DSNs and URLs may hold passwords: they can come from the environment
	// rather than the command line, which other local users can read.
	f.StringVar(&o.postgresDSN, "postgres", os.Getenv("MCPAUTH_POSTGRES_DSN"), "PostgreSQL `DSN` instead of SQLite, e.g. postgres://user@host/db (or MCPAUTH_POSTGRES_DSN)")
	f.StringVar(&o.redisURL, "redis", os.Getenv("MCPAUTH_REDIS_URL"), "Redis `URL` for rate limits shared by several instances, e.g. redis://127.0.0.1:6379/0 (or MCPAUTH_REDIS_URL)")
	f.StringVar(&o.keyFile, "key-file", "", "key encryption key `file` (default DATA/key.b64; "+authserver.KeyEnv+" wins)")
	f.StringVar(&o.registration, "registration", "open", "dynamic client registration `policy`: open, token or closed")
	f.StringVar(&o.initialAccessToken, "initial-access-token", "", "initial access `token` for --registration token (or MCPAUTH_INITIAL_ACCESS_TOKEN)")
	f.IntVar(&o.userRate, "rate-user", 120, "requests per user per window (0: unlimited)")
	f.IntVar(&o.clientRate, "rate-client", 1200, "requests per client per window, for clients without a quota tier (0: unlimited)")
	f.DurationVar(&o.rateWindow, "rate-window", time.Minute, "rate limit window")
	f.StringSliceVar(&o.tiers, "rate-tier", nil, "per-client quota tier as `name=requests` (repeatable), matched against the client's quota_tier")
	f.StringSliceVar(&o.initialScopes, "initial-scopes", nil, "scopes the 401 challenge asks for (default: all); clients step up for the rest")
	f.StringSliceVar(&o.corsOrigins, "cors-origin", []string{"*"}, "web `origins` whose pages may call /mcp (browser-based clients); tokens are never cookies, so * is safe")
	f.BoolVar(&o.redisFailClosed, "redis-fail-closed", false, "refuse requests (503) when Redis is down, instead of letting them through unlimited")
	f.BoolVar(&o.stateless, "stateless", false, "serve MCP without sessions, so that any instance can answer any request")
	f.DurationVar(&o.accessTokenTTL, "access-token-ttl", time.Hour, "lifetime of access tokens")
	f.DurationVar(&o.requestTimeout, "request-timeout", 15*time.Second, "time the authorization server works on a request before it gives up waiting (for a database that stopped answering) and answers with an error")
	f.BoolVar(&o.logJSON, "log-json", false, "write logs as JSON")
	f.IntVar(&o.loginRate, "login-rate", 20, "sign-in attempts per minute per source address (-1: unlimited)")
	f.IntVar(&o.lockoutFailures, "login-lockout-failures", 10, "wrong passwords from one network within --login-lockout-window that lock an account for that network (-1: never lock)")
	f.IntVar(&o.lockoutAccountFailures, "login-lockout-account-failures", 100, "wrong passwords from all networks within --login-lockout-window that lock an account for every browser it never signed in with (-1: per network only)")
	f.DurationVar(&o.lockoutWindow, "login-lockout-window", 15*time.Minute, "window in which wrong passwords are counted")
	f.DurationVar(&o.lockout, "login-lockout", 15*time.Minute, "first account lock; each further lock lasts twice as long, up to 24h")
	f.IntVar(&o.clientAuthFailures, "client-auth-failures", 60, "failed client authentications per minute per client_id before /token answers 429 (-1: unlimited); keep it above the per-address one so no single address can lock a client out")
	f.IntVar(&o.clientAuthAddrFailed, "client-auth-failures-per-address", 20, "failed client authentications per minute per source address before /token answers 429 (-1: unlimited)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxy", nil, "`CIDR` of a reverse proxy in front of the server (repeatable): the client address for limits and audit comes from its X-Forwarded-For")
	return cmd
}

// applyConfigFile sets every flag named in the JSON object of path that was
// not given on the command line. Values are strings, numbers, booleans, or
// arrays of them for repeatable flags.
func applyConfigFile(flags *pflag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	if err := json.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("config file %s: not a JSON object: %w", path, err)
	}
	for name, v := range values {
		fl := flags.Lookup(name)
		if fl == nil || name == "config" {
			return fmt.Errorf("config file %s: unknown setting %q", path, name)
		}
		if fl.Changed {
			continue
		}
		items, isList := v.([]any)
		if !isList {
			items = []any{v}
		} else if sv, ok := fl.Value.(pflag.SliceValue); ok {
			_ = sv.Replace(nil) // the file's list replaces the default
		}
		for _, item := range items {
			var text string
			switch x := item.(type) {
			case string:
				text = x
			case float64, bool:
				text = fmt.Sprint(x)
			default:
				return fmt.Errorf("config file %s: %q must be a string, number, boolean or a list of them", path, name)
			}
			if err := flags.Set(name, text); err != nil {
				return fmt.Errorf("config file %s: %s: %w", path, name, err)
			}
		}
	}
	return nil
}

func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	// Log records (one audit record per token) reach stderr in batches; Close, deferred first and
	// so run last, writes what is buffered when the server stops.
	logOut := authserver.NewLogWriter(stderr)
	defer logOut.Close()
	logger := newLogger(logOut, o.logJSON)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return withExitCode(exitUsage, fmt.Errorf("listen on %s: %w", o.addr, err))
	}
	svc, err := newService(ctx, o, ln.Addr().String(), logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer svc.Close()
	fmt.Fprintf(stdout, "mcpauth serve: store %s\nmcpauth serve: authorization server %s\nMCP server URL (give this to clients): %s\n",
		svc.store, svc.issuer, svc.mcpURL)
	return svc.serve(ctx, ln, logger)
}

func newLogger(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// service is one assembled mcpauth serve: the authorization server, the
// protected MCP server and the operational endpoints on one handler.
type service struct {
	issuer, mcpURL string
	store          string // the store and how it makes writes durable, never the DSN (it may hold a password)
	listenAddr     string
	as             *authserver.Server
	handler        http.Handler
	tls            *tls.Config
	ready          func(context.Context) error
	closers        []func() error
}

func (s *service) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// newService builds everything from o for a server listening on listenAddr.
func newService(ctx context.Context, o serveOptions, listenAddr string, logger *slog.Logger) (_ *service, err error) {
	svc := &service{listenAddr: listenAddr}
	defer func() {
		if err != nil {
			svc.Close()
		}
	}()
	svc.issuer = o.issuer
	if svc.issuer == "" {
		scheme := "http"
		if o.tlsCert != "" {
			scheme = "https"
		}
		svc.issuer = scheme + "://" + listenAddr
	}
	svc.issuer = strings.TrimSuffix(svc.issuer, "/")
	svc.mcpURL = svc.issuer + "/mcp"
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, withExitCode(exitUsage, errors.New("--tls-cert and --tls-key go together"))
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, withExitCode(exitUsage, fmt.Errorf("TLS key pair: %w", err))
		}
		svc.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	st, err := openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	svc.closers = append(svc.closers, st.Close)
	svc.store = "PostgreSQL"
	if s, ok := st.(*sqlite.Store); ok {
		svc.store = fmt.Sprintf("SQLite %s (%s)", sqliteFile(o), s.Durability())
	}
	keyFile := o.keyFile
	if keyFile == "" && o.data != "" {
		keyFile = filepath.Join(o.data, "key.b64")
	}
	kek, err := authserver.LoadKey(keyFile)
	if err != nil {
		return nil, err
	}
	iat := o.initialAccessToken
	if iat == "" {
		iat = os.Getenv("MCPAUTH_INITIAL_ACCESS_TOKEN")
	}
	proxies, err := parsePrefixes(o.trustedProxies)
	if err != nil {
		return nil, withExitCode(exitUsage, fmt.Errorf("--trusted-proxy: %w", err))
	}
	as, err := authserver.New(ctx, authserver.Config{
		Issuer:             svc.issuer,
		Store:              st,
		Resources:          []authserver.Resource{{URI: svc.mcpURL, Scopes: publicserver.Scopes()}},
		KeyEncryptionKey:   kek,
		RegistrationPolicy: authserver.RegistrationPolicy(o.registration),
		InitialAccessToken: iat,
		CIMD:               authserver.NewCIMDFetcher(authserver.CIMDOptions{}),
		DevLoginUser:       o.devLogin,
		ListenAddr:         listenAddr,
		AccessTokenTTL:     o.accessTokenTTL,
		RequestTimeout:     o.requestTimeout,
		Logger:             logger,

		LoginRate:                    o.loginRate,
		LoginLockoutFailures:         o.lockoutFailures,
		LoginLockoutAccountFailures:  o.lockoutAccountFailures,
		LoginLockoutWindow:           o.lockoutWindow,
		LoginLockout:                 o.lockout,
		ClientAuthFailuresPerClient:  o.clientAuthFailures,
		ClientAuthFailuresPerAddress: o.clientAuthAddrFailed,
		TrustedProxies:               proxies,
	})
	if err != nil {
		return nil, err
	}
	svc.closers = append(svc.closers, as.Close)
	svc.as = as
	asHandler := as.Handler()

	reg := metrics.NewRegistry()
	reg.Register(metrics.Runtime{})
	limits, rdb, err := rateLimits(o)
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		svc.closers = append(svc.closers, rdb.Close)
	}
	// The verifier reads our own JWKS in-process: no network hop, and no
	// trust problem with a self-signed TLS certificate.
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{
		Issuer: svc.issuer, Resource: svc.mcpURL, HTTPClient: &http.Client{Transport: handlerTransport{asHandler}},
	})
	if err != nil {
		return nil, err
	}
	p, err := protect.New(protect.Config{
		Resource:             svc.mcpURL,
		AuthorizationServers: []string{svc.issuer},
		Verifier:             verifier,
		ResourceName:         "mcpauth example: weather, stocks and flights",
		ScopesSupported:      publicserver.Scopes(),
		ChallengeScopes:      o.initialScopes,
		AllowedOrigins:       o.corsOrigins,
		ToolScopes:           publicserver.ToolScopes(),
		RateLimits:           limits,
		Metrics:              protect.NewMetrics(reg),
		Logger:               logger,
	})
	if err != nil {
		return nil, err
	}
	mcpServer := publicserver.NewServer(version)
	mcpServer.AddReceivingMiddleware(p.ServerMiddleware(true))
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer },
		&mcp.StreamableHTTPOptions{Stateless: o.stateless, Logger: logger})

	mux := http.NewServeMux()
	mux.Handle("/", countTokens(asHandler, reg))
	p.Mount(mux, mcpHandler)
	mux.Handle("GET /metrics", reg)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	svc.ready = func(ctx context.Context) error {
		if err := storeReady(ctx, st); err != nil {
			return err
		}
		// Failing open, an instance serves without Redis (unlimited); were it not ready, every
		// instance sharing that Redis would leave the load balancer at once.
		if rdb != nil && o.redisFailClosed {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return errors.New("redis not ready")
			}
		}
		return nil
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := svc.ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	svc.handler = mux
	return svc, nil
}

// storeReady reports whether st can serve requests: a read reaches its database, and no failed
// sync has stopped its writes (SQLite: every write fails then until the store is reopened).
func storeReady(ctx context.Context, st store.Store) error {
	// A read that reaches the database every time (the JWKS, say, is served from memory).
	if _, err := st.ListSigningKeys(ctx); err != nil {
		return errors.New("store not ready")
	}
	if s, ok := st.(*sqlite.Store); ok && s.Failure() != nil {
		return errors.New("store failed: its writes could not be made durable; restart the server")
	}
	return nil
}

// openStore opens PostgreSQL when a DSN is given, else SQLite under the data directory.
func openStore(ctx context.Context, o serveOptions) (store.Store, error) {
	if o.postgresDSN != "" {
		return postgres.Open(ctx, o.postgresDSN)
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(sqliteFile(o))
}

// sqliteFile is the SQLite database file under the data directory.
func sqliteFile(o serveOptions) string { return filepath.Join(o.data, "mcpauth.db") }

// rateLimits builds the protect rate limits from the flags.
func rateLimits(o serveOptions) (*protect.RateLimits, *redis.Client, error) {
	rl := &protect.RateLimits{
		PerUser:    protect.Limit{Requests: o.userRate, Window: o.rateWindow},
		PerClient:  protect.Limit{Requests: o.clientRate, Window: o.rateWindow},
		Tiers:      map[string]protect.Limit{},
		FailClosed: o.redisFailClosed,
	}
	for _, t := range o.tiers {
		name, n, ok := strings.Cut(t, "=")
		requests, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || requests < 0 {
			return nil, nil, withExitCode(exitUsage, fmt.Errorf("--rate-tier %q: want name=requests", t))
		}
		rl.Tiers[name] = protect.Limit{Requests: requests, Window: o.rateWindow}
	}
	if o.redisURL == "" {
		return rl, nil, nil
	}
	opt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, nil, withExitCode(exitUsage, fmt.Errorf("--redis: %w", err))
	}
	limitRedisWaits(opt)
	rdb := redis.NewClient(opt)
	rl.Limiter = protect.NewRedisLimiter(rdb, "mcpauth:rl:")
	return rl, rdb, nil
}

// limitRedisWaits shortens go-redis's waits, where the URL does not set them, to what a rate
// limit check can afford: it takes well under a millisecond, and a Redis that stops answering
// (frozen, or gone silent in a failover) held every MCP request for go-redis's 5 s a read, 10 s
// with its retries. A command now gets 250 ms and one retry (for a pooled connection a
// restarted Redis has closed); then the limits fail open, or closed with --redis-fail-closed.
func limitRedisWaits(opt *redis.Options) {
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 250 * time.Millisecond
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = opt.ReadTimeout
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
}

// serve answers on ln until ctx is done, then shuts down gracefully.
func (s *service) serve(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         s.tls,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Long-lived SSE streams do not end by themselves: close them.
		_ = srv.Close()
	}
	return nil
}

// handlerTransport answers HTTP requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := newRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.response(req), nil
}

// recorder is a minimal http.ResponseWriter collecting one response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) response(req *http.Request) *http.Response {
	r.WriteHeader(http.StatusOK)
	return &http.Response{StatusCode: r.status, Status: fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: r.header, Request: req,
		Body: io.NopCloser(bytes.NewReader(r.body.Bytes())), ContentLength: int64(r.body.Len())}
}

// countTokens counts access tokens issued by the token endpoint, by grant type. The grant type
// is read after the endpoint answered, from the form it parsed (r.PostForm), so the body is
// read once.
func countTokens(next http.Handler, reg *metrics.Registry) http.Handler {
	issued := reg.NewCounterVec("mcpauth_tokens_issued_total", "Access tokens issued by the token endpoint, by grant type.", "grant_type")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status != http.StatusOK {
			return
		}
		grant := "other"
		switch g := r.PostForm.Get("grant_type"); g {
		case "authorization_code", "refresh_token", "client_credentials":
			grant = g
		}
		issued.WithLabelValues(grant).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// parsePrefixes parses CIDR prefixes; a bare address stands for itself alone.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
