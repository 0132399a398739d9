// Package safehttp fetches attacker-chosen URLs without server-side request forgery: the
// defences of the MCP authorization spec's security considerations ("Server-Side Request
// Forgery") and draft-ietf-oauth-client-id-metadata-document §8 (SSRF).
//
// Every connection's address is checked when it is dialled (net.Dialer.Control), after DNS
// resolution, so a host name that resolves — or rebinds — to a loopback, private, link-local or
// otherwise special address is refused. Only https is fetched, redirects are never followed,
// no proxy from the environment is used, and the response size and time are bounded.
package safehttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Errors a fetch can fail with; test them with errors.Is.
var (
	ErrScheme       = errors.New("safehttp: only https URLs may be fetched")
	ErrInvalidURL   = errors.New("safehttp: invalid URL")
	ErrBlocked      = errors.New("safehttp: destination address is not public")
	ErrRedirect     = errors.New("safehttp: redirects are not followed")
	ErrTooLarge     = errors.New("safehttp: response body too large")
	ErrTimeout      = errors.New("safehttp: request timed out")
	ErrUnreachable  = errors.New("safehttp: request failed")
	errNotTCPSocket = errors.New("safehttp: only TCP connections are allowed")
)

// BlockedAddressError is the error of a dial to an address that is not public. It matches
// ErrBlocked with errors.Is.
type BlockedAddressError struct {
	Address string // ip:port that was refused
	Reason  string // e.g. "loopback", "private"
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("safehttp: refused to connect to %s (%s address)", e.Address, e.Reason)
}

func (e *BlockedAddressError) Is(target error) bool { return target == ErrBlocked }

// Options configure a Client. The zero value is safe for production.
type Options struct {
	// Timeout bounds a whole request, dial to last body byte. Default 5s.
	Timeout time.Duration
	// MaxBodyBytes bounds a response body. Default 1 MiB.
	MaxBodyBytes int64
	// RootCAs verifies servers' certificates; nil means the system roots.
	RootCAs *x509.CertPool

	// Resolver resolves host names; nil means net.DefaultResolver. Whatever it answers, the
	// address actually dialled is checked.
	Resolver *net.Resolver

	// TestOnlyAllowHost names one host (host:port, exactly as in the URL) that may be fetched
	// over http or https although its address is not public, so tests can reach a local
	// server. Production code must leave it empty; it exists because no public address is
	// reachable from a test.
	TestOnlyAllowHost string
}

// Client fetches attacker-chosen URLs safely. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	maxBody   int64
	allowHost string
}

// New returns a Client with opts.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	c := &Client{maxBody: opts.MaxBodyBytes, allowHost: opts.TestOnlyAllowHost}
	guarded := &net.Dialer{Timeout: opts.Timeout, Resolver: opts.Resolver, Control: control}
	unguarded := &net.Dialer{Timeout: opts.Timeout, Resolver: opts.Resolver}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		// addr is the URL's host:port, before name resolution.
		if c.allowHost != "" && addr == c.allowHost {
			return unguarded.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would be dialled instead of the checked address
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	c.hc = &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}
	return c
}

// control runs for every connection after DNS resolution, just before connect(2): the
// address it sees is the one actually dialled, which defeats DNS rebinding.
func control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return errNotTCPSocket
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &BlockedAddressError{Address: address, Reason: "unparsable"}
	}
	if reason := NonPublicReason(host); reason != "" {
		return &BlockedAddressError{Address: address, Reason: reason}
	}
	return nil
}

// Response is a fetched response; Body holds at most MaxBodyBytes.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Get fetches rawURL with the given Accept header. Non-2xx statuses are returned as a Response,
// not an error; a redirect status fails with ErrRedirect.
func (c *Client) Get(ctx context.Context, rawURL, accept string) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, ErrInvalidURL
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.allowHost != "" && u.Host == c.allowHost:
	default:
		return nil, ErrScheme
	}
	if u.Hostname() == "" || u.User != nil {
		return nil, ErrInvalidURL
	}
	// An IP literal is refused before any socket is made; names are checked at dial time.
	if u.Host != c.allowHost {
		if reason := NonPublicReason(u.Hostname()); reason != "" && reason != "unparsable" {
			return nil, &BlockedAddressError{Address: u.Host, Reason: reason}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, ErrInvalidURL
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.maxBody {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, resp.ContentLength, c.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, classify(err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.maxBody)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// classify maps a transport error to one of the package's errors, keeping the cause.
func classify(err error) error {
	var blocked *BlockedAddressError
	switch {
	case errors.As(err, &blocked):
		return blocked
	case errors.Is(err, ErrRedirect):
		return ErrRedirect
	case errors.Is(err, errNotTCPSocket):
		return fmt.Errorf("%w: %w", ErrBlocked, errNotTCPSocket)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
