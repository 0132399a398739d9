package oidcinterop

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// formBrowser stands in for the user's browser: it follows the authorization
// URL with a cookie jar, signs in on oidc-provider's devInteractions login
// form, approves its consent form and lands on the client's loopback callback.
// With deny set, the user cancels on the login page instead (the provider's
// "[ Cancel ]" link), which the provider answers with access_denied.
type formBrowser struct {
	login string
	deny  bool

	mu      sync.Mutex
	client  *http.Client
	opened  int      // authorization URLs opened
	prompts []string // forms submitted, by their "prompt" field, or "cancel"
	codes   []string // authorization codes seen on the way to the callback
}

func newFormBrowser(login string) *formBrowser {
	jar, _ := cookiejar.New(nil)
	return &formBrowser{login: login, client: &http.Client{Jar: jar}}
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`<input([^>]*)>`)
	cancelRE = regexp.MustCompile(`<a href="([^"]+)">\[ Cancel \]</a>`)
	attrRE   = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// Open is the client's browser hook.
func (b *formBrowser) Open(ctx context.Context, authURL string) error {
	b.mu.Lock()
	b.opened++
	b.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	for range 5 {
		resp, err := b.client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		m := formRE.FindSubmatch(body)
		if m == nil {
			// Not a form: the client's callback page (or an error page).
			if code := resp.Request.URL.Query().Get("code"); code != "" {
				b.mu.Lock()
				b.codes = append(b.codes, code)
				b.mu.Unlock()
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("browser: %s answered %d: %s", resp.Request.URL.Redacted(), resp.StatusCode, body)
			}
			return nil
		}
		if b.deny {
			c := cancelRE.FindSubmatch(body)
			if c == nil {
				return fmt.Errorf("browser: no cancel link on %s", resp.Request.URL.Redacted())
			}
			cancel, err := resp.Request.URL.Parse(html.UnescapeString(string(c[1])))
			if err != nil {
				return err
			}
			b.mu.Lock()
			b.prompts = append(b.prompts, "cancel")
			b.mu.Unlock()
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, cancel.String(), nil)
			if err != nil {
				return err
			}
			continue
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			return err
		}
		form := url.Values{}
		for _, in := range inputRE.FindAllSubmatch(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllSubmatch(in[1], -1) {
				attrs[string(a[1])] = html.UnescapeString(string(a[2]))
			}
			switch attrs["name"] {
			case "login":
				form.Set("login", b.login)
			case "password":
				form.Set("password", "any password")
			case "":
			default:
				form.Set(attrs["name"], attrs["value"])
			}
		}
		b.mu.Lock()
		b.prompts = append(b.prompts, form.Get("prompt"))
		b.mu.Unlock()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return fmt.Errorf("browser: too many forms")
}

// submitted returns how many authorization URLs were opened and the forms
// submitted so far.
func (b *formBrowser) submitted() (int, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened, append([]string(nil), b.prompts...)
}
