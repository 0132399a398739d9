package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// deviceAS is a hand-written authorization server for the device grant whose token endpoint
// answers from a script (authorization_pending, slow_down, access_denied, expired_token,
// then a token): a real server cannot be made to produce these sequences on demand. Our
// authorization server's device endpoint is not built yet.
type deviceAS struct {
	srv    *httptest.Server
	mu     sync.Mutex
	script []string // token endpoint answers, in order; "" issues the token
	polls  []time.Time
	forms  []map[string][]string
	device map[string][]string
}

func newDeviceAS(t *testing.T, script ...string) *deviceAS {
	as := &deviceAS{script: script}
	mux := http.NewServeMux()
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	base := as.srv.URL
	js := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"device_authorization_endpoint": base + "/device_authorization", "registration_endpoint": base + "/register",
			"code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		js(w, 201, map[string]any{"client_id": "dev-client", "token_endpoint_auth_method": "none"})
	})
	mux.HandleFunc("POST /device_authorization", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		as.mu.Lock()
		as.device = r.PostForm
		as.mu.Unlock()
		js(w, 200, map[string]any{"device_code": "dc-secret", "user_code": "WDJB-MJHT", "verification_uri": base + "/device",
			"verification_uri_complete": base + "/device?user_code=WDJB-MJHT", "expires_in": 600, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		as.mu.Lock()
		defer as.mu.Unlock()
		as.polls = append(as.polls, time.Now())
		as.forms = append(as.forms, r.PostForm)
		answer := "authorization_pending"
		if len(as.script) > 0 {
			answer, as.script = as.script[0], as.script[1:]
		}
		if answer != "" {
			js(w, 400, map[string]any{"error": answer})
			return
		}
		js(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt"})
	})
	return as
}

func deviceClient(t *testing.T, as *deviceAS, stderr *bytes.Buffer) *Client {
	t.Helper()
	c, err := New(Config{ServerURL: as.srv.URL + "/mcp", GrantType: DeviceCode, Store: NewMemoryStore(), Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeviceGrantPollsAndHonoursSlowDown(t *testing.T) {
	defer func(u time.Duration) { devicePollUnit = u }(devicePollUnit)
	devicePollUnit = 20 * time.Millisecond // "interval": 1 → 20 ms; slow_down adds 5 units
	as := newDeviceAS(t, "authorization_pending", "slow_down", "authorization_pending", "")
	var stderr bytes.Buffer
	tok, err := deviceClient(t, as, &stderr).Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.AccessToken != "at" {
		t.Fatalf("token %q", tok.AccessToken)
	}
	if out := stderr.String(); !strings.Contains(out, "WDJB-MJHT") || !strings.Contains(out, as.srv.URL+"/device") || strings.Contains(out, "dc-secret") {
		t.Errorf("stderr shows no user code and URL, or shows the device code:\n%s", out)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.polls) != 4 {
		t.Fatalf("%d polls, want 4", len(as.polls))
	}
	// After slow_down (second answer) the interval is 1+5 units.
	if gap := as.polls[2].Sub(as.polls[1]); gap < 6*devicePollUnit {
		t.Errorf("poll after slow_down came after %v, want at least %v", gap, 6*devicePollUnit)
	}
	for _, f := range as.forms {
		if f["grant_type"][0] != string(DeviceCode) || f["device_code"][0] != "dc-secret" || f["resource"][0] != as.srv.URL+"/mcp" || f["client_id"][0] != "dev-client" {
			t.Errorf("token request %v", f)
		}
	}
	if as.device["resource"][0] != as.srv.URL+"/mcp" || as.device["client_id"][0] != "dev-client" {
		t.Errorf("device authorization request %v", as.device)
	}
}

func TestDeviceGrantErrors(t *testing.T) {
	defer func(u time.Duration) { devicePollUnit = u }(devicePollUnit)
	devicePollUnit = time.Millisecond
	var denied *UserDeniedError
	var expired *DeviceCodeExpiredError
	for _, tc := range []struct {
		answer string
		is     func(error) bool
	}{
		{"access_denied", func(err error) bool { return errors.As(err, &denied) }},
		{"expired_token", func(err error) bool { return errors.As(err, &expired) }},
		{"invalid_client", func(err error) bool { var te *TokenError; return errors.As(err, &te) && te.Code == "invalid_client" }},
	} {
		as := newDeviceAS(t, "authorization_pending", tc.answer)
		_, err := deviceClient(t, as, &bytes.Buffer{}).Token(context.Background())
		if !tc.is(err) {
			t.Errorf("%s: error %v (%T)", tc.answer, err, err)
		}
		if err != nil && strings.Contains(err.Error(), "dc-secret") {
			t.Errorf("%s: the error shows the device code: %v", tc.answer, err)
		}
	}
}
