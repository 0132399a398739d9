// An in-memory Store for embedding and tests.

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// MemoryStore is a Store that keeps entries in memory only.
type MemoryStore struct {
	mu      sync.Mutex
	entries map[Key][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{entries: map[Key][]byte{}} }

// Entries are kept encoded, so that callers never share memory with the store.

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key Key) (*Entry, error) {
	s.mu.Lock()
	b, ok := s.entries[key]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("credentials for %s at %s: %w", key.Resource, key.Issuer, ErrNotFound)
	}
	return decodeEntry(b)
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, e *Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.entries[e.Key] = b
	s.mu.Unlock()
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key Key) error {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
	return nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, resource string) ([]*Entry, error) {
	s.mu.Lock()
	var out []*Entry
	for k, b := range s.entries {
		if k.Resource != resource {
			continue
		}
		e, err := decodeEntry(b)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		out = append(out, e)
	}
	s.mu.Unlock()
	sortNewestFirst(out)
	return out, nil
}

func decodeEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding stored credentials: %v", err) // %v: the text has no secret
	}
	return &e, nil
}

func sortNewestFirst(es []*Entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Updated.After(es[j].Updated) })
}
