package authserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	resp, body := do(t, http.DefaultClient, req)
	out := map[string]any{}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
	}
	return resp.StatusCode, out
}

func TestMetadata(t *testing.T) {
	as := newTestAS(t, nil)
	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		status, m := getJSON(t, as.URL+wk)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", wk, status)
		}
		for field, want := range map[string]any{
			"issuer":                 as.URL,
			"authorization_endpoint": as.URL + "/authorize",
			"token_endpoint":         as.URL + "/token",
			"registration_endpoint":  as.URL + "/register",
			"jwks_uri":               as.URL + "/jwks",
			"revocation_endpoint":    as.URL + "/revoke",
			"introspection_endpoint": as.URL + "/introspect",
			"authorization_response_iss_parameter_supported": true,
			"client_id_metadata_document_supported":          false, // DisableCIMD in tests
		} {
			if m[field] != want {
				t.Errorf("%s: %s = %v, want %v", wk, field, m[field], want)
			}
		}
		if got := m["code_challenge_methods_supported"].([]any); len(got) != 1 || got[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v, want [S256]", got)
		}
		if got := m["scopes_supported"].([]any); len(got) != 2 {
			t.Errorf("scopes_supported = %v", got)
		}
	}
}

// TestMetadataIssuerWithPath serves the issuer https://…/tenant/auth at the RFC 8414 §3.1
// path-insertion URLs and at the appended OpenID Connect form, and refuses the root form.
func TestMetadataIssuerWithPath(t *testing.T) {
	as := newTestAS(t, nil)
	issuer := as.URL + "/tenant/auth"
	s := newTestAS(t, func(c *authserver.Config) { c.Issuer = issuer })
	h := s.Handler()
	for path, want := range map[string]int{
		"/.well-known/oauth-authorization-server/tenant/auth": 200,
		"/.well-known/openid-configuration/tenant/auth":       200,
		"/tenant/auth/.well-known/openid-configuration":       200,
		"/tenant/auth/.well-known/oauth-authorization-server": 200,
		"/.well-known/oauth-authorization-server":             404,
		"/tenant/auth/jwks": 200,
	} {
		rec := httptestGet(h, path)
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if want == 200 && strings.Contains(path, "well-known") {
			var m map[string]any
			json.Unmarshal(rec.Body.Bytes(), &m)
			if m["issuer"] != issuer || m["token_endpoint"] != issuer+"/token" {
				t.Errorf("GET %s: issuer %v, token_endpoint %v", path, m["issuer"], m["token_endpoint"])
			}
		}
	}
}

func TestMetadataClosedPolicyHasNoRegistrationEndpoint(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) { c.RegistrationPolicy = authserver.RegistrationClosed })
	_, m := getJSON(t, as.URL+"/.well-known/oauth-authorization-server")
	if _, ok := m["registration_endpoint"]; ok {
		t.Fatal("closed policy must not advertise registration_endpoint")
	}
}

func TestIssuerRules(t *testing.T) {
	as := newTestAS(t, nil)
	for _, tc := range []struct {
		issuer, listen string
		ok             bool
	}{
		{"https://as.example.com", "0.0.0.0:443", true},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{"http://localhost:8080", "", true},
		{"http://as.example.com", "", false},             // http off loopback
		{"http://127.0.0.1:8080", "0.0.0.0:8080", false}, // http issuer but listening publicly
		{"https://as.example.com/", "", false},           // trailing slash
		{"https://as.example.com?x=1", "", false},        // query
		{"ftp://as.example.com", "", false},
		{"https://as.example.com/tenant-1/auth", "", true},
		{"https://as.example.com/{x}", "", false}, // would be a ServeMux wildcard
		{"https://as.example.com/a//b", "", false},
		{"https://as.example.com/a/../b", "", false},
	} {
		_, err := authserver.New(t.Context(), authserver.Config{
			Issuer: tc.issuer, ListenAddr: tc.listen, Store: as.Store, KeyEncryptionKey: as.Key,
			Resources: []authserver.Resource{{URI: resourceA}},
		})
		if (err == nil) != tc.ok {
			t.Errorf("issuer %s listen %q: err = %v, want ok=%v", tc.issuer, tc.listen, err, tc.ok)
		}
	}
}
