package safehttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNonPublicReason(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "::", "0.1.2.3",
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "fc00::1", "fd12:3456::1",
		"169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0", "febf::1",
		"100.64.0.1", "100.127.255.255",
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2", "255.255.255.255",
		"192.0.0.1", "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "240.0.0.1", "2001:db8::1", "100::1", "fec0::1",
		// IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo forms
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1", "::ffff:0.0.0.0",
		"::127.0.0.1", "::8.8.8.8", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::1",
		"2002:7f00:1::1", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"not-an-ip", "", "1.2.3", "127.1",
	}
	for _, ip := range blocked {
		if NonPublicReason(ip) == "" {
			t.Errorf("%q is treated as public", ip)
		}
	}
	public := []string{"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.169.0.1",
		"2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}
	for _, ip := range public {
		if r := NonPublicReason(ip); r != "" {
			t.Errorf("%q refused as %s", ip, r)
		}
	}
}

// tlsServer starts a local TLS server and a client that trusts it but does not allow it.
func tlsServer(t *testing.T, h http.Handler) (*httptest.Server, Options) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv, Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Timeout: 5 * time.Second}
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestRefusedDestinations(t *testing.T) {
	var hits atomic.Int32
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	port := strings.TrimPrefix(hostOf(t, srv.URL), "127.0.0.1:")
	c := New(opts)
	for _, target := range []string{
		srv.URL + "/doc",                           // loopback IP literal
		"https://localhost:" + port + "/doc",       // a name resolving to loopback: refused at dial time
		"https://[::ffff:127.0.0.1]:" + port + "/", // IPv4-mapped loopback
		"https://[::1]:" + port + "/",
		"https://10.1.2.3/doc",
		"https://169.254.169.254/latest/meta-data/",
		"https://[fe80::1]/",
		"https://100.64.0.1/",
		"https://0.0.0.0:" + port + "/",
	} {
		_, err := c.Get(context.Background(), target, "")
		var be *BlockedAddressError
		if !errors.Is(err, ErrBlocked) || !errors.As(err, &be) {
			t.Errorf("GET %s: got %v, want ErrBlocked", target, err)
			continue
		}
		if strings.Contains(target, "localhost") && strings.Contains(be.Address, "localhost") {
			t.Errorf("GET %s: refused as %s, want the dialled address (dial-time check)", target, be.Address)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server was reached %d times", n)
	}
}

func TestOnlyHTTPS(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := New(Options{})
	for _, target := range []string{srv.URL, "http://example.com/", "ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"} {
		if _, err := c.Get(context.Background(), target, ""); !errors.Is(err, ErrScheme) {
			t.Errorf("GET %s: got %v, want ErrScheme", target, err)
		}
	}
	for _, target := range []string{"https://user:pw@example.com/", "https:///x", "%zz"} {
		if _, err := c.Get(context.Background(), target, ""); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("GET %s: got %v, want ErrInvalidURL", target, err)
		}
	}
	// The test-only allowance admits http for exactly the named host.
	allowed := New(Options{TestOnlyAllowHost: hostOf(t, srv.URL)})
	if resp, err := allowed.Get(context.Background(), srv.URL+"/x", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("allowed test host over http: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits = %d, want 1", hits.Load())
	}
}

func TestAllowedTestHost(t *testing.T) {
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "bad accept", 400)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte(`{"ok":true}`))
	}))
	// A proxy from the environment must not be used: it would be dialled instead of the
	// checked destination.
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied.Add(1) }))
	defer proxy.Close()
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("HTTP_PROXY", proxy.URL)

	opts.TestOnlyAllowHost = hostOf(t, srv.URL)
	c := New(opts)
	resp, err := c.Get(context.Background(), srv.URL+"/doc", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(resp.Body) != `{"ok":true}` || resp.Header.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Body)
	}
	if proxied.Load() != 0 {
		t.Fatal("request went through the environment's proxy")
	}
	// The allowance is for that host:port only, not for other names of the same address.
	port := strings.TrimPrefix(opts.TestOnlyAllowHost, "127.0.0.1:")
	if _, err := c.Get(context.Background(), "https://localhost:"+port+"/doc", ""); !errors.Is(err, ErrBlocked) {
		t.Fatalf("localhost alias of the allowed host: got %v, want ErrBlocked", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var targetHits atomic.Int32
	target, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	for _, code := range []int{301, 302, 303, 307, 308} {
		srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/internal", code)
		}))
		opts.TestOnlyAllowHost = hostOf(t, srv.URL)
		if _, err := New(opts).Get(context.Background(), srv.URL, ""); !errors.Is(err, ErrRedirect) {
			t.Errorf("%d: got %v, want ErrRedirect", code, err)
		}
	}
	if targetHits.Load() != 0 {
		t.Fatal("redirect was followed")
	}
}

func TestSizeLimit(t *testing.T) {
	big := strings.Repeat("x", 2000)
	for _, chunked := range []bool{false, true} {
		srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if chunked {
				w.Write([]byte(big[:1000]))
				w.(http.Flusher).Flush()
				w.Write([]byte(big[1000:]))
				return
			}
			w.Write([]byte(big))
		}))
		opts.TestOnlyAllowHost = hostOf(t, srv.URL)
		opts.MaxBodyBytes = 1999
		if _, err := New(opts).Get(context.Background(), srv.URL, ""); !errors.Is(err, ErrTooLarge) {
			t.Errorf("chunked=%v: got %v, want ErrTooLarge", chunked, err)
		}
		opts.MaxBodyBytes = 2000
		if resp, err := New(opts).Get(context.Background(), srv.URL, ""); err != nil || len(resp.Body) != 2000 {
			t.Errorf("chunked=%v at the limit: %v", chunked, err)
		}
	}
}

func TestTimeLimit(t *testing.T) {
	release := make(chan struct{})
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	opts.TestOnlyAllowHost = hostOf(t, srv.URL)
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := New(opts).Get(context.Background(), srv.URL, "")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

// TestCompressedBodyBounded: the limit applies to the decompressed body, so a small gzip bomb
// cannot make the client hold more than MaxBodyBytes.
func TestCompressedBodyBounded(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 8<<20)) // 8 MiB of zeros, about 8 KiB compressed
	zw.Close()
	srv, opts := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb.Bytes())
	}))
	opts.TestOnlyAllowHost = hostOf(t, srv.URL)
	opts.MaxBodyBytes = 1 << 20
	if _, err := New(opts).Get(context.Background(), srv.URL, ""); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}
