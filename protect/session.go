// Binding of MCP sessions (Mcp-Session-Id, MCP transports "Session Management") to the user who created
// them, against session hijacking (MCP security best practices).

package protect

import (
	"container/list"
	"net/http"
	"sync"
)

// sessionHeader is the Streamable HTTP session header.
const sessionHeader = "Mcp-Session-Id"

// sessionBinder remembers which user created each session. It is bounded:
// the least recently used sessions are forgotten first.
type sessionBinder struct {
	mu   sync.Mutex
	max  int
	lru  *list.List // of *sessionEntry, most recent first
	byID map[string]*list.Element
}

type sessionEntry struct{ id, user string }

func newSessionBinder(max int) *sessionBinder {
	return &sessionBinder{max: max, lru: list.New(), byID: map[string]*list.Element{}}
}

// owner returns the user bound to id, or "" when id is unknown.
func (b *sessionBinder) owner(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byID[id]; ok {
		b.lru.MoveToFront(el)
		return el.Value.(*sessionEntry).user
	}
	return ""
}

// bind records that user created session id.
func (b *sessionBinder) bind(id, user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byID[id]; ok {
		b.lru.Remove(el)
	}
	b.byID[id] = b.lru.PushFront(&sessionEntry{id, user})
	for b.lru.Len() > b.max {
		old := b.lru.Back()
		b.lru.Remove(old)
		delete(b.byID, old.Value.(*sessionEntry).id)
	}
}

// forget drops a session the client deleted.
func (b *sessionBinder) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byID[id]; ok {
		b.lru.Remove(el)
		delete(b.byID, id)
	}
}

// sessionRecorder binds the session ID the wrapped server assigns in its
// response to the user of the request. It forwards Flush for SSE streams.
type sessionRecorder struct {
	http.ResponseWriter
	binder  *sessionBinder
	user    string
	written bool
}

func (s *sessionRecorder) WriteHeader(code int) {
	if !s.written {
		s.written = true
		if id := s.Header().Get(sessionHeader); id != "" && code < 300 {
			s.binder.bind(id, s.user)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *sessionRecorder) Write(p []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

func (s *sessionRecorder) Flush() {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *sessionRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
