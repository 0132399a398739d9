package authserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
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

func FuzzParseTokenRequest(f *testing.F) {
	for _, seed := range []string{
		"grant_type=authorization_code&code=abc&code_verifier=" + "a123456789a123456789a123456789a123456789abc" + "&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
		"grant_type=refresh_token&refresh_token=x&scope=a+b&resource=https%3A%2F%2Fr.example%2F&resource=https%3A%2F%2Fr.example%2F",
		"grant_type=client_credentials&scope=%00&resource=%2Frelative",
		"grant_type=password&grant_type=x",
		"scope=offline_access+++a",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		tr, e := parseTokenRequest(form)
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
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
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
