// HTML pages of the authorization endpoint (login, consent, errors): html/template with
// contextual escaping, no JavaScript, and headers that forbid framing (CSP frame-ancestors
// 'none', against clickjacking of the consent button: RFC 6749 §10.13, RFC 9700 §4.16), caching
// and referrers.
package authserver

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"sync"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages is parsed on first use, not at program start, so commands of the binary that serve
// no pages (the stdio proxy, login) do not pay for it.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(templateFS, "templates/*.html"))
})

// pageData is what every page template may use.
type pageData struct {
	Title   string
	Message string
	Action  string
	// LogoutAction is where the consent page's "Not you?" form goes.
	LogoutAction string
	CSRF         string
	Request      string

	ClientName    string
	ClientURL     string
	Username      string
	Scopes        []string
	Refused       []string
	Resources     []string
	RedirectHost  string
	LocalhostOnly bool
	// SelfRegistered: the client registered itself (RFC 7591), so its name is unverified.
	SelfRegistered bool
}

// renderPage writes one of the templates with the security headers of every page.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := pages().ExecuteTemplate(&buf, name, d); err != nil {
		s.log.ErrorContext(r.Context(), "authserver: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage shows an error that must not be redirected to the client (RFC 6749 §4.1.2.1: an
// unknown client or a redirect URI that does not match).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	s.renderPage(w, r, status, "error.html", &pageData{Title: title, Message: message})
}
