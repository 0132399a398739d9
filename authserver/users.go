// Users who log in at the authorization server, with argon2id password hashes (RFC 9106) in the
// PHC string format, and the scopes each user may grant.
package authserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// argon2id parameters: RFC 9106 §4's second recommended option scaled to OWASP's minimum
// (19 MiB, 2 passes, 1 lane), so a login costs tens of milliseconds on a small server.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password AddUser and SetPassword accept.
const MinPasswordLength = 8

// hashPassword returns the PHC string of an argon2id hash of password.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches the PHC argon2id hash.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// dummyHash is checked against when a username is unknown, so that a login takes as long
// whether or not the user exists. It is computed on first use: argon2id at package init
// cost every mcpauth command (proxy, status, ...) 0.27 s and 20 MB of start-up.
var dummyHash = sync.OnceValue(func() string { return hashPassword(randomToken(16)) })

// signIn checks username and password, posted in a sign-in form by r: ok when they match and
// the account is not locked (checkLockout); u is the account, if the username has one. A locked
// account costs the same password check and gets the same answer as a wrong password, so
// neither its lock nor a right guess shows; the audit log records the lock (login.locked).
func (s *Server) signIn(ctx context.Context, r *http.Request, username, password string) (u *store.User, ok bool, err error) {
	u, err = s.store.GetUserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		checkPassword(dummyHash(), password)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ok, err = s.checkLockout(ctx, r, u, checkPassword(u.PasswordHash, password))
	return u, ok && err == nil, err
}

func checkUserInput(username, password string, scopes []string) error {
	if username == "" || utf8.RuneCountInString(username) > 100 || strings.ContainsFunc(username, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("a username is 1-100 characters without spaces or control characters")
	}
	if password != "" && utf8.RuneCountInString(password) < MinPasswordLength {
		return fmt.Errorf("a password needs at least %d characters", MinPasswordLength)
	}
	for _, sc := range scopes {
		if !validScopeToken(sc) {
			return fmt.Errorf("invalid scope %q", sc)
		}
	}
	return nil
}

// AddUser creates a user who may grant the given scopes.
func (a *Admin) AddUser(ctx context.Context, username, password string, scopes []string) (*store.User, error) {
	if password == "" {
		return nil, fmt.Errorf("a password needs at least %d characters", MinPasswordLength)
	}
	if err := checkUserInput(username, password, scopes); err != nil {
		return nil, err
	}
	if scopes == nil {
		scopes = []string{}
	}
	u := &store.User{ID: "u_" + randomToken(12), Username: username, PasswordHash: hashPassword(password), Scopes: scopes, CreatedAt: a.now().UTC()}
	if err := a.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("user %q exists: %w", username, err)
		}
		return nil, err
	}
	return u, nil
}

// SetPassword replaces a user's password.
func (a *Admin) SetPassword(ctx context.Context, username, password string) error {
	if err := checkUserInput(username, password, nil); err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("a password needs at least %d characters", MinPasswordLength)
	}
	u, err := a.store.GetUserByName(ctx, username)
	if err != nil {
		return err
	}
	u.PasswordHash = hashPassword(password)
	return a.store.UpdateUser(ctx, u)
}

// SetUserScopes replaces the scopes a user may grant.
func (a *Admin) SetUserScopes(ctx context.Context, username string, scopes []string) error {
	if err := checkUserInput(username, "", scopes); err != nil {
		return err
	}
	u, err := a.store.GetUserByName(ctx, username)
	if err != nil {
		return err
	}
	u.Scopes = scopes
	return a.store.UpdateUser(ctx, u)
}

// RemoveUser deletes a user, their sessions and consents, and revokes their grants.
func (a *Admin) RemoveUser(ctx context.Context, username string) error {
	u, err := a.store.GetUserByName(ctx, username)
	if err != nil {
		return err
	}
	return a.store.DeleteUser(ctx, u.ID)
}

// ListUsers returns every user (with password hashes, which callers must not show).
func (a *Admin) ListUsers(ctx context.Context) ([]*store.User, error) {
	return a.store.ListUsers(ctx)
}
