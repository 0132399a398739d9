// A cache of stored clients (RFC 6749 §2) for the token, revocation and introspection endpoints:
// a client's lookup reads the store at most once per clientCacheTTL.
package authserver

import (
	"context"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// clientCacheTTL bounds how long an instance serves a client as it read it. Changes made
// through this instance (RFC 7592 update or delete, Admin, expiry of unused clients) take effect
// at once; a change made through another instance sharing the store (or by the mcpauth clients
// command on the database) takes effect here within clientCacheTTL: until then a deleted client
// can still obtain and introspect tokens here, and a replaced secret still works.
const clientCacheTTL = 5 * time.Second

// clientCacheSize bounds the number of cached clients; when it is full, an arbitrary entry makes
// room for a new one.
const clientCacheSize = 10000

// clientCache holds parsed stored clients. It sees every change made through the server's store,
// because it wraps that store (cachingStore).
type clientCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedClient
	// gen counts invalidations, so that a lookup that read the store before an invalidation
	// does not then cache what it read.
	gen uint64
}

type cachedClient struct {
	c       *client
	expires time.Time
}

func newClientCache(now func() time.Time) *clientCache {
	return &clientCache{now: now, entries: map[string]cachedClient{}}
}

// get returns a copy of the stored client with that ID, reading the store when the cached
// entry is missing or stale. The copy is the caller's to change.
func (cc *clientCache) get(ctx context.Context, st store.Store, id string) (*client, error) {
	cc.mu.Lock()
	e, ok := cc.entries[id]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && cc.now().Before(e.expires) {
		return e.c.clone(), nil
	}
	sc, err := st.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := clientFromStore(sc)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if cc.gen == gen {
		if _, ok := cc.entries[id]; !ok && len(cc.entries) >= clientCacheSize {
			for k := range cc.entries {
				delete(cc.entries, k)
				break
			}
		}
		cc.entries[id] = cachedClient{c: c, expires: cc.now().Add(clientCacheTTL)}
	}
	cc.mu.Unlock()
	return c.clone(), nil
}

// forget drops the client with that ID, or every client when id is empty.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	if id == "" {
		clear(cc.entries)
	} else {
		delete(cc.entries, id)
	}
}

// touched records a new last use of a cached client, so that the hourly TouchClient is not
// repeated for every request until the entry expires.
func (cc *clientCache) touched(id string, at time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.entries[id]; ok && e.c.stored.LastUsedAt.Before(at) {
		c := e.c.clone()
		c.stored.LastUsedAt = at
		cc.entries[id] = cachedClient{c: c, expires: e.expires}
	}
}

// clone copies the client and its stored record (the RFC 7592 update handler changes both),
// the two in one allocation.
func (c *client) clone() *client {
	if c.stored == nil {
		cp := *c
		return &cp
	}
	both := &struct {
		c  client
		st store.Client
	}{*c, *c.stored}
	both.c.stored = &both.st
	return &both.c
}

// cachingStore is the server's store: every write to a client through it updates the cache.
type cachingStore struct {
	store.Store
	clients *clientCache
}

func (s cachingStore) UpdateClient(ctx context.Context, c *store.Client) error {
	defer s.clients.forget(c.ID)
	return s.Store.UpdateClient(ctx, c)
}

func (s cachingStore) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.forget(id)
	return s.Store.DeleteClient(ctx, id)
}

func (s cachingStore) DeleteUnusedClients(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.Store.DeleteUnusedClients(ctx, cutoff)
	if n > 0 || err != nil { // nothing deleted: every cached client is still there
		s.clients.forget("")
	}
	return n, err
}

func (s cachingStore) TouchClient(ctx context.Context, id string, at time.Time) error {
	err := s.Store.TouchClient(ctx, id, at)
	if err == nil {
		s.clients.touched(id, at)
	}
	return err
}
