//go:build unix

package client

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// addressBar plays a browser on another machine: it opens the authorization URL and, since
// the loopback redirect cannot reach this machine from there, returns the address it was
// redirected to, as the address bar would show it.
func addressBar(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization answered %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

// TestPasteBackThroughPTY logs in with --no-browser semantics through a real pseudo-terminal:
// the prompt appears on the terminal, a wrong line is refused with a hint (the wait goes
// on), and the pasted redirect address completes the authorization code flow. The pasted
// code is never written back beyond the terminal's own echo.
func TestPasteBackThroughPTY(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()

	authURLs := make(chan string, 1)
	c, err := New(Config{ServerURL: rs.url, Store: NewMemoryStore(), Stderr: tty,
		OpenBrowser:  func(_ context.Context, u string) error { authURLs <- u; return nil },
		ReadRedirect: TerminalRedirect(tty, tty)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		done <- err
	}()

	term := bufio.NewReader(ptmx)
	expect := func(want string) string {
		t.Helper()
		var seen strings.Builder
		for !strings.Contains(seen.String(), want) {
			line, err := term.ReadString('\n')
			if err != nil {
				t.Fatalf("terminal: %v; saw:\n%s", err, seen.String())
			}
			seen.WriteString(line)
		}
		return seen.String()
	}
	var authURL string
	select {
	case authURL = <-authURLs:
	case <-ctx.Done():
		t.Fatal("no authorization URL")
	}
	expect("paste the address it shows")
	redirect := addressBar(t, authURL)

	ptmx.Write([]byte("https://example.com/not-it\n"))
	expect("That is not the redirect address")
	ptmx.Write([]byte(redirect + "\n"))
	out := expect("Received.")
	if err := <-done; err != nil {
		t.Fatalf("Token: %v", err)
	}
	code := strings.TrimPrefix(redirect[strings.Index(redirect, "code="):], "code=")
	if i := strings.IndexByte(code, '&'); i >= 0 {
		code = code[:i]
	}
	// The terminal echoes what is typed; nothing else may repeat the code.
	if n := strings.Count(out, code); n > 1 {
		t.Errorf("the code appears %d times on the terminal, want only the typed echo:\n%s", n, out)
	}
	if as.count("authorize") != 1 {
		t.Errorf("%d authorization requests, want 1", as.count("authorize"))
	}
}
