package authserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// startDevice asks for a device code and returns the device code and the user code.
func startDevice(t *testing.T, as *testAS, clientID string) (deviceCode, userCode string) {
	t.Helper()
	status, body := postForm(t, as.URL+"/device_authorization", url.Values{"client_id": {clientID}, "resource": {resourceA}, "scope": {"weather:read"}})
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, body)
	}
	if body["verification_uri"] != as.URL+"/device" || body["interval"] != float64(5) || body["expires_in"] != float64(600) ||
		body["verification_uri_complete"] != as.URL+"/device?user_code="+body["user_code"].(string) {
		t.Fatalf("device authorization response %v", body)
	}
	return body["device_code"].(string), body["user_code"].(string)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// decideOnPage plays the user at the verification page (dev login: already signed in).
func decideOnPage(t *testing.T, as *testAS, userCode, action string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(prev string, form url.Values) (int, string) {
		m := csrfInput.FindStringSubmatch(prev)
		if m == nil {
			t.Fatalf("no CSRF field in:\n%s", prev)
		}
		form.Set("csrf", m[1])
		return page(c.PostForm(as.URL+"/device", form))
	}
	_, form := page(c.Get(as.URL + "/device"))
	status, consent := post(form, url.Values{"user_code": {userCode}, "action": {"continue"}})
	if status != http.StatusOK || action == "" {
		return status, consent
	}
	return post(consent, url.Values{"user_code": {userCode}, "action": {action}})
}

func TestDeviceTokenEndpoint(t *testing.T) {
	clk := newClock()
	as := devAS(t, func(c *authserver.Config) { c.Now = clk.now })
	clientID, otherID := publicClient(t, as), publicClient(t, as)
	poll := func(id, code string) (int, map[string]any) {
		return tokenRequest(t, as, url.Values{"grant_type": {authserver.GrantDeviceCode}, "client_id": {id}, "device_code": {code}})
	}

	deviceCode, userCode := startDevice(t, as, clientID)
	status, body := poll(clientID, deviceCode)
	wantOAuthError(t, "first poll", status, body, http.StatusBadRequest, "authorization_pending")
	status, body = poll(clientID, deviceCode)
	wantOAuthError(t, "poll within the interval", status, body, http.StatusBadRequest, "slow_down")
	clk.advance(6 * time.Second)
	status, body = poll(clientID, deviceCode)
	wantOAuthError(t, "poll after the interval", status, body, http.StatusBadRequest, "authorization_pending")
	clk.advance(6 * time.Second)
	status, body = poll(otherID, deviceCode)
	wantOAuthError(t, "another client's poll", status, body, http.StatusBadRequest, "invalid_grant")
	// A pending poll is the normal state of the grant, not a refusal: only the slow_down and
	// the other client's poll are audited as token.refused.
	var refusals []string
	for _, rec := range as.Audit.records("token.refused") {
		refusals = append(refusals, fmt.Sprint(rec["error"]))
	}
	if strings.Join(refusals, " ") != "slow_down invalid_grant" {
		t.Errorf("token.refused audit records for the polls: %v, want slow_down and invalid_grant", refusals)
	}

	if status, page := decideOnPage(t, as, strings.ToLower(strings.ReplaceAll(userCode, "-", " ")), ""); status != http.StatusOK || !strings.Contains(page, "weather:read") || !strings.Contains(page, userCode) {
		t.Fatalf("consent page for a code typed in lower case with a space: %d\n%s", status, page)
	}
	if status, page := decideOnPage(t, as, userCode, "approve"); status != http.StatusOK || !strings.Contains(page, "Device connected") {
		t.Fatalf("approve: %d\n%s", status, page)
	}
	clk.advance(6 * time.Second)
	status, body = poll(clientID, deviceCode)
	if status != http.StatusOK || body["access_token"] == nil || body["refresh_token"] == nil || body["scope"] != "weather:read" {
		t.Fatalf("poll after approval: %d %v", status, body)
	}
	clk.advance(6 * time.Second)
	status, body = poll(clientID, deviceCode)
	wantOAuthError(t, "second delivery", status, body, http.StatusBadRequest, "invalid_grant")
	if status, page := decideOnPage(t, as, userCode, ""); status != http.StatusBadRequest || !strings.Contains(page, "unknown or has expired") {
		t.Fatalf("a used code on the page: %d\n%s", status, page)
	}

	deviceCode, userCode = startDevice(t, as, clientID)
	if status, page := decideOnPage(t, as, userCode, "deny"); status != http.StatusOK || !strings.Contains(page, "Request denied") {
		t.Fatalf("deny: %d\n%s", status, page)
	}
	status, body = poll(clientID, deviceCode)
	wantOAuthError(t, "poll after denial", status, body, http.StatusBadRequest, "access_denied")

	deviceCode, _ = startDevice(t, as, clientID)
	clk.advance(11 * time.Minute)
	status, body = poll(clientID, deviceCode)
	wantOAuthError(t, "poll after expiry", status, body, http.StatusBadRequest, "expired_token")

	status, body = poll(clientID, "mdc_unknown")
	wantOAuthError(t, "unknown device code", status, body, http.StatusBadRequest, "invalid_grant")
	status, body = tokenRequest(t, as, url.Values{"grant_type": {authserver.GrantDeviceCode}, "client_id": {clientID}})
	wantOAuthError(t, "no device code", status, body, http.StatusBadRequest, "invalid_request")
	if strings.Contains(as.Audit.text(), deviceCode) {
		t.Error("the audit log shows a device code")
	}
}
