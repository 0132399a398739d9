package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countConns starts srv counting the connections it accepts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	return &n
}

// TestRawOpChecksAnswers: against a real net/http server the raw generator keeps one connection
// per worker, reads answers delimited by Content-Length and chunked, and counts as failures a
// wrong status (with its OAuth error code) and an answer without the member.
func TestRawOpChecksAnswers(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Host == "" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
			w.WriteHeader(http.StatusBadRequest)
		case string(body) == "bad":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		case string(body) == "empty":
			_, _ = io.WriteString(w, `{"access_token":"","token_type":"Bearer"}`)
		case string(body) == "chunked":
			_, _ = io.WriteString(w, `{"token_type":"Bearer",`)
			w.(http.Flusher).Flush() // no Content-Length: the rest goes chunked
			_, _ = io.WriteString(w, `"access_token" : "a.b.c"}`)
		default:
			_, _ = io.WriteString(w, `{"access_token":"a.b.c","token_type":"Bearer"}`)
		}
	}))
	conns := countConns(srv)
	defer srv.Close()
	rc, err := NewRawClient(srv.URL+"/token", 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	req := func(body string) []byte {
		return rc.NewRequest("POST", "/token", []byte(body), "Content-Type", "application/x-www-form-urlencoded")
	}
	ops := map[string]Op{
		"ok":      RawOp(rc, "ok", req("grant_type=client_credentials"), 200, "access_token"),
		"chunked": RawOp(rc, "chunked", req("chunked"), 200, "access_token"),
		"bad":     RawOp(rc, "bad", req("bad"), 200, "access_token"),
		"empty":   RawOp(rc, "empty", req("empty"), 200, "access_token"),
	}
	names := []string{"ok", "chunked", "bad", "empty"}
	res := Run(context.Background(), 4, 200*time.Millisecond, ops, func(_, i int) string { return names[i%len(names)] })
	ok, chunked, bad, empty := res.Ops["ok"], res.Ops["chunked"], res.Ops["bad"], res.Ops["empty"]
	if ok.Count == 0 || ok.Errors != 0 || chunked.Count == 0 || chunked.Errors != 0 {
		t.Fatalf("good answers: %s", res)
	}
	var se *StatusError
	if bad.Count != 0 || bad.Errors == 0 || !errors.As(bad.FirstError, &se) || se.Status != 400 || se.Code != "invalid_grant" {
		t.Errorf("wrong status: %+v", bad)
	}
	if empty.Count != 0 || empty.Errors == 0 || !strings.Contains(empty.FirstError.Error(), `no "access_token"`) {
		t.Errorf("empty token: %+v", empty)
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for 4 workers and %d requests, want 4", n, requests.Load())
	}
}

// TestRawClientReconnects: a connection the server closes (Connection: close, or idle) is
// dialled again, and the request that met the closed connection is sent once more.
func TestRawClientReconnects(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, `{"client_id":"c1"}`)
	}))
	conns := countConns(srv)
	defer srv.Close()
	rc, err := NewRawClient(srv.URL, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	op := RawOp(rc, "register", rc.NewRequest("POST", "/register", []byte("{}")), 200, "client_id")
	for i := range 9 {
		if err := op(context.Background(), 0); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections for 9 requests closed after every third, want 3", got)
	}
	srv.CloseClientConnections() // the server drops the idle keep-alive connection
	if err := op(context.Background(), 0); err != nil {
		t.Fatalf("after the server closed the idle connection: %v", err)
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("%d connections, want 4", got)
	}
}

// TestRawClientTimeout: a server that stops answering makes Do fail after the timeout instead
// of hanging the worker, and a request that timed out is not sent again (it may have been
// served).
func TestRawClientTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
				_, _ = io.Copy(io.Discard, c) // then reads, never answers, until the client closes
			})
		}
	})
	rc, err := NewRawClient("http://"+ln.Addr().String(), 1, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	req := rc.NewRequest("GET", "/", nil)
	if status, _, err := rc.Do(context.Background(), 0, req); err != nil || status != 200 {
		t.Fatalf("first request: %d, %v", status, err)
	}
	start := time.Now()
	_, _, err = rc.Do(context.Background(), 0, req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Do against a silent server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*200*time.Millisecond+time.Second {
		t.Errorf("timed out after %v: sent again?", d)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections: the timed-out request was sent again", n)
	}
	ln.Close()
}

// TestRawRefreshRotates: each call sends the refresh token of the previous answer and keeps
// the new one; an answer without a new refresh token is a failure.
func TestRawRefreshRotates(t *testing.T) {
	var mu sync.Mutex
	next := map[string]string{"rt0": "rt1", "rt1": "rt2", "rt2": "rt-3_x.y~"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.PostFormValue("grant_type") != "refresh_token" || r.PostFormValue("client_id") != "pub" ||
			r.PostFormValue("resource") != "http://127.0.0.1:9/mcp" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rt := r.PostFormValue("refresh_token")
		n, ok := next[rt]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		delete(next, rt)
		if n == "rt-3_x.y~" {
			_, _ = io.WriteString(w, `{"access_token":"at","refresh_token":"`+n+`"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"at", "refresh_token": "`+n+`"}`)
	}))
	defer srv.Close()
	as := &AS{Resource: "http://127.0.0.1:9/mcp"}
	as.Metadata.TokenEndpoint = srv.URL + "/token"
	rc, err := NewRawClient(srv.URL, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	chains := []string{"rt0"}
	op, err := as.RawRefresh(rc, &Client{ID: "pub"}, chains)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rt1", "rt2", "rt-3_x.y~"} {
		if err := op(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		if chains[0] != want {
			t.Fatalf("chain holds %q, want %q", chains[0], want)
		}
	}
	var se *StatusError
	if err := op(context.Background(), 0); !errors.As(err, &se) || se.Code != "invalid_grant" {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := as.RawRefresh(rc, &Client{ID: "pub"}, []string{"needs escaping+/="}); err == nil {
		t.Error("a refresh token that needs escaping accepted")
	}
}

func TestStringMember(t *testing.T) {
	for _, tc := range []struct{ body, key, want string }{
		{`{"access_token":"abc","x":1}`, "access_token", "abc"},
		{`{ "access_token" :  "a\"b" }`, "access_token", `a\"b`},
		{`{"note":"\"access_token\":\"fake\"","access_token":"real"}`, "access_token", "real"},
		{`{"access_token_x":"no","access_token":"yes"}`, "access_token", "yes"},
		{`{"access_token":null}`, "access_token", ""},
		{`{"access_token":"unterminated`, "access_token", ""},
		{`{"error":"invalid_client"}`, "access_token", ""},
		{`"access_token"`, "access_token", ""},
	} {
		if got := string(stringMember([]byte(tc.body), memberKey(tc.key))); got != tc.want {
			t.Errorf("stringMember(%s, %s) = %q, want %q", tc.body, tc.key, got, tc.want)
		}
	}
}
