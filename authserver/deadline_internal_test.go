package authserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRequestDeadlines: a request's context ends once it has run for the timeout, not before,
// and a request that has ended is forgotten.
func TestRequestDeadlines(t *testing.T) {
	d := newRequestDeadlines(time.Minute)
	ctx, done := d.begin(t.Context())
	_, doneOther := d.begin(t.Context())
	doneOther()
	if len(d.running) != 1 {
		t.Fatalf("%d requests running, want 1: an ended one was kept", len(d.running))
	}
	d.expire(time.Now().Add(59 * time.Second))
	if ctx.Err() != nil {
		t.Fatalf("the context ended before the timeout: %v", ctx.Err())
	}
	d.expire(time.Now().Add(time.Minute))
	if ctx.Err() == nil {
		t.Fatal("the context did not end at the timeout")
	}
	if len(d.running) != 0 {
		t.Fatalf("%d requests running after the expiry, want 0", len(d.running))
	}
	done() // after the expiry: harmless
}

// TestRequestDeadlinesRun: the goroutine ends a request past its time by itself, and the form
// the handler parsed is handed back to the caller's request.
func TestRequestDeadlinesRun(t *testing.T) {
	d := newRequestDeadlines(40 * time.Millisecond)
	go d.run(t.Context())
	var waited time.Duration
	h := d.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second): // not ended: reported below, without a hang
		}
		waited = time.Since(start)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
	}))
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if waited < 40*time.Millisecond || waited >= 5*time.Second {
		t.Errorf("the request's context ended after %v, want 40–50 ms (under 5 s on a loaded machine)", waited)
	}
	if got := r.PostForm.Get("grant_type"); got != "client_credentials" {
		t.Errorf("the caller's request has grant_type %q after the handler, want client_credentials", got)
	}
}
