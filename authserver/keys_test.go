package authserver_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestKeyRotationKeepsOldTokensVerifiable: a new key is published at once, signs once it is
// activated, and a token signed before the rotation still verifies against the published JWKS
// and introspects active.
func TestKeyRotationKeepsOldTokensVerifiable(t *testing.T) {
	clock := newClock()
	as := devAS(t, func(c *authserver.Config) { c.Now = clock.now })
	id := publicClient(t, as)
	rs := resourceServer(t, as)
	clock.advance(15 * time.Minute) // the first key is activated
	old := tokens(t, as, id)["access_token"].(string)
	_, oldHeader := verifyJWT(t, as, old)

	kid, err := as.RotateSigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if kid == oldHeader.KeyID {
		t.Fatal("rotation kept the kid")
	}
	if !jwksHas(t, as, kid) {
		t.Fatal("the new key is not published at once")
	}
	if _, h := verifyJWT(t, as, tokens(t, as, id)["access_token"].(string)); h.KeyID != oldHeader.KeyID {
		t.Fatal("the new key signs before it is activated")
	}
	clock.advance(11 * time.Minute)
	fresh := tokens(t, as, id)["access_token"].(string)
	if _, h := verifyJWT(t, as, fresh); h.KeyID != kid {
		t.Fatalf("new token signed by %s, want the new key %s", h.KeyID, kid)
	}
	verifyJWT(t, as, old) // fails the test if the old key left the JWKS
	if got := introspect(t, as, rs, old); got["active"] != true {
		t.Fatalf("old token after rotation: %v", got)
	}
}

// TestAutomaticKeyRotation: near the end of a key's signing period a new key is made; the old
// key leaves the JWKS only after the last token it signed has expired.
func TestAutomaticKeyRotation(t *testing.T) {
	clock := newClock()
	as := devAS(t, func(c *authserver.Config) {
		c.Now = clock.now
		c.KeyRotation = 24 * time.Hour
		c.AccessTokenTTL = time.Hour
	})
	id := publicClient(t, as)
	first := tokens(t, as, id)["access_token"].(string)
	_, h1 := verifyJWT(t, as, first)
	clock.advance(22 * time.Hour) // less than a tenth of the period left: a new key is made
	tokens(t, as, id)
	clock.advance(15 * time.Minute)
	last := tokens(t, as, id)["access_token"].(string)
	_, h2 := verifyJWT(t, as, last)
	if h2.KeyID == h1.KeyID {
		t.Fatal("no automatic rotation")
	}
	clock.advance(2*time.Hour + 30*time.Minute) // the first key stopped signing at 24h; its tokens lived until 25h
	if !jwksHas(t, as, h1.KeyID) {
		t.Fatal("the old key left the JWKS before its tokens could have expired")
	}
	clock.advance(2 * time.Hour)
	if jwksHas(t, as, h1.KeyID) {
		t.Fatal("the old key is still published long after its last token expired")
	}
}

// TestSigningKeyStoredEncryptedUnderKEK: the store holds no usable private key, and a server with
// another key encryption key refuses to start rather than make a second, disjoint key set.
func TestSigningKeyStoredEncryptedUnderKEK(t *testing.T) {
	as := newTestAS(t, nil)
	keys, err := as.Store.ListSigningKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(keys[0].Encrypted); err == nil {
		t.Fatal("the stored signing key is not encrypted")
	}
	if _, err := x509.ParseECPrivateKey(keys[0].Encrypted); err == nil {
		t.Fatal("the stored signing key is not encrypted")
	}
	_, err = authserver.New(t.Context(), authserver.Config{
		Issuer: "https://as.example.com", Store: as.Store, KeyEncryptionKey: testKey(),
		Resources: []authserver.Resource{{URI: resourceA}},
	})
	if err == nil {
		t.Fatal("a server with the wrong key encryption key started")
	}
	// The same key on the same store: the same signing key, as a second instance would see.
	other := newTestASOn(t, as.Store, as.Key, nil)
	k2, _ := other.Store.ListSigningKeys(t.Context())
	if len(k2) != 1 || k2[0].ID != keys[0].ID {
		t.Fatalf("a second instance made its own key: %v", k2)
	}
}

func TestLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	k1, err := authserver.LoadKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	k2, err := authserver.LoadKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v", err)
	}
	env := testKey()
	t.Setenv(authserver.KeyEnv, base64.StdEncoding.EncodeToString(env))
	if k3, err := authserver.LoadKey(path); err != nil || !bytes.Equal(k3, env) {
		t.Fatalf("the environment must win: %v", err)
	}
	t.Setenv(authserver.KeyEnv, "too-short")
	if _, err := authserver.LoadKey(path); err == nil {
		t.Fatal("a malformed key was accepted")
	}
}
