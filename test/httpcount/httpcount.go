// Package httpcount counts the HTTP requests a client sends, for tests that
// prove a client makes no redundant request.
package httpcount

import (
	"net/http"
	"sync"
)

// Transport is an http.RoundTripper that counts each request by
// "METHOD path" and sends it with http.DefaultTransport. Requests for which
// Skip returns true are sent but not counted.
type Transport struct {
	Skip func(*http.Request) bool

	mu sync.Mutex
	n  map[string]int
}

// RoundTrip counts r and sends it.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.Skip == nil || !t.Skip(r) {
		t.mu.Lock()
		if t.n == nil {
			t.n = map[string]int{}
		}
		t.n[r.Method+" "+r.URL.Path]++
		t.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Take returns the counts since the previous call (an empty map if none).
func (t *Transport) Take() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.n
	if n == nil {
		n = map[string]int{}
	}
	t.n = nil
	return n
}
