// Signing keys (RFC 7515 ES256, RFC 7517 kid): kept in the store encrypted with AES-256-GCM under
// the key encryption key, shared by every instance, rotated without downtime.
package authserver

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// keySize is the size of the key encryption key.
const keySize = 32

// KeyEnv is the environment variable LoadKey reads the key encryption key from (base64).
const KeyEnv = "MCPAUTH_KEY_ENCRYPTION_KEY"

// LoadKey returns the key encryption key: from the environment variable KeyEnv when set, else
// from the file at path, which is created with a fresh random key (mode 0600) when missing.
// Both hold the 32-byte key in standard base64.
func LoadKey(path string) ([]byte, error) {
	if v := os.Getenv(KeyEnv); v != "" {
		return decodeKey(v, KeyEnv)
	}
	if path == "" {
		return nil, fmt.Errorf("authserver: no key encryption key: set %s or give a key file", KeyEnv)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return decodeKey(string(b), path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("authserver: read key file: %w", err)
	}
	key := make([]byte, keySize)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it first
			return LoadKey(path)
		}
		return nil, fmt.Errorf("authserver: create key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("authserver: write key file: %w", err)
	}
	return key, nil
}

func decodeKey(s, from string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("authserver: %s must hold %d bytes in standard base64", from, keySize)
	}
	return key, nil
}

// deriveKey derives an independent key for one purpose from the key encryption key.
func deriveKey(kek []byte, purpose string) []byte {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("mcpauth/" + purpose))
	return m.Sum(nil)
}

// signingKey is a decrypted signing key.
type signingKey struct {
	id           string
	priv         *ecdsa.PrivateKey
	header       string // encodedHeader(id)
	createdAt    time.Time
	signUntil    time.Time
	publishUntil time.Time
}

// keyring caches the decrypted signing keys of the store and rotates them. A new key is
// published at once but signs only keyActivation later, when every instance (which reloads its
// keys every keyReload) and every resource server's JWKS cache (max-age 5 minutes) knows it;
// then it takes over from the previous key. A key is made when the newest one has less than a
// tenth of its signing period left, and every key stays published until the last token it can
// have signed has expired.
type keyring struct {
	store    store.Store
	aead     cipher.AEAD
	firstID  string // the ID of the first key of an empty store, the same on every instance
	rotation time.Duration
	tokenTTL time.Duration
	now      func() time.Time

	mu       sync.Mutex
	keys     []*signingKey // newest first
	loadedAt time.Time
}

// keyReload bounds how stale the cached key set may be, so keys made by another instance are
// published within this time.
const keyReload = time.Minute

// keyActivation is how long after its creation a key starts signing: longer than keyReload
// plus the JWKS cache lifetime, so that no resource server meets a kid it cannot find.
const keyActivation = 10 * time.Minute

func newKeyring(st store.Store, kek []byte, rotation, tokenTTL time.Duration, now func() time.Time) *keyring {
	block, _ := aes.NewCipher(deriveKey(kek, "signing-keys"))
	aead, _ := cipher.NewGCM(block)
	firstID := base64.RawURLEncoding.EncodeToString(deriveKey(kek, "first-signing-key-id")[:12])
	return &keyring{store: st, aead: aead, firstID: firstID, rotation: rotation, tokenTTL: tokenTTL, now: now}
}

