package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestParseCallback(t *testing.T) {
	as := defaultEndpoints("https://as.example")
	as.AuthorizationResponseIssParameterSupported = true
	const state = "st"
	for _, tc := range []struct {
		name  string
		query string
		check func(error) bool
		code  string
	}{
		{"ok", "code=abc&state=st&iss=https%3A%2F%2Fas.example", nil, "abc"},
		{"wrong state", "code=abc&state=other&iss=https%3A%2F%2Fas.example", isCode("invalid_state"), ""},
		{"no state", "code=abc&iss=https%3A%2F%2Fas.example", isCode("invalid_state"), ""},
		{"denied", "error=access_denied&error_description=no+thanks&state=st&iss=https%3A%2F%2Fas.example", isDenied, ""},
		{"other error", "error=invalid_scope&state=st&iss=https%3A%2F%2Fas.example", isCode("invalid_scope"), ""},
		{"error with wrong state", "error=access_denied&state=x", isCode("invalid_state"), ""},
		{"no code", "state=st&iss=https%3A%2F%2Fas.example", isCode("invalid_response"), ""},
		{"iss missing", "code=abc&state=st", isIssuer, ""},
		{"iss wrong", "code=abc&state=st&iss=https%3A%2F%2Fevil.example", isIssuer, ""},
		{"iss twice", "code=abc&state=st&iss=https%3A%2F%2Fas.example&iss=https%3A%2F%2Fevil.example", isIssuer, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			r := parseCallback(q, state, as)
			if tc.check == nil {
				if r.err != nil || r.code != tc.code {
					t.Fatalf("got %q, %v", r.code, r.err)
				}
				return
			}
			if r.err == nil || !tc.check(r.err) || r.code != "" {
				t.Fatalf("got %q, %v", r.code, r.err)
			}
		})
	}
}

func isCode(code string) func(error) bool {
	return func(err error) bool {
		var re *AuthorizationResponseError
		return errors.As(err, &re) && re.Code == code
	}
}

func isDenied(err error) bool {
	var ud *UserDeniedError
	return errors.As(err, &ud) && ud.Description == "no thanks"
}

func isIssuer(err error) bool {
	var im *IssuerMismatchError
	return errors.As(err, &im)
}

// TestCallbackPage: the browser is told to close the tab; error text is escaped; other
// paths are not found.
func TestCallbackPage(t *testing.T) {
	c, _ := New(Config{ServerURL: "https://a.example/mcp", ClientName: "Tool <1>", Store: NewMemoryStore()})
	c.state.disc = &discovery{as: defaultEndpoints("https://a.example")}
	results := make(chan callbackResult, 1)
	srv := httptest.NewServer(c.callbackHandler("st", results))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("/favicon.ico"); status != 404 {
		t.Errorf("other path: %d", status)
	}
	status, _ := get("/callback?code=forged&state=guess")
	if status != 400 || len(results) != 0 {
		t.Errorf("a callback with another state: %d, %d results delivered; want 400 and none", status, len(results))
	}
	status, body := get("/callback?error=server_error&error_description=%3Cscript%3E&state=st")
	if status != 400 || !strings.Contains(body, "close this tab") || strings.Contains(body, "<script>") {
		t.Errorf("error page %d: %s", status, body)
	}
	if r := <-results; !isCode("server_error")(r.err) {
		t.Errorf("result %v", r.err)
	}
	status, body = get("/callback?code=abc&state=st")
	if status != 200 || !strings.Contains(body, "close this tab") || !strings.Contains(body, "Tool &lt;1&gt;") {
		t.Errorf("success page %d: %s", status, body)
	}
}

func TestBrowserCommand(t *testing.T) {
	u := "https://as.example/authorize?a=1&b=$(rm -rf ~);x"
	for entry, want := range map[string][]string{
		"firefox":             {"firefox", u},
		"open -a Safari %s":   {"open", "-a", "Safari", u},
		"  ":                  nil,
		"echo --url=%s --new": {"echo", "--url=" + u, "--new"},
	} {
		got := browserCommand(entry, u)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("browserCommand(%q) = %q, want %q", entry, got, want)
		}
	}
}

// TestBrowserEnvWithoutShell runs $BROWSER with a URL full of shell syntax: the command
// receives it as one argument, nothing is interpreted.
func TestBrowserEnvWithoutShell(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/args"
	script := dir + "/browser"
	if err := writeExecutable(script, "#!/bin/sh\nprintf '%s\\n' \"$@\" > "+out+"\n"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)
	u := "https://as.example/a?x=1&y=$(touch " + dir + "/pwned);`id`"
	if err := openSystemBrowser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	got := waitForFile(t, out)
	if strings.TrimSpace(got) != u {
		t.Fatalf("browser got %q", got)
	}
	if fileExists(dir + "/pwned") {
		t.Fatal("the URL was interpreted by a shell")
	}
}

// remoteBrowser is a browser on another machine: it follows the authorization URL to the
// redirect but cannot reach this machine's loopback address; the user copies the URL.
type remoteBrowser struct{ pasted chan string }

func (b remoteBrowser) open(ctx context.Context, authURL string) error {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	b.pasted <- resp.Header.Get("Location")
	return nil
}

func TestPastedRedirect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		paste   func(string) (string, error)
		wantErr bool
	}{
		{"pasted URL completes the login", func(u string) (string, error) { return "  " + u + "\n", nil }, false},
		{"pasted garbage is an error", func(string) (string, error) { return "hello", nil }, true},
		{"pasted URL with another state", func(u string) (string, error) { return strings.Replace(u, "state=", "state=x", 1), nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newTestAS(t)
			rs := newTestRS(t, as)
			b := remoteBrowser{pasted: make(chan string, 1)}
			cfg := testConfig(rs, nil)
			cfg.OpenBrowser = b.open
			cfg.ReadRedirect = func(ctx context.Context) (string, error) {
				select {
				case u := <-b.pasted:
					return tc.paste(u)
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			s, err := Connect(testContext(t), cfg)
			if tc.wantErr {
				var re *AuthorizationResponseError
				if !errors.As(err, &re) {
					t.Fatalf("Connect error = %v, want AuthorizationResponseError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			s.Close()
		})
	}
}

// TestPasteReaderFailureKeepsWaiting: when the paste reader gives up (no terminal), the
// loopback listener still completes the authorization.
func TestPasteReaderFailureKeepsWaiting(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	cfg := testConfig(rs, b)
	failed := make(chan struct{})
	cfg.ReadRedirect = func(context.Context) (string, error) { close(failed); return "", io.EOF }
	cfg.OpenBrowser = func(ctx context.Context, u string) error {
		<-failed // the reader has given up before the browser answers
		return b.open(ctx, u)
	}
	s := mustConnect(t, testContext(t), cfg)
	s.Close()
}
