package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestServeClientAuthFailureLimit: --client-auth-failures reaches the authorization server:
// after that many wrong secrets the client's right secret gets 429 with Retry-After.
func TestServeClientAuthFailureLimit(t *testing.T) {
	svc := startServe(t, serveOptions{clientAuthFailures: 2}, nil)
	info, secret, err := svc.as.Admin().AddClient(t.Context(), authserver.StaticClient{Name: "backend", Confidential: true,
		GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	status := func(secret string) (int, string) {
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {svc.mcpURL}}
		req, _ := http.NewRequest(http.MethodPost, svc.issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(info.ID), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for _, want := range []int{200, 401, 401} {
		s := secret
		if want == 401 {
			s = "guess"
		}
		if got, _ := status(s); got != want {
			t.Fatalf("token request: %d, want %d", got, want)
		}
	}
	if got, retry := status(secret); got != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("right secret after 2 failures: %d Retry-After %q, want 429", got, retry)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::1/64"})
	if err != nil || len(got) != 3 || got[1].String() != "192.0.2.7/32" || got[2].String() != "2001:db8::/64" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parsePrefixes([]string{"proxy.example"}); err == nil {
		t.Fatal("a host name was accepted")
	}
}
