package authserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// TestUnusedClientsExpire: the janitor deletes self-registered clients unused for
// ClientIdleExpiry, keeps recently used and pre-registered ones.
func TestUnusedClientsExpire(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	kek := make([]byte, keySize)
	s, err := New(t.Context(), Config{
		Issuer: "https://as.example.com", Store: st, KeyEncryptionKey: kek, Resources: []Resource{{URI: "https://mcp.example.com"}},
		ClientIdleExpiry: 24 * time.Hour, Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	meta, _ := json.Marshal(&ClientMetadata{RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: AuthMethodNone})
	for _, c := range []*store.Client{
		{ID: "idle", Kind: store.ClientDynamic, Metadata: meta, CreatedAt: now.Add(-48 * time.Hour)},
		{ID: "used", Kind: store.ClientDynamic, Metadata: meta, CreatedAt: now.Add(-48 * time.Hour), LastUsedAt: now.Add(-time.Hour)},
		{ID: "static", Kind: store.ClientStatic, Metadata: meta, CreatedAt: now.Add(-48 * time.Hour)},
	} {
		if err := st.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	s.sweep(t.Context())
	for id, want := range map[string]bool{"idle": false, "used": true, "static": true} {
		_, err := st.GetClient(t.Context(), id)
		if (err == nil) != want {
			t.Errorf("client %s: exists=%v, want %v", id, err == nil, want)
		}
	}
}

// FuzzAuthorizationRequest feeds arbitrary query strings to the authorization request parser
// of a server with one registered client: it must never panic, and whatever it accepts must be
// within what the server and the client allow.
func FuzzAuthorizationRequest(f *testing.F) {
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "as.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	s, err := New(f.Context(), Config{
		Issuer: "https://as.example.com", Store: st, KeyEncryptionKey: make([]byte, keySize), DisableCIMD: true,
		Resources: []Resource{{URI: "https://mcp.example.com/mcp", Scopes: []string{"a", "b"}}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	meta, _ := json.Marshal(&ClientMetadata{RedirectURIs: []string{"http://127.0.0.1/cb", "https://app.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode}, ResponseTypes: []string{ResponseTypeCode}, TokenEndpointAuthMethod: AuthMethodNone})
	if err := st.CreateClient(f.Context(), &store.Client{ID: "c1", Kind: store.ClientStatic, Metadata: meta, Scopes: []string{"a"}}); err != nil {
		f.Fatal(err)
	}
	ch := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	for _, seed := range []string{
		"response_type=code&client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&code_challenge=" + ch + "&code_challenge_method=S256&state=x",
		"response_type=code&client_id=c1&code_challenge=" + ch + "&code_challenge_method=plain&scope=a+b&resource=https%3A%2F%2Fmcp.example.com%2Fmcp",
		"response_type=token&client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&prompt=none&resource=x&resource=y",
		"client_id=c1&client_id=c2&redirect_uri=%00",
		"client_id=https%3A%2F%2Fcimd.example%2Fc.json",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, pe, oe := s.parseAuthRequest(t.Context(), q)
		switch {
		case pe != nil:
			if req != nil || oe != nil || pe.title == "" {
				t.Fatalf("page error with more: %v %v %v", req, pe, oe)
			}
		case oe != nil:
			if req == nil || req.redirectURI == "" || oe.Code == "" {
				t.Fatalf("redirected error without a redirect URI: %+v %v", req, oe)
			}
		default:
			if req.client.id != "c1" || req.challenge == "" || q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" {
				t.Fatalf("accepted %q", raw)
			}
			if !slices.ContainsFunc(req.client.meta.RedirectURIs, func(r string) bool { return RedirectURIMatches(r, req.redirectURI) }) {
				t.Fatalf("accepted redirect URI %q", req.redirectURI)
			}
			for _, r := range req.resources {
				if r != "https://mcp.example.com/mcp" {
					t.Fatalf("accepted resource %q", r)
				}
			}
			for _, sc := range req.scopes {
				if sc != "a" {
					t.Fatalf("accepted scope %q beyond the client's", sc)
				}
			}
		}
	})
}

// fuzzResources are the configured resources FuzzParseTokenRequest passes.
var fuzzResources = map[string]Resource{"https://r.example/": {URI: "https://r.example/"}}

func FuzzParseTokenRequest(f *testing.F) {
	for _, seed := range []string{
		"grant_type=authorization_code&code=abc&code_verifier=" + "a123456789a123456789a123456789a123456789abc" + "&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
		"grant_type=refresh_token&refresh_token=x&scope=a+b&resource=https%3A%2F%2Fr.example%2F&resource=https%3A%2F%2Fr.example%2F",
		"grant_type=client_credentials&scope=%00&resource=%2Frelative",
		"grant_type=password&grant_type=x",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d",
		"scope=offline_access+++a",
		"grant_type=client_credentials&resource=https%3A%2F%2Fr.example%2F&resource=https%3A%2F%2Fr.example%2F%23f&resource=r.example",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		tr, e := parseTokenRequest(form, fuzzResources)
		// A configured resource is not parsed again: the answer is the one of parsing all.
		if tr2, e2 := parseTokenRequest(form, nil); !reflect.DeepEqual(tr, tr2) || !reflect.DeepEqual(e, e2) {
			t.Fatalf("configured resources change the answer: %+v %v, parsing all: %+v %v", tr, e, tr2, e2)
		}
		if (tr == nil) == (e == nil) {
			t.Fatalf("exactly one of request and error expected: %v %v", tr, e)
		}
		if e != nil {
			if e.Code == "" || e.Description == "" {
				t.Fatalf("error without code or description: %+v", e)
			}
			return
		}
		switch tr.grantType {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode:
		default:
			t.Fatalf("accepted grant type %q", tr.grantType)
		}
		for _, sc := range tr.scopes {
			if !validScopeToken(sc) || sc == offlineAccess {
				t.Fatalf("accepted scope %q", sc)
			}
		}
		for _, r := range tr.resources {
			if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
				t.Fatalf("accepted resource %q", r)
			}
		}
	})
}

// FuzzClientAddr: the client address taken from X-Forwarded-For behind a trusted proxy is the
// peer or an address the header names, never anything else.
func FuzzClientAddr(f *testing.F) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	for _, seed := range [][2]string{
		{"10.0.0.1:443", "203.0.113.9, 10.0.0.2"},
		{"[::1]:80", "2001:db8::1,::ffff:10.1.1.1"},
		{"192.0.2.1:1", "10.0.0.3"},
		{"10.0.0.1:443", ",,x,"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := s.clientAddr(r)
		peer := remote
		if host, _, err := net.SplitHostPort(remote); err == nil {
			peer = host
		}
		if got == peer {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil || !strings.Contains(xff, got) || !s.trustedProxy(peer) {
			t.Fatalf("client address %q from peer %q and X-Forwarded-For %q", got, remote, xff)
		}
	})
}

// TestClientIDsFollowRegistrationTime: a client ID carries its registration time after "mcp_",
// so IDs of later registrations sort after earlier ones (the store's index on them grows at its
// end), and two IDs of one millisecond differ.
func TestClientIDsFollowRegistrationTime(t *testing.T) {
	t0 := time.UnixMilli(1_790_000_000_123)
	var prev string
	for i, at := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(time.Hour), t0.Add(24 * 365 * time.Hour)} {
		id := newClientID(at)
		if !strings.HasPrefix(id, "mcp_"+timeDigits(at)) || len(id) != len("mcp_")+refreshTimeDigits+22 {
			t.Fatalf("ID %q: want mcp_, the time %s and 22 random characters", id, timeDigits(at))
		}
		if i > 0 && id <= prev {
			t.Fatalf("ID of a later client %q sorts before an earlier one %q", id, prev)
		}
		prev = id
	}
	if a, b := newClientID(t0), newClientID(t0); a == b {
		t.Fatalf("two IDs of one millisecond are the same: %q", a)
	}
}
