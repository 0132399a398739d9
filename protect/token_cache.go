// A bounded cache of verified access tokens (RFC 6750 §2.1 bearer tokens, verified per RFC 9068 §4
// or RFC 7662 §2), so that a client's repeated requests cost one signature check or one
// introspection request per token rather than one per request.

package protect

import (
	"container/list"
	"crypto/sha256"
	"hash"
	"sync"
	"time"
)

// defaultCacheSize bounds the tokens a verifier remembers unless configured.
const defaultCacheSize = 10000

// tokenKey identifies a token in a cache: its SHA-256, so that the cache
// holds no token (a heap dump shows no credential) and a forged entry would
// need a SHA-256 collision.
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey {
	kh := keyHashers.Get().(*keyHasher)
	defer keyHashers.Put(kh)
	kh.h.Reset()
	// The token is hashed through a reused buffer: sha256.Sum256([]byte(token))
	// would copy it to the heap on every request.
	for token != "" {
		n := copy(kh.buf[:], token)
		kh.h.Write(kh.buf[:n])
		token = token[n:]
	}
	var k tokenKey
	copy(k[:], kh.h.Sum(kh.buf[:0]))
	return k
}

type keyHasher struct {
	h   hash.Hash
	buf [256]byte
}

var keyHashers = sync.Pool{New: func() any { return &keyHasher{h: sha256.New()} }}

// tokenCache remembers verified tokens, least recently used evicted first.
// An entry is valid until its own deadline, which the verifier sets no later
// than the moment the token would be refused (its exp plus the clock skew);
// the clock is read again on every lookup. A zero-capacity cache keeps
// nothing. It is safe for concurrent use.
type tokenCache struct {
	size int

	mu  sync.Mutex
	lru *list.List // of *cacheEntry, most recently used first
	m   map[tokenKey]*list.Element
}

type cacheEntry struct {
	key       tokenKey
	info      *TokenInfo
	notBefore time.Time // the entry is not used before this instant (nbf or iat minus skew)
	until     time.Time // nor from this instant on
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: max(size, 0), lru: list.New(), m: map[tokenKey]*list.Element{}}
}

// get returns the cached info for key if it is valid at now.
func (c *tokenCache) get(key tokenKey, now time.Time) *TokenInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.m, key)
		return nil
	}
	if now.Before(e.notBefore) { // the clock went back: verify afresh
		return nil
	}
	c.lru.MoveToFront(el)
	return e.info
}

// put remembers info for key in [notBefore, until), evicting the least
// recently used entries beyond the size bound.
func (c *tokenCache) put(key tokenKey, info *TokenInfo, notBefore, until time.Time) {
	if c.size == 0 || !notBefore.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.lru.Remove(el)
	}
	if info.derived == nil { // before the info is shared between requests
		info.derived = info.derive()
	}
	c.m[key] = c.lru.PushFront(&cacheEntry{key: key, info: info, notBefore: notBefore, until: until})
	for c.lru.Len() > c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).key)
	}
}

// clear forgets every entry (the keys that verified them changed).
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.m)
}
