package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// setup is a hand-written MCP server + authorization server with one fault at a time. The
// faults (missing metadata, wrong resource or issuer, no S256, no registration) are ones our
// real authorization server and middleware cannot be configured to produce; the correct
// setup is also diagnosed against the real `mcpauth serve` in cmd/mcpauth.
type setup struct {
	noPRM, noDCR, noS256, noChallenge bool
	resource, issuer                  string // override the documents' values
}

func (s setup) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if !s.noChallenge {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp", scope="notes:read"`)
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	if !s.noPRM {
		mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
			resource := base + "/mcp"
			if s.resource != "" {
				resource = s.resource
			}
			writeJSON(w, map[string]any{"resource": resource, "authorization_servers": []string{base}})
		})
	}
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		issuer := base
		if s.issuer != "" {
			issuer = s.issuer
		}
		md := map[string]any{
			"issuer": issuer, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"code_challenge_methods_supported":               []string{"S256"},
			"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
			"authorization_response_iss_parameter_supported": true,
			"registration_endpoint":                          base + "/register",
		}
		if s.noS256 {
			md["code_challenge_methods_supported"] = []string{"plain"}
		}
		if s.noDCR {
			delete(md, "registration_endpoint")
		}
		writeJSON(w, md)
	})
	return base + "/mcp"
}

func step(r *Report, name string) Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return Step{}
}

func TestDiagnoseCorrectSetup(t *testing.T) {
	url := setup{}.start(t)
	r := Diagnose(context.Background(), url, Options{})
	if !r.OK {
		t.Fatalf("report not OK: %+v", r.Steps)
	}
	for _, name := range []string{"401 and challenge", "protected resource metadata", "resource match", "authorization servers",
		"authorization server metadata", "issuer", "PKCE S256", "client registration", "iss in responses (RFC 9207)", "refresh tokens"} {
		if s := step(r, name); s.Status != OK {
			t.Errorf("step %q: %+v, want ok", name, s)
		}
	}
	if s := step(r, "authorization server metadata"); !strings.Contains(s.Detail, "/.well-known/oauth-authorization-server") {
		t.Errorf("the metadata step does not say which URL served it: %q", s.Detail)
	}
}

// TestDiagnoseBrokenSetups names each problem in its own step, with a fix, and fails.
func TestDiagnoseBrokenSetups(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    setup
		opts     Options
		step     string
		want     string // in Detail
		fix      string // in Fix
		stillOK  bool
		wantStat Status
	}{
		{name: "no PRM", setup: setup{noPRM: true}, step: "protected resource metadata", want: "not found", fix: "RFC 9728"},
		{name: "resource mismatch", setup: setup{resource: "https://other.example.com/mcp"}, step: "resource match", want: "https://other.example.com/mcp", fix: "resource"},
		{name: "issuer mismatch", setup: setup{issuer: "https://evil.example.com"}, step: "issuer", want: "https://evil.example.com", fix: "identical"},
		{name: "no S256", setup: setup{noS256: true}, step: "PKCE S256", want: "plain", fix: "S256"},
		{name: "no DCR", setup: setup{noDCR: true}, step: "client registration", want: "neither", fix: "--client-id"},
		{name: "no DCR but a client ID", setup: setup{noDCR: true}, opts: Options{ClientID: "known"}, step: "client registration", want: "pre-registered", stillOK: true, wantStat: OK},
		{name: "no challenge", setup: setup{noChallenge: true}, step: "401 and challenge", want: "without a Bearer challenge", fix: "WWW-Authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Diagnose(context.Background(), tc.setup.start(t), tc.opts)
			if r.OK != tc.stillOK {
				t.Errorf("OK = %v, want %v", r.OK, tc.stillOK)
			}
			s := step(r, tc.step)
			want := tc.wantStat
			if want == "" {
				want = Fail
			}
			if s.Status != want || !strings.Contains(s.Detail, tc.want) || !strings.Contains(s.Fix, tc.fix) {
				t.Errorf("step %q = %+v, want %s with %q and a fix with %q", tc.step, s, want, tc.want, tc.fix)
			}
		})
	}
}

func TestDiagnoseTokenAudience(t *testing.T) {
	url := setup{}.start(t)
	jwt := func(aud any) string {
		b, _ := json.Marshal(map[string]any{"aud": aud, "sub": "alice"})
		return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
	}
	if s := step(Diagnose(context.Background(), url, Options{AccessToken: jwt(url)}), "token audience"); s.Status != OK {
		t.Errorf("matching aud: %+v", s)
	}
	r := Diagnose(context.Background(), url, Options{AccessToken: jwt([]string{"https://other.example.com"})})
	if s := step(r, "token audience"); s.Status != Fail || r.OK {
		t.Errorf("wrong aud: %+v (report OK %v)", s, r.OK)
	}
	var b strings.Builder
	r.WriteText(&b)
	if strings.Contains(b.String(), "c2ln") || strings.Contains(b.String(), "eyJ") {
		t.Errorf("the report shows the token:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "✗ token audience") {
		t.Errorf("the report does not mark the audience step failed:\n%s", b.String())
	}
}
