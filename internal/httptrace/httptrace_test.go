package httptrace

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const (
	secretToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	secretCode  = "code-0123456789"
	secretPass  = "s3cr3t-client-secret"
)

func TestSecretsNeverPrintedAndBodiesIntact(t *testing.T) {
	tokenJSON := `{"access_token":"` + secretToken + `","refresh_token":"rt-secret-value","token_type":"Bearer","expires_in":3600}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tokenJSON)
		case "/authorize":
			http.Redirect(w, r, "http://127.0.0.1:9/cb?code="+secretCode+"&state=xyz&iss=https%3A%2F%2Fas", http.StatusFound)
		case "/mcp":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"bad\"}}\n\n")
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	c := &http.Client{
		Transport:     &Transport{Out: &out, Labeler: func(r *http.Request) string { return "step " + r.URL.Path }},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {secretCode}, "code_verifier": {"verifier-secret"},
		"client_secret": {secretPass}}
	resp, err := c.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != tokenJSON {
		t.Errorf("client received %q", got)
	}
	resp, err = c.Get(srv.URL + "/authorize?client_id=c&code_challenge=abc&state=xyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+secretToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(stream), "-32602") {
		t.Errorf("stream body %q", stream)
	}
	printed := out.String()
	for _, s := range []string{secretToken, secretCode, secretPass, "rt-secret-value", "verifier-secret", "eyJ"} {
		if strings.Contains(printed, s) {
			t.Errorf("output contains secret %q:\n%s", s, printed)
		}
	}
	for _, s := range []string{"== step /token", "== step /authorize", "POST " + srv.URL + "/token", "302 Found", "state=xyz",
		`"token_type":"Bearer"`, "Authorization: Bearer [redacted]", `"code":-32602`, "grant_type=authorization_code"} {
		if !strings.Contains(printed, s) {
			t.Errorf("output lacks %q:\n%s", s, printed)
		}
	}
}

// FuzzRedactBody: whatever a server answers, printing it never panics and
// never shows a JWT, nor the access_token member of a JSON object.
func FuzzRedactBody(f *testing.F) {
	f.Add("application/json", []byte(`{"access_token":"abc","nested":[{"refresh_token":"x"}],"code":-32600}`))
	f.Add("application/x-www-form-urlencoded", []byte("code=abc&code_verifier=def&grant_type=authorization_code"))
	f.Add("text/html", []byte("<html>"))
	f.Add("", []byte(secretToken))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		out := RedactBody(contentType, body)
		if jwtLike().MatchString(out) {
			t.Fatalf("JWT shown: %q", out)
		}
		var doc map[string]any
		if json.Unmarshal(body, &doc) == nil && doc["access_token"] != nil && !strings.Contains(out, `"access_token":"`+Redacted+`"`) {
			t.Fatalf("access_token shown: %q", out)
		}
	})
}
