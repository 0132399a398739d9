package authserver_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestBasicCredentialsGuardedOrNot: client_secret_basic (RFC 6749 §2.3.1: id and secret each
// form-urlencoded, then Basic-encoded) gets the same answers whether the client authentication
// guard decoded the header for the endpoint or the endpoint decoded it itself (no limits).
func TestBasicCredentialsGuardedOrNot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*authserver.Config)
	}{
		{"guarded", nil},
		{"unguarded", func(c *authserver.Config) { c.ClientAuthFailuresPerClient, c.ClientAuthFailuresPerAddress = -1, -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newTestAS(t, tc.mutate)
			const id = "svc+one/ü=%41"
			_, secret, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{ID: id, Confidential: true, GrantTypes: []string{"client_credentials"}})
			if err != nil {
				t.Fatal(err)
			}
			cc := url.Values{"grant_type": {"client_credentials"}, "resource": {resourceA}}
			post := func(form url.Values, user, pass string) (int, string, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, as.URL+"/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
				resp, body := do(t, http.DefaultClient, req)
				return resp.StatusCode, string(body), resp.Header.Get("WWW-Authenticate")
			}
			withForm := func(k, v string) url.Values {
				f := url.Values{}
				for key, vs := range cc {
					f[key] = vs
				}
				f.Set(k, v)
				return f
			}
			for _, c := range []struct {
				name, user, pass string
				form             url.Values
				status           int
				errCode          string
			}{
				{"encoded", url.QueryEscape(id), url.QueryEscape(secret), cc, 200, ""},
				{"form client_id agrees", url.QueryEscape(id), url.QueryEscape(secret), withForm("client_id", id), 200, ""},
				{"not encoded", id, secret, cc, 401, "invalid_client"},
				{"wrong secret", url.QueryEscape(id), "x" + secret, cc, 401, "invalid_client"},
				{"malformed id", "%zz", secret, cc, 401, "invalid_client"},
				{"malformed secret", url.QueryEscape(id), secret + "%", cc, 401, "invalid_client"},
				{"form client_id differs", url.QueryEscape(id), url.QueryEscape(secret), withForm("client_id", "other"), 401, "invalid_client"},
				{"and client_secret", url.QueryEscape(id), url.QueryEscape(secret), withForm("client_secret", secret), 400, "invalid_request"},
				{"and an assertion", url.QueryEscape(id), url.QueryEscape(secret), withForm("client_assertion", "a.b.c"), 400, "invalid_request"},
			} {
				status, body, challenge := post(c.form, c.user, c.pass)
				if status != c.status || (c.errCode != "" && !strings.Contains(body, `"error":"`+c.errCode+`"`)) {
					t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.errCode)
				}
				if status == 401 && challenge == "" {
					t.Errorf("%s: 401 without a Basic challenge", c.name)
				}
				if strings.Contains(body, secret) {
					t.Errorf("%s: the answer shows the secret", c.name)
				}
			}
		})
	}
}
