package authserver

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// requestDeadlines ends the context of every request that has run for Config.RequestTimeout,
// which fails the store operations it still waits for. (A write SQLite has begun still commits:
// the group runs it without its caller's cancellation.) One goroutine looks at the running
// requests every quarter of the timeout, so a request ends between 1 and 1.25 timeouts after it
// began. A timer per request (context.WithTimeout) cost 15–20 µs of CPU per client_credentials
// token on the benchmark's machine, about an eighth of the token; this costs nothing measurable.
type requestDeadlines struct {
	timeout time.Duration
	mu      sync.Mutex
	running map[*runningRequest]struct{}
}

type runningRequest struct {
	began  time.Time
	cancel context.CancelFunc
}

func newRequestDeadlines(timeout time.Duration) *requestDeadlines {
	return &requestDeadlines{timeout: timeout, running: map[*runningRequest]struct{}{}}
}

// handler runs next with a context that requestDeadlines ends after the timeout. The form the
// endpoints parse into that copy of the request is handed back to r, for a wrapper that reads
// it after them, as the body is read once.
func (d *requestDeadlines) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, done := d.begin(r.Context())
		defer done()
		inner := r.WithContext(ctx)
		next.ServeHTTP(w, inner)
		r.Form, r.PostForm = inner.Form, inner.PostForm
	})
}

// begin returns a context that ends after the timeout, and the function that ends it sooner.
func (d *requestDeadlines) begin(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	req := &runningRequest{began: time.Now(), cancel: cancel}
	d.mu.Lock()
	d.running[req] = struct{}{}
	d.mu.Unlock()
	return ctx, func() {
		d.mu.Lock()
		delete(d.running, req)
		d.mu.Unlock()
		cancel()
	}
}

// run ends the contexts of the requests past their time, every quarter of the timeout, until
// ctx is done.
func (d *requestDeadlines) run(ctx context.Context) {
	t := time.NewTicker(d.timeout / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.expire(now)
		}
	}
}

// expire ends the contexts of the requests that began a timeout or more before now.
func (d *requestDeadlines) expire(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for req := range d.running {
		if now.Sub(req.began) >= d.timeout {
			req.cancel()
			delete(d.running, req)
		}
	}
}
