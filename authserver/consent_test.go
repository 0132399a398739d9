package authserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsentIsPerClient (confused deputy, MCP security best practices): a user's consent to
// client A lets A skip the consent page next time, but not client B — another registration
// with the same name and redirect URI asking the same scopes and resource gets the consent
// page naming itself, and prompt=none gets consent_required; and A's consent to one scope does
// not cover another.
func TestConsentIsPerClient(t *testing.T) {
	as := newTestAS(t, nil)
	addUser(t, as, "erin", "password-of-erin", "weather:read", "stocks:read")
	meta := map[string]any{
		"client_name": "Look-alike", "redirect_uris": []string{loopback},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	}
	idA := register(t, as, meta)["client_id"].(string)
	idB := register(t, as, meta)["client_id"].(string)
	b := newBrowser(t)

	// Erin consents to weather:read for A.
	_, challenge := pkce()
	page := formSignIn(t, b, as, authorizeURL(as, codeParams(idA, challenge)), "erin")
	form := hidden(t, page)
	form.Set("action", "approve")
	if resp, _ := b.post(as.URL+"/consent", form); resp.StatusCode != http.StatusFound {
		t.Fatalf("approve for A: %d", resp.StatusCode)
	}
	// A again: remembered, a code straight away.
	if q := getRedirect(t, b.c, authorizeURL(as, codeParams(idA, challenge))); q.Get("code") == "" {
		t.Fatalf("A's second authorization: %v", q)
	}

	// B, same user session, same scope and resource: the consent page, for B's request.
	resp, page := b.get(authorizeURL(as, codeParams(idB, challenge)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="approve"`) || !strings.Contains(page, "weather:read") {
		t.Fatalf("B after A's consent: %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	req, err := url.ParseQuery(hidden(t, page).Get("request"))
	if err != nil || req.Get("client_id") != idB {
		t.Fatalf("B's consent form carries client_id %q, want %q", req.Get("client_id"), idB)
	}
	p := codeParams(idB, challenge)
	p.Set("prompt", "none")
	if q := getRedirect(t, b.c, authorizeURL(as, p)); q.Get("error") != "consent_required" || q.Get("code") != "" {
		t.Fatalf("B with prompt=none: %v", q)
	}

	// A's consent to weather:read does not cover stocks:read.
	p = codeParams(idA, challenge)
	p.Set("scope", "weather:read stocks:read")
	resp, page = b.get(authorizeURL(as, p))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="approve"`) || !strings.Contains(page, "stocks:read") {
		t.Fatalf("A asking a scope beyond its consent: %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	p.Set("prompt", "none")
	if q := getRedirect(t, b.c, authorizeURL(as, p)); q.Get("error") != "consent_required" {
		t.Fatalf("A asking a new scope with prompt=none: %v", q)
	}
	if n := strings.Count(strings.Join(as.Audit.events(), ","), "consent.granted"); n != 1 {
		t.Fatalf("%d consent.granted events, want 1 (A's only)", n)
	}
}
