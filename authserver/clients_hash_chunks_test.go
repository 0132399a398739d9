package authserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestSecretHashChunks: secrets longer than the hasher's scratch buffer (written in pieces)
// hash as HMAC-SHA-256(key, kind || 0 || secret); equal refuses stored values of another
// length or case; equal allocates nothing and hash only its result.
func TestSecretHashChunks(t *testing.T) {
	kek := []byte("0123456789abcdef0123456789abcdef")
	h := newSecretHasher(kek)
	for _, n := range []int{0, 1, 127, 128, 129, 255, 256, 257, 1000} {
		secret := strings.Repeat("s", n)
		m := hmac.New(sha256.New, deriveKey(kek, "secrets"))
		m.Write([]byte(kindRefresh + "\x00" + secret))
		want := hex.EncodeToString(m.Sum(nil))
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
