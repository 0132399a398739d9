// Client ID Metadata Documents: draft-ietf-oauth-client-id-metadata-document-02 and the MCP
// authorization spec 2026-07-28, "Client Registration" §"Client ID Metadata Documents".
package authserver

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/internal/safehttp"
)

// IsURLClientID reports whether clientID is a Client ID Metadata Document URL (draft §3): an
// https URL with a host and a path other than "/", no userinfo, no fragment and no "." or ".."
// path segments.
func IsURLClientID(clientID string) bool {
	if !strings.HasPrefix(clientID, "https://") || strings.Contains(clientID, "#") || len(clientID) > maxURILength {
		return false
	}
	u, err := url.Parse(clientID)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	p := u.EscapedPath()
	if p == "" || p == "/" {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return false
		}
	}
	return true
}

// CIMDError is why a Client ID Metadata Document was not accepted. Description is safe to show
// to the user and to the client; Err is the cause (a safehttp error such as safehttp.ErrBlocked,
// or a *RegistrationError for invalid metadata) for errors.Is and errors.As.
type CIMDError struct {
	ClientID    string
	Description string
	Err         error
}

func (e *CIMDError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("client metadata document %s: %s: %v", e.ClientID, e.Description, e.Err)
	}
	return fmt.Sprintf("client metadata document %s: %s", e.ClientID, e.Description)
}

func (e *CIMDError) Unwrap() error { return e.Err }

// CIMDOptions configure a CIMDFetcher. The zero value is the production configuration.
type CIMDOptions struct {
	// MaxDocumentBytes bounds a document; default 5 KiB, the draft's suggestion (§8.6).
	MaxDocumentBytes int64
	// Timeout bounds one fetch; default 5s.
	Timeout time.Duration
	// DefaultTTL is how long a document without cache headers is cached; default 5 minutes.
	// MinTTL and MaxTTL (defaults 1 minute and 24 hours) bound the lifetime a document's
	// Cache-Control max-age or Expires asks for; "no-store" and "no-cache" are honoured by not
	// caching at all.
	DefaultTTL, MinTTL, MaxTTL time.Duration
	// MaxEntries bounds the cache; the least recently used document is evicted. Default 1000.
	MaxEntries int
	// Validate is passed to ClientMetadata.Validate.
	Validate ValidateOptions
	// TrustedHosts, when not empty, is a domain trust policy (draft §8.5, MCP security
	// considerations "Trust Policies"): only client IDs whose host is one of these names or a
	// subdomain of one are fetched; others are refused without a request.
	TrustedHosts []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// HTTP is for tests in this module only: RootCAs and TestOnlyAllowHost reach a local
	// server. Its type is internal, so code outside the module cannot loosen the SSRF guard.
	HTTP safehttp.Options
}

// CIMDFetcher fetches, validates and caches Client ID Metadata Documents. It is safe for
// concurrent use; concurrent fetches of one URL share one request.
type CIMDFetcher struct {
	opts   CIMDOptions
	client *safehttp.Client

	mu       sync.Mutex
	lru      *list.List // of *cimdEntry, most recently used first
	entries  map[string]*list.Element
	inflight map[string]*cimdCall
}

type cimdEntry struct {
	clientID string
	md       *ClientMetadata
	expires  time.Time
}

type cimdCall struct {
	done chan struct{}
	md   *ClientMetadata
	err  error
}

// NewCIMDFetcher returns a fetcher with opts, defaults filled in.
func NewCIMDFetcher(opts CIMDOptions) *CIMDFetcher {
	fillDefault(&opts.MaxDocumentBytes, 5<<10)
	fillDefault(&opts.Timeout, 5*time.Second)
	fillDefault(&opts.DefaultTTL, 5*time.Minute)
	fillDefault(&opts.MinTTL, time.Minute)
	fillDefault(&opts.MaxTTL, 24*time.Hour)
	fillDefault(&opts.MaxEntries, 1000)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	httpOpts := opts.HTTP
	httpOpts.MaxBodyBytes = opts.MaxDocumentBytes
	httpOpts.Timeout = opts.Timeout
	return &CIMDFetcher{
		opts:     opts,
		client:   safehttp.New(httpOpts),
		lru:      list.New(),
		entries:  map[string]*list.Element{},
		inflight: map[string]*cimdCall{},
	}
}

func fillDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Fetch returns the validated client metadata that the document at clientID describes, from
// the cache when it is fresh. The caller must still check the request's redirect URI against
// the returned RedirectURIs with RedirectURIMatches. Errors are *CIMDError. The result is the
// caller's to modify.
func (f *CIMDFetcher) Fetch(ctx context.Context, clientID string) (*ClientMetadata, error) {
	if !IsURLClientID(clientID) {
		return nil, &CIMDError{ClientID: truncate(clientID), Description: "client_id is not an https URL with a path"}
	}
	if !f.trusted(clientID) {
		return nil, &CIMDError{ClientID: clientID, Description: "client_id host is not trusted by this server"}
	}
	f.mu.Lock()
	if el, ok := f.entries[clientID]; ok {
		e := el.Value.(*cimdEntry)
		if f.opts.Now().Before(e.expires) {
			f.lru.MoveToFront(el)
			f.mu.Unlock()
			return e.md.clone(), nil
		}
		f.lru.Remove(el)
		delete(f.entries, clientID)
	}
	call, joined := f.inflight[clientID]
	if !joined {
		call = &cimdCall{done: make(chan struct{})}
		f.inflight[clientID] = call
		// The fetch outlives a caller that gives up: others may be waiting for it, and
		// safehttp bounds its time.
		go f.run(context.WithoutCancel(ctx), clientID, call)
	}
	f.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, &CIMDError{ClientID: clientID, Description: "fetch cancelled", Err: ctx.Err()}
	}
	if call.err != nil {
		return nil, call.err
	}
	return call.md.clone(), nil
}

// run fetches clientID for every caller waiting on call, caching a success.
func (f *CIMDFetcher) run(ctx context.Context, clientID string, call *cimdCall) {
	md, ttl, err := f.fetch(ctx, clientID)
	f.mu.Lock()
	call.md, call.err = md, err
	delete(f.inflight, clientID)
	if err == nil && ttl > 0 {
		f.store(clientID, md, ttl)
	}
	f.mu.Unlock()
	close(call.done)
}

// trusted reports whether the trust policy admits clientID (a valid URL client ID).
func (f *CIMDFetcher) trusted(clientID string) bool {
	if len(f.opts.TrustedHosts) == 0 {
		return true
	}
	u, _ := url.Parse(clientID)
	host := strings.ToLower(u.Hostname())
	return slices.ContainsFunc(f.opts.TrustedHosts, func(t string) bool {
		t = strings.ToLower(t)
		return host == t || strings.HasSuffix(host, "."+t)
	})
}

// store caches md for ttl; f.mu is held.
func (f *CIMDFetcher) store(clientID string, md *ClientMetadata, ttl time.Duration) {
	f.entries[clientID] = f.lru.PushFront(&cimdEntry{clientID: clientID, md: md, expires: f.opts.Now().Add(ttl)})
	for f.lru.Len() > f.opts.MaxEntries {
		oldest := f.lru.Back()
		f.lru.Remove(oldest)
		delete(f.entries, oldest.Value.(*cimdEntry).clientID)
	}
}

