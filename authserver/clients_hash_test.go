package authserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

// testKEK is the key encryption key of the secret hash tests.
var testKEK = []byte("0123456789abcdef0123456789abcdef")

// wantSecretHash is the stored form of a secret, computed here without the hasher:
// HMAC-SHA-256(key, kind || 0 || secret) in hex.
func wantSecretHash(kind, secret string) string {
	m := hmac.New(sha256.New, deriveKey(testKEK, "secrets"))
	m.Write([]byte(kind + "\x00" + secret))
	return hex.EncodeToString(m.Sum(nil))
}

// TestSecretHashUnchanged: the hash of a secret is HMAC-SHA-256(key, kind || 0 || secret) in
// hex, as stored by earlier versions, however many goroutines hash at once with the reused MACs.
func TestSecretHashUnchanged(t *testing.T) {
	h := newSecretHasher(testKEK)
	want := wantSecretHash
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				kind, secret := []string{kindClientSecret, kindRefresh, kindCode}[j%3], newSecret("s")[:1+(i*j)%40]
				if got := h.hash(kind, secret); got != want(kind, secret) {
					t.Errorf("hash(%q, %q) = %s, want %s", kind, secret, got, want(kind, secret))
					return
				}
				if !h.equal(kind, secret, want(kind, secret)) || h.equal(kind, secret+"x", want(kind, secret)) {
					t.Errorf("equal disagrees with the hash for %q", secret)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestSecretHashChunks: secrets longer than the hasher's scratch buffer (written in pieces)
// hash as HMAC-SHA-256(key, kind || 0 || secret); equal refuses stored values of another
// length or case; equal allocates nothing and hash only its result.
func TestSecretHashChunks(t *testing.T) {
	h := newSecretHasher(testKEK)
	for _, n := range []int{0, 1, 127, 128, 129, 255, 256, 257, 1000} {
		secret := strings.Repeat("s", n)
		want := wantSecretHash(kindRefresh, secret)
		if got := h.hash(kindRefresh, secret); got != want {
			t.Fatalf("len %d: hash = %s, want %s", n, got, want)
		}
		if !h.equal(kindRefresh, secret, want) {
			t.Fatalf("len %d: equal refuses the right secret", n)
		}
		for _, stored := range []string{"", want[:63], want + "0", strings.ToUpper(want)} {
			if h.equal(kindRefresh, secret, stored) {
				t.Fatalf("len %d: equal accepts stored %q", n, stored)
			}
		}
		if h.equal(kindClientSecret, secret, want) {
			t.Fatalf("len %d: a hash of another kind is accepted", n)
		}
	}
	stored := h.hash(kindClientSecret, "secret")
	if a := testing.AllocsPerRun(100, func() { h.equal(kindClientSecret, "secret", stored) }); a != 0 {
		t.Errorf("equal: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { h.hash(kindClientSecret, "secret") }); a != 1 {
		t.Errorf("hash: %v allocations, want 1 (its result)", a)
	}
}
