package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeRegistration feeds arbitrary statuses and bodies to the reader of registration
// responses (RFC 7591 §3.2.1, §3.2.2): a refusal is always a *RegistrationError with the
// status; an acceptance is a 200/201 with a client_id, marked as dynamically registered.
func FuzzDecodeRegistration(f *testing.F) {
	f.Add(201, []byte(`{"client_id":"c1","client_secret":"s","client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_basic","redirect_uris":["http://127.0.0.1/cb"]}`))
	f.Add(200, []byte(`{"client_id":"c1"}`))
	f.Add(201, []byte(`{"client_id":""}`))
	f.Add(201, []byte(`{"client_id":7,"client_secret_expires_at":"never"}`))
	f.Add(400, []byte(`{"error":"invalid_redirect_uri","error_description":"no"}`))
	f.Add(500, []byte(`<html>`))
	f.Add(201, []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		reg, err := decodeRegistration(status, bytes.NewReader(body))
		if err != nil {
			var re *RegistrationError
			if !errors.As(err, &re) || re.StatusCode != status {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		if (status != http.StatusOK && status != http.StatusCreated) || reg.ClientID == "" || !reg.Dynamic {
			t.Fatalf("accepted status %d body %q as %+v", status, body, reg)
		}
	})
}

// bodyTransport answers every request with one status and body, as a token endpoint under
// the fuzzer's control would: no real server can be made to send arbitrary bytes this fast.
type bodyTransport struct {
	status int
	body   []byte
}

func (b *bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: b.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(b.body)), Request: r}, nil
}

// FuzzTokenResponse feeds arbitrary token endpoint answers to the token request (RFC 6749
// §5.1, §5.2): an acceptance has an access token of type Bearer; a refusal is a *TokenError
// that never carries the refresh token or client secret the request sent, even when the
// server echoes them.
func FuzzTokenResponse(f *testing.F) {
	const refresh, secret = "rt-SECRET-refresh-0123456789", "cs-SECRET-client-0123456789"
	rt := &bodyTransport{}
	c, err := New(Config{ServerURL: "https://mcp.example/mcp", Store: NewMemoryStore(), HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		f.Fatal(err)
	}
	entry := func(method string) *Entry {
		return &Entry{Key: Key{Resource: "https://mcp.example/mcp", Issuer: "https://as.example"}, TokenEndpoint: "https://as.example/token",
			Registration: &Registration{ClientID: "c1", ClientSecret: secret, AuthMethod: method}}
	}
	post, basic := entry(AuthClientSecretPost), entry(AuthClientSecretBasic)
	f.Add(200, []byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"a b"}`))
	f.Add(200, []byte(`{"access_token":"a","token_type":"bearer","expires_in":"60"}`))
	f.Add(200, []byte(`{"access_token":"a","token_type":"DPoP"}`))
	f.Add(200, []byte(`{"access_token":"","token_type":"Bearer","expires_in":-1e99}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"refresh token `+refresh+` is unknown"}`))
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"bad secret `+secret+`"}`))
	f.Add(200, []byte(`access_token=a`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		e := post
		if status%2 == 1 {
			e = basic
		}
		rt.status, rt.body = status, body
		form := map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
		tr, err := c.postToken(context.Background(), e, form)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TokenError", err, err)
			}
			if strings.Contains(err.Error(), refresh) || strings.Contains(err.Error(), secret) {
				t.Fatalf("secret in error %q", err)
			}
			return
		}
		if status != http.StatusOK || tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
			t.Fatalf("accepted %d %q as %+v", status, body, tr)
		}
	})
}