// load reads and decrypts every key in the store. Called with mu held.
func (k *keyring) load(ctx context.Context) error {
	stored, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	keys := make([]*signingKey, 0, len(stored))
	for _, sk := range stored {
		if sk.Algorithm != "ES256" {
			continue
		}
		if len(sk.Encrypted) < k.aead.NonceSize() {
			return fmt.Errorf("signing key %s is corrupt", sk.ID)
		}
		nonce, ct := sk.Encrypted[:k.aead.NonceSize()], sk.Encrypted[k.aead.NonceSize():]
		der, err := k.aead.Open(nil, nonce, ct, []byte(sk.ID))
		if err != nil {
			return fmt.Errorf("signing key %s cannot be decrypted: wrong key encryption key?", sk.ID)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		priv, ok := parsed.(*ecdsa.PrivateKey)
		if err != nil || !ok {
			return fmt.Errorf("signing key %s is not an ECDSA key", sk.ID)
		}
		keys = append(keys, &signingKey{id: sk.ID, priv: priv, header: encodedHeader(sk.ID), createdAt: sk.CreatedAt, signUntil: sk.SignUntil, publishUntil: sk.PublishUntil})
	}
	k.keys, k.loadedAt = keys, k.now()
	return nil
}

// refresh reloads the keys when the cache is stale. Called with mu held.
func (k *keyring) refresh(ctx context.Context) error {
	if k.keys != nil && k.now().Sub(k.loadedAt) < keyReload {
		return nil
	}
	return k.load(ctx)
}

// signer returns the key to sign with now: the newest activated key that may still sign, or,
// when none is activated yet (a fresh store), the newest key that may sign. It makes a new key
// when none may sign or the newest nears the end of its signing period.
func (k *keyring) signer(ctx context.Context) (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	now := k.now()
	if len(k.keys) == 0 || k.keys[0].signUntil.Sub(now) < k.rotation/10 {
		if err := k.add(ctx); err != nil {
			return nil, err
		}
	}
	var fallback *signingKey
	for _, key := range k.keys { // newest first
		if !key.signUntil.After(now) {
			continue
		}
		if !key.createdAt.Add(keyActivation).After(now) {
			return key, nil
		}
		if fallback == nil {
			fallback = key
		}
	}
	if fallback == nil {
		return nil, errors.New("no signing key")
	}
	return fallback, nil
}

// rotate makes a new key, which signs from keyActivation on; the old keys stay published.
func (k *keyring) rotate(ctx context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.add(ctx); err != nil {
		return "", err
	}
	return k.keys[0].id, nil
}

// add generates, encrypts and stores a new key, then reloads. Called with mu held.
//
// The first key of an empty store has an ID derived from the key encryption key, so that
// instances starting together on one database cannot each make (and sign with) a first key the
// others do not publish: the store refuses all but one, and the others load the winner.
func (k *keyring) add(ctx context.Context) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	now := k.now().UTC()
	id := randomToken(12)
	if len(k.keys) == 0 {
		id = k.firstID
	}
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	signUntil := now.Add(k.rotation)
	err = k.store.AddSigningKey(ctx, &store.SigningKey{
		ID: id, Algorithm: "ES256", Encrypted: k.aead.Seal(nonce, nonce, der, []byte(id)),
		CreatedAt: now, SignUntil: signUntil,
		// A token signed at the last moment lives tokenTTL; allow for clock skew too.
		PublishUntil: signUntil.Add(k.tokenTTL + 5*time.Minute),
	})
	if err != nil && !(errors.Is(err, store.ErrConflict) && id == k.firstID) {
		return err
	}
	return k.load(ctx)
}

// published returns the keys to publish in the JWKS: those within PublishUntil.
func (k *keyring) published(ctx context.Context) ([]*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	now := k.now()
	var out []*signingKey
	for _, key := range k.keys {
		if key.publishUntil.After(now) {
			out = append(out, key)
		}
	}
	return out, nil
}

// verifier returns the published key with the given kid, reloading once if it is unknown
// (another instance may have just made it).
func (k *keyring) verifier(ctx context.Context, kid string) (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	find := func() *signingKey {
		for _, key := range k.keys {
			if key.id == kid && key.publishUntil.After(k.now()) {
				return key
			}
		}
		return nil
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	if key := find(); key != nil {
		return key, nil
	}
	if k.now().Sub(k.loadedAt) > time.Second {
		if err := k.load(ctx); err != nil {
			return nil, err
		}
		if key := find(); key != nil {
			return key, nil
		}
	}
	return nil, errors.New("unknown signing key")
}

// RotateSigningKey makes a new signing key. It is published at once and signs every token from
// ten minutes on, when every instance and resource server can know it (automatic rotation,
// every KeyRotation, works the same way). Tokens signed by the previous keys stay verifiable:
// those keys stay in the JWKS until their tokens expire. It returns the new key's kid.
func (s *Server) RotateSigningKey(ctx context.Context) (string, error) {
	kid, err := s.keys.rotate(ctx)
	if err == nil {
		s.audit(ctx, "key.rotated", "kid", kid)
	}
	return kid, err
}

// randomToken returns n random bytes in unpadded base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
