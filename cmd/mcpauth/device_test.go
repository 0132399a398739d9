package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/client"
)

// deviceUser is the user at another device's browser: it opens the verification URI, enters
// the code, and decides on the consent page (CSRF token and cookie included).
type deviceUser struct {
	t      *testing.T
	c      *http.Client
	issuer string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (u *deviceUser) post(form url.Values, csrfFrom string) string {
	u.t.Helper()
	m := csrfField.FindStringSubmatch(csrfFrom)
	if m == nil {
		u.t.Fatalf("no CSRF token in page:\n%s", csrfFrom)
	}
	form.Set("csrf", m[1])
	resp, err := u.c.PostForm(u.issuer+"/device", form)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (u *deviceUser) decide(userCode, action string) string {
	u.t.Helper()
	resp, err := u.c.Get(u.issuer + "/device?user_code=" + url.QueryEscape(userCode))
	if err != nil {
		u.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), userCode) {
		u.t.Fatalf("the verification page is not pre-filled with the code:\n%s", page)
	}
	consent := u.post(url.Values{"user_code": {strings.ToLower(userCode)}, "action": {"continue"}}, string(page))
	if !strings.Contains(consent, "weather:read") || !strings.Contains(consent, `id="approve"`) {
		u.t.Fatalf("consent page:\n%s", consent)
	}
	return u.post(url.Values{"user_code": {userCode}, "action": {action}}, consent)
}

var userCodeLine = regexp.MustCompile(`(?m)^\s+([A-Z]{4}-[A-Z]{4})$`)

// deviceLogin runs the device grant of package client against serve and lets user decide.
func deviceLogin(t *testing.T, mcpURL, issuer, action string) (*client.Client, error) {
	jar, _ := cookiejar.New(nil)
	user := &deviceUser{t: t, c: &http.Client{Jar: jar}, issuer: issuer}
	pr, pw := io.Pipe()
	c, err := client.New(client.Config{ServerURL: mcpURL, GrantType: client.DeviceCode, Store: client.NewMemoryStore(), Stderr: pw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		pw.Close()
		done <- err
	}()
	var shown strings.Builder
	buf := make([]byte, 4096)
	for !userCodeLine.MatchString(shown.String()) {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("the client showed no user code (%v); its login ended with: %v\n%s", err, <-done, shown.String())
		}
		shown.Write(buf[:n])
	}
	if !strings.Contains(shown.String(), issuer+"/device") {
		t.Errorf("the client did not show the verification URI:\n%s", shown.String())
	}
	go io.Copy(io.Discard, pr)
	result := user.decide(userCodeLine.FindStringSubmatch(shown.String())[1], action)
	if want := map[string]string{"approve": "Device connected", "deny": "Request denied"}[action]; !strings.Contains(result, want) {
		t.Errorf("after %s the page says:\n%s", action, result)
	}
	return c, <-done
}

// TestDeviceGrantEndToEnd: mcpauth's client logs in with the device authorization grant
// against mcpauth's authorization server (metadata, device endpoint, verification page, token
// polling), then calls a tool with the token; a denied request ends with UserDeniedError.
func TestDeviceGrantEndToEnd(t *testing.T) {
	svc := startServe(t, serveOptions{devLogin: "alice", registration: "open", accessTokenTTL: time.Hour}, nil)

	resp, err := http.Get(svc.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Device string   `json:"device_authorization_endpoint"`
		Grants []string `json:"grant_types_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.Device != svc.issuer+"/device_authorization" || !strings.Contains(strings.Join(md.Grants, " "), "device_code") {
		t.Fatalf("metadata: %+v", md)
	}

	c, err := deviceLogin(t, svc.mcpURL, svc.issuer, "approve")
	if err != nil {
		t.Fatalf("device login: %v", err)
	}
	s, err := c.Connect(context.Background(), nil)
	if err != nil {
		t.Fatalf("connect with the device token: %v", err)
	}
	defer s.Close()
	if err := callTool(context.Background(), s, "weather_forecast", map[string]any{"city": "Oslo"}); err != nil {
		t.Fatalf("tool call: %v", err)
	}

	_, err = deviceLogin(t, svc.mcpURL, svc.issuer, "deny")
	var denied *client.UserDeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("denied device login: %v, want UserDeniedError", err)
	}
}
