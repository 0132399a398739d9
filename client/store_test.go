package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// storeContract checks what every Store must do.
func storeContract(t *testing.T, s Store) {
	ctx := context.Background()
	k1 := Key{Resource: "https://a.example/mcp", Issuer: "https://as1.example"}
	k2 := Key{Resource: "https://a.example/mcp", Issuer: "https://as2.example"}
	k3 := Key{Resource: "https://b.example/mcp", Issuer: "https://as1.example"}
	if _, err := s.Get(ctx, k1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	now := time.Now().Truncate(time.Second)
	e1 := &Entry{Key: k1, Registration: &Registration{ClientID: "c1", Dynamic: true}, Token: &oauth2.Token{AccessToken: "a1", RefreshToken: "r1", Expiry: now}, Scopes: []string{"s"}, Updated: now}
	e2 := &Entry{Key: k2, Registration: &Registration{ClientID: "c2"}, Updated: now.Add(time.Minute)}
	e3 := &Entry{Key: k3, Updated: now}
	for _, e := range []*Entry{e1, e2, e3} {
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, k1)
	if err != nil || got.Registration.ClientID != "c1" || got.Token.RefreshToken != "r1" || !got.Token.Expiry.Equal(now) || got.Key != k1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	got.Registration.ClientID = "changed" // the store keeps its own copy
	if again, _ := s.Get(ctx, k1); again.Registration.ClientID != "c1" {
		t.Fatal("an entry shares memory with the store")
	}
	list, err := s.List(ctx, "https://a.example/mcp")
	if err != nil || len(list) != 2 || list[0].Issuer != k2.Issuer || list[1].Issuer != k1.Issuer {
		t.Fatalf("List = %v, %v; want the two issuers, newest first", list, err)
	}
	if err := s.Delete(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, k1); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Get(ctx, k1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if list, _ := s.List(ctx, "https://nothing.example"); len(list) != 0 {
		t.Fatalf("List of an unknown resource: %v", list)
	}
}

func TestMemoryStore(t *testing.T) { storeContract(t, NewMemoryStore()) }

func TestFileStore(t *testing.T) { storeContract(t, NewFileStore(filepath.Join(t.TempDir(), "cfg"))) }

func TestFileStoreModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mcpauth")
	s := NewFileStore(dir)
	if err := s.Put(context.Background(), &Entry{Key: Key{"https://a.example/mcp", "https://as.example"}, Token: &oauth2.Token{AccessToken: "x"}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Fatalf("files: %v", des)
	}
	fi, _ = os.Stat(filepath.Join(dir, des[0].Name()))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v; want 0600", fi.Mode().Perm())
	}
	// A directory made too open by someone else is tightened on the next write.
	os.Chmod(dir, 0o755)
	s.Put(context.Background(), &Entry{Key: Key{"https://a.example/mcp", "https://as.example"}})
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v after a write; want 0700", fi.Mode().Perm())
	}
}

// TestFileStoreAtomicReplace: concurrent writers and readers never see a partial file,
// and no temporary file is left behind.
func TestFileStoreAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir)
	ctx := context.Background()
	key := Key{"https://a.example/mcp", "https://as.example"}
	big := strings.Repeat("x", 64<<10) // large enough that a torn write would show
	s.Put(ctx, &Entry{Key: key, Token: &oauth2.Token{AccessToken: big + "0"}})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if err := s.Put(ctx, &Entry{Key: key, Token: &oauth2.Token{AccessToken: fmt.Sprintf("%s%d-%d", big, w, i)}}); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			for range 25 {
				e, err := s.Get(ctx, key)
				if err != nil {
					errs <- err
				} else if !strings.HasPrefix(e.Token.AccessToken, big) {
					errs <- errors.New("partial entry read")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 || !strings.HasSuffix(des[0].Name(), credentialsSuffix) {
		t.Fatalf("files left: %v", des)
	}
}

func TestFileStoreIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir)
	os.WriteFile(filepath.Join(dir, "garbage"+credentialsSuffix), []byte("{not json"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600)
	// An entry copied under another key's file name is not trusted.
	os.WriteFile(filepath.Join(dir, "copied"+credentialsSuffix), []byte(`{"resource":"https://a.example/mcp","issuer":"https://evil.example"}`), 0o600)
	list, err := s.List(context.Background(), "https://a.example/mcp")
	if err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
}

func TestDefaultConfigDir(t *testing.T) {
	t.Setenv(ConfigDirEnv, "/tmp/somewhere")
	if d, _ := DefaultConfigDir(); d != "/tmp/somewhere" {
		t.Fatalf("DefaultConfigDir = %q", d)
	}
	t.Setenv(ConfigDirEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg")
	if d, _ := DefaultConfigDir(); d != "/tmp/xdg/mcpauth" {
		t.Fatalf("DefaultConfigDir = %q", d)
	}
}

// TestCredentialsBoundToIssuer: a stored token of one issuer is never sent to another: when
// the server moves to a new authorization server, the client starts over there.
func TestCredentialsBoundToIssuer(t *testing.T) {
	as1 := newTestAS(t)
	rs := newTestRS(t, as1)
	ctx := testContext(t)
	cfg := testConfig(rs, &headlessBrowser{})
	s, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	as2 := newTestAS(t)
	rs.mu.Lock()
	rs.as = as2 // the server now trusts only as2
	rs.mu.Unlock()
	s = mustConnect(t, ctx, cfg)
	s.Close()
	for _, f := range as2.forms {
		if f.Get("refresh_token") != "" {
			t.Fatal("a refresh token of the first issuer was sent to the second")
		}
	}
	if as2.count("register") != 1 {
		t.Fatalf("registrations at the new issuer = %d, want 1", as2.count("register"))
	}
	entries, _ := cfg.Store.List(ctx, rs.url)
	if len(entries) != 2 {
		t.Fatalf("stored entries = %d, want one per issuer", len(entries))
	}
}