// fetch retrieves and validates the document and says how long it may be cached.
func (f *CIMDFetcher) fetch(ctx context.Context, clientID string) (*ClientMetadata, time.Duration, error) {
	resp, err := f.client.Get(ctx, clientID, "application/json")
	if err != nil {
		return nil, 0, &CIMDError{ClientID: clientID, Description: fetchFailure(err), Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, &CIMDError{ClientID: clientID, Description: "document request answered HTTP " + strconv.Itoa(resp.StatusCode)}
	}
	md, err := parseCIMDDocument(clientID, resp.Body, f.opts.Validate)
	if err != nil {
		return nil, 0, err
	}
	return md, f.ttl(resp.Header), nil
}

func fetchFailure(err error) string {
	switch {
	case errors.Is(err, safehttp.ErrBlocked):
		return "document host is not a public address"
	case errors.Is(err, safehttp.ErrRedirect):
		return "document request was redirected; redirects are not followed"
	case errors.Is(err, safehttp.ErrTooLarge):
		return "document is too large"
	case errors.Is(err, safehttp.ErrTimeout):
		return "document request timed out"
	}
	return "document could not be fetched"
}

// parseCIMDDocument decodes and validates a document fetched from clientID (draft §4.1, §5):
// its client_id must equal the URL exactly, it must name the client and list redirect URIs, and
// it must not use a shared secret — a public document cannot hold one.
func parseCIMDDocument(clientID string, body []byte, opts ValidateOptions) (*ClientMetadata, error) {
	fail := func(desc string, err error) error {
		return &CIMDError{ClientID: clientID, Description: desc, Err: err}
	}
	md, err := decodeClientMetadata(body)
	if err != nil {
		return nil, fail("document is not a JSON client metadata object", err)
	}
	var secret struct {
		ClientSecret          json.RawMessage `json:"client_secret"`
		ClientSecretExpiresAt json.RawMessage `json:"client_secret_expires_at"`
	}
	if json.Unmarshal(body, &secret) != nil || secret.ClientSecret != nil || secret.ClientSecretExpiresAt != nil {
		return nil, fail("document must not contain client_secret or client_secret_expires_at", nil)
	}
	if md.ClientID != clientID {
		return nil, fail("document client_id does not equal its URL", nil)
	}
	if strings.TrimSpace(md.ClientName) == "" {
		return nil, fail("document has no client_name", nil)
	}
	switch md.TokenEndpointAuthMethod {
	case "":
		md.TokenEndpointAuthMethod = AuthMethodNone
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodClientSecretJWT:
		return nil, fail("document must not use a shared-secret token_endpoint_auth_method", nil)
	}
	if len(md.RedirectURIs) == 0 {
		return nil, fail("document has no redirect_uris", nil)
	}
	if err := md.Validate(opts); err != nil {
		return nil, fail("document metadata is invalid", err)
	}
	return md, nil
}

// ttl is how long a response with header h may be cached (RFC 9111 §4.2.1, §5.2.2), bounded
// by MinTTL and MaxTTL; 0 means not at all.
func (f *CIMDFetcher) ttl(h http.Header) time.Duration {
	ttl := f.opts.DefaultTTL
	maxAge, hasMaxAge := -1, false
	for _, d := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			n, err := strconv.Atoi(strings.Trim(value, `"`))
			if err != nil || n < 0 {
				return 0 // RFC 9111 §4.2.1: an invalid max-age makes the response stale
			}
			maxAge, hasMaxAge = n, true
		}
	}
	switch {
	case hasMaxAge:
		ttl = time.Duration(maxAge) * time.Second
		if age, err := strconv.Atoi(h.Get("Age")); err == nil && age > 0 {
			ttl -= time.Duration(age) * time.Second
		}
	case h.Get("Expires") != "":
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			return 0 // RFC 9111 §5.3: an invalid Expires means already expired
		}
		date, err := http.ParseTime(h.Get("Date"))
		if err != nil {
			date = f.opts.Now()
		}
		ttl = exp.Sub(date) // against the server's Date, so clock skew does not matter
	}
	return min(max(ttl, f.opts.MinTTL), f.opts.MaxTTL)
}

// clone returns a copy of m that shares no slices with it.
func (m *ClientMetadata) clone() *ClientMetadata {
	c := *m
	c.RedirectURIs = slices.Clone(m.RedirectURIs)
	c.GrantTypes = slices.Clone(m.GrantTypes)
	c.ResponseTypes = slices.Clone(m.ResponseTypes)
	c.Contacts = slices.Clone(m.Contacts)
	c.JWKS = slices.Clone(m.JWKS)
	return &c
}
