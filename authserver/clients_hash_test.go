package authserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
)

// TestSecretHashUnchanged: the hash of a secret is HMAC-SHA-256(key, kind || 0 || secret) in
// hex, as stored by earlier versions, however many goroutines hash at once with the reused MACs.
func TestSecretHashUnchanged(t *testing.T) {
	kek := []byte("0123456789abcdef0123456789abcdef")
	h := newSecretHasher(kek)
	want := func(kind, secret string) string {
		m := hmac.New(sha256.New, deriveKey(kek, "secrets"))
		m.Write([]byte(kind + "\x00" + secret))
		return hex.EncodeToString(m.Sum(nil))
	}
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
