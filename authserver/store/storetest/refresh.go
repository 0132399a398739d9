// Refresh token rotation with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): what every
// store's GetRefreshToken and RotateRefreshToken must do.
package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

func refresh(hash, grantID string, t0 time.Time) *store.RefreshToken {
	return &store.RefreshToken{Hash: hash, GrantID: grantID, ClientID: "c1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

// rotateTo is a decision that rotates whatever token it is asked about into next.
func rotateTo(next *store.RefreshToken) store.RotationDecision {
	return func(*store.RefreshToken, *store.Grant) (*store.RefreshToken, error) { return next, nil }
}

func testRefreshRotation(t *testing.T, s store.Store) {
	t0 := now()
	g1, _ := grantFor(t, s, "g1", "c1", "u1", t0)
	r1 := refresh("r1", "g1", t0)
	must(t, s.CreateRefreshToken(ctx, r1))
	wantErr(t, "duplicate refresh token", s.CreateRefreshToken(ctx, r1), store.ErrConflict)
	got, gotGrant, err := s.GetRefreshToken(ctx, "r1")
	must(t, err)
	equal(t, "refresh token", got, r1)
	equal(t, "grant of the refresh token", gotGrant, g1)
	_, _, err = s.GetRefreshToken(ctx, "nope")
	wantErr(t, "unknown refresh token", err, store.ErrNotFound)
	// The subject's scopes as they are now come with the grant (nil above: no user u1 yet).
	must(t, s.CreateUser(ctx, &store.User{ID: "u1", Username: "u1", Scopes: []string{"a", "b"}, CreatedAt: t0}))
	_, gotGrant, err = s.GetRefreshToken(ctx, "r1")
	must(t, err)
	equal(t, "subject scopes", gotGrant.SubjectScopes, []string{"a", "b"})
	must(t, s.UpdateUser(ctx, &store.User{ID: "u1", Scopes: []string{}}))
	_, gotGrant, err = s.GetRefreshToken(ctx, "r1")
	must(t, err)
	equal(t, "subject scopes after the user lost them", gotGrant.SubjectScopes, []string{})

	// The next token joins the old one's grant, whatever grant the decision named.
	must(t, s.RotateRefreshToken(ctx, "r1", t0.Add(time.Second), rotateTo(refresh("r2", "elsewhere", t0))))
	got, _, err = s.GetRefreshToken(ctx, "r1")
	must(t, err)
	equal(t, "rotated token used at", got.UsedAt, t0.Add(time.Second))
	got, _, err = s.GetRefreshToken(ctx, "r2")
	must(t, err)
	equal(t, "next token", got, refresh("r2", "g1", t0))
	must(t, s.RotateRefreshToken(ctx, "r2", t0.Add(2*time.Second), rotateTo(refresh("r3", "g1", t0))))
	if revoked(t, s, "g1") {
		t.Fatal("grant revoked by a normal rotation")
	}

	// Reuse of r1 revokes the family: r3, the current token, is dead too.
	wantErr(t, "reuse", s.RotateRefreshToken(ctx, "r1", t0.Add(3*time.Second), rotateTo(refresh("r4", "g1", t0))), store.ErrAlreadyUsed)
	if !revoked(t, s, "g1") {
		t.Fatal("reuse did not revoke the grant")
	}
	wantErr(t, "current token after reuse", s.RotateRefreshToken(ctx, "r3", t0.Add(4*time.Second), rotateTo(refresh("r5", "g1", t0))), store.ErrRevoked)
	_, _, err = s.GetRefreshToken(ctx, "r4")
	wantErr(t, "token of a refused rotation", err, store.ErrNotFound)
	wantErr(t, "rotate unknown", s.RotateRefreshToken(ctx, "nope", t0, rotateTo(refresh("r6", "g1", t0))), store.ErrNotFound)
}

// testRefreshDecision: the decision sees the token and grant as stored, used or revoked ones
// too; its error is returned as it is and writes nothing, not even the revocation of a reuse.
func testRefreshDecision(t *testing.T, s store.Store) {
	t0 := now()
	grantFor(t, s, "g1", "c1", "u1", t0)
	must(t, s.CreateUser(ctx, &store.User{ID: "u1", Username: "u1", Scopes: []string{"a"}, CreatedAt: t0}))
	must(t, s.CreateRefreshToken(ctx, refresh("r1", "g1", t0)))
	wantToken, wantGrant, err := s.GetRefreshToken(ctx, "r1")
	must(t, err)

	// asked records what a decision was asked, and answers with next or err.
	var calls int
	var gotToken *store.RefreshToken
	var gotGrant *store.Grant
	asked := func(next *store.RefreshToken, err error) store.RotationDecision {
		calls, gotToken, gotGrant = 0, nil, nil
		return func(t *store.RefreshToken, g *store.Grant) (*store.RefreshToken, error) {
			calls++
			gotToken, gotGrant = t, g
			return next, err
		}
	}
	unspent := func(what, hash string) {
		t.Helper()
		rt, _, err := s.GetRefreshToken(ctx, hash)
		must(t, err)
		if !rt.UsedAt.IsZero() {
			t.Fatalf("%s: the token was spent", what)
		}
	}

	refused := errors.New("refused by the server")
	err = s.RotateRefreshToken(ctx, "r1", t0.Add(time.Second), asked(refresh("r2", "g1", t0), refused))
	if err != refused {
		t.Fatalf("a refusing decision: got %v, want its own error", err)
	}
	if calls == 0 {
		t.Fatal("the decision was not asked")
	}
	equal(t, "token the decision saw", gotToken, wantToken)
	equal(t, "grant the decision saw (with the subject's scopes)", gotGrant, wantGrant)
	unspent("after a refusing decision", "r1")
	_, _, err = s.GetRefreshToken(ctx, "r2")
	wantErr(t, "next token of a refused decision", err, store.ErrNotFound)

	// A decision that accepts the token but names no next token is a fault of the caller.
	if err = s.RotateRefreshToken(ctx, "r1", t0.Add(time.Second), asked(nil, nil)); err == nil {
		t.Fatal("a decision without a next token rotated the token")
	}
	unspent("after a decision without a next token", "r1")

	err = s.RotateRefreshToken(ctx, "nope", t0, asked(refresh("r2", "g1", t0), nil))
	wantErr(t, "unknown token", err, store.ErrNotFound)
	equal(t, "decisions asked about an unknown token", calls, 0)

	must(t, s.RotateRefreshToken(ctx, "r1", t0.Add(time.Second), asked(refresh("r2", "g1", t0), nil)))
	unspent("the next token", "r2")

	// A used token: a decision that refuses it (say, presented by another client) leaves the
	// grant alone; one that does not is overruled, as reuse, and the grant revoked.
	wantErr(t, "refused reuse", s.RotateRefreshToken(ctx, "r1", t0.Add(2*time.Second), asked(nil, refused)), refused)
	equal(t, "used at, as the decision saw it", gotToken.UsedAt, t0.Add(time.Second))
	if revoked(t, s, "g1") {
		t.Fatal("a reuse the decision refused revoked the grant")
	}
	wantErr(t, "reuse", s.RotateRefreshToken(ctx, "r1", t0.Add(2*time.Second), asked(nil, nil)), store.ErrAlreadyUsed)
	if !revoked(t, s, "g1") {
		t.Fatal("reuse did not revoke the grant")
	}

	// A token of a revoked grant: the decision sees the revocation; the rotation is refused.
	wantErr(t, "revoked grant", s.RotateRefreshToken(ctx, "r2", t0.Add(3*time.Second), asked(refresh("r3", "g1", t0), nil)), store.ErrRevoked)
	equal(t, "revoked at, as the decision saw it", gotGrant.RevokedAt, t0.Add(2*time.Second))
	unspent("a token of a revoked grant", "r2")
	_, _, err = s.GetRefreshToken(ctx, "r3")
	wantErr(t, "next token of a revoked grant", err, store.ErrNotFound)
}

func testRefreshConcurrent(t *testing.T, s store.Store) {
	t0 := now()
	grantFor(t, s, "g1", "c1", "u1", t0)
	must(t, s.CreateRefreshToken(ctx, refresh("r1", "g1", t0)))
	ok := concurrently(t, func(i int) error {
		return s.RotateRefreshToken(ctx, "r1", t0.Add(time.Second), rotateTo(refresh(fmt.Sprintf("next-%d", i), "g1", t0)))
	})
	equal(t, "successful rotations", ok, 1)
	if !revoked(t, s, "g1") {
		t.Fatal("the losing concurrent rotations are reuses and must revoke the grant")
	}
}
