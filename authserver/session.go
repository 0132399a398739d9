// Login sessions, device cookies (browsers a user signed in with, for the lockout) and CSRF
// protection of the login and consent forms. The session cookie holds a random ID whose keyed
// hash is the store's key, so sessions work across instances. Cookies are
// HttpOnly and SameSite=Lax, and use the __Host- prefix (RFC 6265bis §4.1.3.2) whenever the
// issuer is https; a plain-http loopback issuer cannot set Secure cookies, which that prefix
// requires, so there the names carry no prefix.
package authserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

func (s *Server) secureCookies() bool { return s.issuer.Scheme == "https" }

func (s *Server) cookieName(base string) string {
	if s.secureCookies() {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

// sessionUser returns the user of the request's login session, or nil. The cookie binds the
// session to the user's password hash, so changing the password ends every session.
func (s *Server) sessionUser(r *http.Request) (*store.User, error) {
	id, mac, ok := s.sessionCookie(r)
	if !ok {
		return nil, nil
	}
	se, err := s.store.GetSession(r.Context(), s.secrets.hash(kindSession, id), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(r.Context(), se.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.sessionMAC(id, u))) != 1 {
		return nil, nil // the password changed since the login
	}
	return u, nil
}

// sessionCookie splits the session cookie into the session ID and its binding MAC.
func (s *Server) sessionCookie(r *http.Request) (id, mac string, ok bool) {
	c, err := r.Cookie(s.cookieName("mcpauth_session"))
	if err != nil {
		return "", "", false
	}
	id, mac, ok = strings.Cut(c.Value, ".")
	return id, mac, ok && id != "" && mac != ""
}

// sessionMAC binds a session ID to the user's current password hash.
func (s *Server) sessionMAC(id string, u *store.User) string {
	m := hmac.New(sha256.New, deriveKey(s.cfg.KeyEncryptionKey, "session-binding"))
	m.Write([]byte(id + "\x00" + u.ID + "\x00" + u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// startSession logs the user in: a new session and its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id := randomToken(32)
	now := s.now()
	err := s.store.CreateSession(r.Context(), &store.Session{
		Hash: s.secrets.hash(kindSession, id), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
	})
	if err != nil {
		return err
	}
	s.setCookie(w, "mcpauth_session", id+"."+s.sessionMAC(id, u), int(s.cfg.SessionTTL.Seconds()))
	if s.knownDevice(r, u.ID) == "" {
		nonce := randomToken(16)
		s.setCookie(w, "mcpauth_device", nonce+"."+s.deviceMAC(nonce, u.ID), int(deviceCookieTTL.Seconds()))
	}
	return nil
}

// deviceCookieTTL is how long a browser is remembered after the user signed in with it.
const deviceCookieTTL = 90 * 24 * time.Hour

// knownDevice returns the ID of this browser if the user signed in with it before, from its
// device cookie (OWASP "Slow Down Online Guessing Attacks with Device Cookies"), else "".
// Such a browser has a lockout budget of its own, so that whoever locks the account by
// guessing does not lock its owner out.
func (s *Server) knownDevice(r *http.Request, userID string) string {
	c, err := r.Cookie(s.cookieName("mcpauth_device"))
	if err != nil {
		return ""
	}
	nonce, mac, ok := strings.Cut(c.Value, ".")
	if !ok || nonce == "" || subtle.ConstantTimeCompare([]byte(mac), []byte(s.deviceMAC(nonce, userID))) != 1 {
		return ""
	}
	return nonce
}

// deviceMAC binds a device cookie's nonce to the user who signed in.
func (s *Server) deviceMAC(nonce, userID string) string {
	m := hmac.New(sha256.New, deriveKey(s.cfg.KeyEncryptionKey, "device-cookie"))
	m.Write([]byte(nonce + "\x00" + userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// endSession logs out: the session is deleted and its cookie cleared.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if id, _, ok := s.sessionCookie(r); ok {
		if err := s.store.DeleteSession(r.Context(), s.secrets.hash(kindSession, id)); err != nil {
			return err
		}
	}
	s.setCookie(w, "mcpauth_session", "", -1)
	return nil
}

// csrfToken returns the CSRF token for the forms of this browser: an HMAC of a random value
// kept in a cookie (set now if missing). A cross-site attacker can neither read the cookie nor
// compute the token.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(s.cookieName("mcpauth_csrf"))
	v := ""
	if err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		v = randomToken(32)
		s.setCookie(w, "mcpauth_csrf", v, 0)
	}
	return s.csrfFor(v)
}

func (s *Server) csrfFor(cookie string) string {
	m := hmac.New(sha256.New, deriveKey(s.cfg.KeyEncryptionKey, "csrf"))
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the form's csrf field matches the browser's CSRF cookie.
func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(s.cookieName("mcpauth_csrf"))
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrfFor(c.Value))) == 1
}

// handleLogout is POST /logout. From the consent page ("Not you?") it carries the
// authorization request, and the login page for it follows.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	req := s.formRequest(w, r)
	if req == nil {
		return
	}
	if err := s.endSession(w, r); err != nil {
		s.serverError(w, r, "end session", err)
		return
	}
	s.loginPage(w, r, req, "", "")
}
