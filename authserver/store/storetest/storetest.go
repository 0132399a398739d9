// Package storetest is the behaviour every store.Store implementation must show, as one test
// suite that each implementation runs against a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// Run runs the suite. open returns a new, empty store for each subtest; Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Clients", testClients},
		{"DeleteClientCascades", testDeleteClientCascades},
		{"DeleteUnusedClients", testDeleteUnusedClients},
		{"Users", testUsers},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"Consents", testConsents},
		{"Sessions", testSessions},
		{"AuthCodeSingleUse", testAuthCodeSingleUse},
		{"AuthCodeConcurrentRedemption", testAuthCodeConcurrent},
		{"AuthCodeRevokedGrant", testAuthCodeRevokedGrant},
		{"Grants", testGrants},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshDecision", testRefreshDecision},
		{"RefreshConcurrentRotation", testRefreshConcurrent},
		{"AccessTokens", testAccessTokens},
		{"SigningKeys", testSigningKeys},
		{"DeleteExpired", testDeleteExpired},
		{"DeviceCodes", testDeviceCodes},
		{"DeviceCodeConcurrentPoll", testDeviceConcurrentPoll},
		{"LoginFailures", testLoginFailures},
		{"LoginFailuresConcurrent", testLoginFailuresConcurrent},
		{"DeleteLoginFailures", testDeleteLoginFailures},
		{"ClientAssertions", testClientAssertions},
		{"RateCounts", testRateCounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// now is a base time with millisecond precision, which every store keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

func newClient(id string, kind store.ClientKind, created time.Time) *store.Client {
	return &store.Client{
		ID: id, Kind: kind, Metadata: []byte(`{"client_name":"` + id + `"}`),
		Scopes: []string{}, CreatedAt: created,
	}
}

func testClients(t *testing.T, s store.Store) {
	t0 := now()
	c := &store.Client{
		ID: "c1", Kind: store.ClientStatic, SecretHash: "h1", SecretExpiresAt: t0.Add(time.Hour),
		RegistrationTokenHash: "rt1", Metadata: []byte(`{"client_name":"One","redirect_uris":["https://a.example/cb"]}`),
		Scopes: []string{"read", "write"}, QuotaTier: "gold", CreatedAt: t0,
	}
	must(t, s.CreateClient(ctx, c))
	wantErr(t, "duplicate client", s.CreateClient(ctx, c), store.ErrConflict)
	got, err := s.GetClient(ctx, "c1")
	must(t, err)
	equal(t, "client", got, c)
	_, err = s.GetClient(ctx, "nope")
	wantErr(t, "unknown client", err, store.ErrNotFound)

	// nil scopes (any) and empty scopes (none) are different.
	any := newClient("c2", store.ClientDynamic, t0.Add(time.Second))
	any.Scopes = nil
	must(t, s.CreateClient(ctx, any))
	got, err = s.GetClient(ctx, "c2")
	must(t, err)
	if got.Scopes != nil {
		t.Fatalf("nil scopes came back as %#v", got.Scopes)
	}
	none := newClient("c0", store.ClientDynamic, t0.Add(2*time.Second))
	must(t, s.CreateClient(ctx, none))
	got, err = s.GetClient(ctx, "c0")
	must(t, err)
	if got.Scopes == nil || len(got.Scopes) != 0 {
		t.Fatalf("empty scopes came back as %#v", got.Scopes)
	}

	upd := *c
	upd.SecretHash, upd.RegistrationTokenHash, upd.Metadata = "h2", "rt2", []byte(`{"client_name":"Two"}`)
	upd.Scopes, upd.QuotaTier, upd.SecretExpiresAt = nil, "", time.Time{}
	upd.Kind, upd.CreatedAt = store.ClientDynamic, t0.Add(time.Hour) // not updatable
	must(t, s.UpdateClient(ctx, &upd))
	got, err = s.GetClient(ctx, "c1")
	must(t, err)
	upd.Kind, upd.CreatedAt = c.Kind, c.CreatedAt
	equal(t, "updated client", got, &upd)
	wantErr(t, "update unknown client", s.UpdateClient(ctx, newClient("nope", store.ClientStatic, t0)), store.ErrNotFound)

	must(t, s.TouchClient(ctx, "c1", t0.Add(time.Minute)))
	must(t, s.TouchClient(ctx, "c1", t0.Add(time.Second))) // earlier: ignored
	got, err = s.GetClient(ctx, "c1")
	must(t, err)
	equal(t, "last used", got.LastUsedAt, t0.Add(time.Minute))

	list, err := s.ListClients(ctx)
	must(t, err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	equal(t, "client order", ids, []string{"c1", "c2", "c0"})

	must(t, s.DeleteClient(ctx, "c2"))
	wantErr(t, "delete twice", s.DeleteClient(ctx, "c2"), store.ErrNotFound)
	_, err = s.GetClient(ctx, "c2")
	wantErr(t, "deleted client", err, store.ErrNotFound)
}

// grantFor stores a grant with an authorization code and returns both.
func grantFor(t *testing.T, s store.Store, id, clientID, subject string, t0 time.Time) (*store.Grant, *store.AuthCode) {
	t.Helper()
	g := &store.Grant{
		ID: id, ClientID: clientID, Subject: subject, Scopes: []string{"read"},
		Resources: []string{"https://mcp.example/mcp"}, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
	c := &store.AuthCode{
		Hash: "code-" + id, GrantID: id, ClientID: clientID, Subject: subject,
		RedirectURI: "http://127.0.0.1:9/cb", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scopes: []string{"read"}, Resources: []string{"https://mcp.example/mcp"}, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute),
	}
	must(t, s.CreateAuthCode(ctx, g, c))
	return g, c
}

func revoked(t *testing.T, s store.Store, grantID string) bool {
	t.Helper()
	g, err := s.GetGrant(ctx, grantID)
	must(t, err)
	return !g.RevokedAt.IsZero()
}

func testDeleteClientCascades(t *testing.T, s store.Store) {
	t0 := now()
	must(t, s.CreateClient(ctx, newClient("c1", store.ClientStatic, t0)))
	must(t, s.CreateClient(ctx, newClient("c2", store.ClientStatic, t0)))
	must(t, s.SaveConsent(ctx, "u1", "c1", []string{"read"}, t0))
	must(t, s.SaveConsent(ctx, "u1", "c2", []string{"read"}, t0))
	grantFor(t, s, "g1", "c1", "u1", t0)
	grantFor(t, s, "g2", "c2", "u1", t0)
	must(t, s.DeleteClient(ctx, "c1"))
	_, err := s.GetConsent(ctx, "u1", "c1")
	wantErr(t, "consent of deleted client", err, store.ErrNotFound)
	if _, err := s.GetConsent(ctx, "u1", "c2"); err != nil {
		t.Fatalf("consent of another client: %v", err)
	}
	if !revoked(t, s, "g1") || revoked(t, s, "g2") {
		t.Fatal("deleting a client must revoke its grants and only its grants")
	}
}

func testDeleteUnusedClients(t *testing.T, s store.Store) {
	t0 := now()
	old := newClient("old", store.ClientDynamic, t0.Add(-48*time.Hour))
	used := newClient("used", store.ClientDynamic, t0.Add(-48*time.Hour))
	used.LastUsedAt = t0.Add(-time.Hour)
	fresh := newClient("fresh", store.ClientDynamic, t0.Add(-time.Hour))
	static := newClient("static", store.ClientStatic, t0.Add(-48*time.Hour))
	for _, c := range []*store.Client{old, used, fresh, static} {
		must(t, s.CreateClient(ctx, c))
	}
	grantFor(t, s, "g-old", "old", "u1", t0.Add(-47*time.Hour))
	n, err := s.DeleteUnusedClients(ctx, t0.Add(-24*time.Hour))
	must(t, err)
	equal(t, "deleted", n, 1)
	_, err = s.GetClient(ctx, "old")
	wantErr(t, "expired client", err, store.ErrNotFound)
	for _, id := range []string{"used", "fresh", "static"} {
		if _, err := s.GetClient(ctx, id); err != nil {
			t.Fatalf("client %s: %v", id, err)
		}
	}
	if !revoked(t, s, "g-old") {
		t.Fatal("grant of an expired client not revoked")
	}
}

func testUsers(t *testing.T, s store.Store) {
	t0 := now()
	u := &store.User{ID: "id-bob", Username: "bob", PasswordHash: "$argon2id$x", Scopes: []string{"a", "b"}, CreatedAt: t0}
	must(t, s.CreateUser(ctx, u))
	wantErr(t, "same username", s.CreateUser(ctx, &store.User{ID: "id-2", Username: "bob", Scopes: []string{}, CreatedAt: t0}), store.ErrConflict)
	wantErr(t, "same id", s.CreateUser(ctx, &store.User{ID: "id-bob", Username: "bob2", Scopes: []string{}, CreatedAt: t0}), store.ErrConflict)
	must(t, s.CreateUser(ctx, &store.User{ID: "id-alice", Username: "alice", PasswordHash: "x", Scopes: []string{}, CreatedAt: t0}))

	got, err := s.GetUser(ctx, "id-bob")
	must(t, err)
	equal(t, "user by id", got, u)
	got, err = s.GetUserByName(ctx, "bob")
	must(t, err)
	equal(t, "user by name", got, u)
	_, err = s.GetUserByName(ctx, "carol")
	wantErr(t, "unknown user", err, store.ErrNotFound)
	_, err = s.GetUser(ctx, "id-carol")
	wantErr(t, "unknown user id", err, store.ErrNotFound)

	upd := *u
	upd.PasswordHash, upd.Scopes = "$argon2id$y", []string{"c"}
	must(t, s.UpdateUser(ctx, &upd))
	got, err = s.GetUser(ctx, "id-bob")
	must(t, err)
	equal(t, "updated user", got, &upd)
	wantErr(t, "update unknown", s.UpdateUser(ctx, &store.User{ID: "nope"}), store.ErrNotFound)

	list, err := s.ListUsers(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" {
		t.Fatalf("users not listed by name: %v", list)
	}
	must(t, s.DeleteUser(ctx, "id-alice"))
	wantErr(t, "delete twice", s.DeleteUser(ctx, "id-alice"), store.ErrNotFound)
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	t0 := now()
	must(t, s.CreateUser(ctx, &store.User{ID: "u1", Username: "u1", PasswordHash: "x", Scopes: []string{}, CreatedAt: t0}))
	must(t, s.CreateSession(ctx, &store.Session{Hash: "s1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.SaveConsent(ctx, "u1", "c1", []string{"read"}, t0))
	grantFor(t, s, "g1", "c1", "u1", t0)
	grantFor(t, s, "g2", "c1", "u2", t0)
	must(t, s.DeleteUser(ctx, "u1"))
	_, err := s.GetSession(ctx, "s1", t0)
	wantErr(t, "session of deleted user", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx, "u1", "c1")
	wantErr(t, "consent of deleted user", err, store.ErrNotFound)
	if !revoked(t, s, "g1") || revoked(t, s, "g2") {
		t.Fatal("deleting a user must revoke their grants and only theirs")
	}
}

func testConsents(t *testing.T, s store.Store) {
	t0 := now()
	_, err := s.GetConsent(ctx, "u1", "c1")
	wantErr(t, "no consent", err, store.ErrNotFound)
	must(t, s.SaveConsent(ctx, "u1", "c1", []string{"a", "b"}, t0))
	must(t, s.SaveConsent(ctx, "u1", "c2", []string{"z"}, t0))
	got, err := s.GetConsent(ctx, "u1", "c1")
	must(t, err)
	equal(t, "consent", got, []string{"a", "b"})
	must(t, s.SaveConsent(ctx, "u1", "c1", []string{"a", "b", "c"}, t0.Add(time.Second)))
	got, err = s.GetConsent(ctx, "u1", "c1")
	must(t, err)
	equal(t, "replaced consent", got, []string{"a", "b", "c"})
	got, err = s.GetConsent(ctx, "u1", "c2")
	must(t, err)
	equal(t, "other client's consent", got, []string{"z"})
}

func testSessions(t *testing.T, s store.Store) {
	t0 := now()
	se := &store.Session{Hash: "s1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, se))
	wantErr(t, "duplicate session", s.CreateSession(ctx, se), store.ErrConflict)
	got, err := s.GetSession(ctx, "s1", t0.Add(time.Minute))
	must(t, err)
	equal(t, "session", got, se)
	_, err = s.GetSession(ctx, "s1", t0.Add(time.Hour))
	wantErr(t, "expired session", err, store.ErrNotFound)
	must(t, s.DeleteSession(ctx, "s1"))
	must(t, s.DeleteSession(ctx, "s1"))
	_, err = s.GetSession(ctx, "s1", t0)
	wantErr(t, "deleted session", err, store.ErrNotFound)
}

func testAuthCodeSingleUse(t *testing.T, s store.Store) {
	t0 := now()
	g, c := grantFor(t, s, "g1", "c1", "u1", t0)
	wantErr(t, "duplicate grant", s.CreateAuthCode(ctx, g, c), store.ErrConflict)
	got, err := s.RedeemAuthCode(ctx, c.Hash, t0.Add(time.Second))
	must(t, err)
	want := *c
	want.UsedAt = t0.Add(time.Second)
	equal(t, "redeemed code", got, &want)
	got, err = s.RedeemAuthCode(ctx, c.Hash, t0.Add(2*time.Second))
	wantErr(t, "second redemption", err, store.ErrAlreadyUsed)
	if got == nil || got.GrantID != "g1" {
		t.Fatalf("a reused code must come back with its grant, got %#v", got)
	}
	_, err = s.RedeemAuthCode(ctx, "unknown", t0)
	wantErr(t, "unknown code", err, store.ErrNotFound)
}

func testAuthCodeConcurrent(t *testing.T, s store.Store) {
	t0 := now()
	_, c := grantFor(t, s, "g1", "c1", "u1", t0)
	ok := concurrently(t, func(int) error {
		_, err := s.RedeemAuthCode(ctx, c.Hash, t0.Add(time.Second))
		return err
	})
	equal(t, "successful redemptions", ok, 1)
}

// concurrently runs fn 16 times at once and returns how many calls succeeded. A failure must be
// store.ErrAlreadyUsed or store.ErrRevoked: the loser of a race for a single-use value.
func concurrently(t *testing.T, fn func(i int) error) int {
	t.Helper()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrAlreadyUsed) && !errors.Is(err, store.ErrRevoked):
			t.Fatalf("concurrent call: unexpected error %v", err)
		}
	}
	return ok
}

func testAuthCodeRevokedGrant(t *testing.T, s store.Store) {
	t0 := now()
	_, c := grantFor(t, s, "g1", "c1", "u1", t0)
	must(t, s.RevokeGrant(ctx, "g1", t0))
	_, err := s.RedeemAuthCode(ctx, c.Hash, t0)
	wantErr(t, "code of revoked grant", err, store.ErrRevoked)
}

func testGrants(t *testing.T, s store.Store) {
	t0 := now()
	g, _ := grantFor(t, s, "g1", "c1", "u1", t0)
	wantErr(t, "duplicate grant", s.CreateAuthCode(ctx, g, &store.AuthCode{Hash: "other", GrantID: "g1", ClientID: "c1",
		Subject: "u1", Scopes: []string{}, Resources: []string{}, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}), store.ErrConflict)
	got, err := s.GetGrant(ctx, "g1")
	must(t, err)
	equal(t, "grant", got, g)
	must(t, s.RevokeGrant(ctx, "g1", t0.Add(time.Second)))
	must(t, s.RevokeGrant(ctx, "g1", t0.Add(time.Minute)))
	got, err = s.GetGrant(ctx, "g1")
	must(t, err)
	equal(t, "first revocation time kept", got.RevokedAt, t0.Add(time.Second))
	wantErr(t, "revoke unknown", s.RevokeGrant(ctx, "nope", t0), store.ErrNotFound)
	_, err = s.GetGrant(ctx, "nope")
	wantErr(t, "unknown grant", err, store.ErrNotFound)
}

func testAccessTokens(t *testing.T, s store.Store) {
	t0 := now()
	revoked := func(jti string) bool {
		t.Helper()
		r, err := s.AccessTokenRevoked(ctx, jti)
		must(t, err)
		return r
	}
	if revoked("j1") {
		t.Fatal("a jti never revoked is reported revoked")
	}
	must(t, s.RevokeAccessToken(ctx, "j1", t0.Add(time.Hour)))
	must(t, s.RevokeAccessToken(ctx, "j1", t0.Add(time.Hour))) // twice is not an error
	if !revoked("j1") || revoked("j2") {
		t.Fatalf("after revoking j1: j1 revoked %v, j2 revoked %v", revoked("j1"), revoked("j2"))
	}
	if r, err := s.AccessTokenRevoked(ctx, "bad\x00jti\xff"); err != nil || r {
		t.Fatalf("a jti no database can hold: %v, %v; want not revoked", r, err)
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	t0 := now()
	k1 := &store.SigningKey{ID: "k1", Algorithm: "ES256", Encrypted: []byte{0, 1, 2, 255}, CreatedAt: t0,
		SignUntil: t0.Add(time.Hour), PublishUntil: t0.Add(2 * time.Hour)}
	k2 := &store.SigningKey{ID: "k2", Algorithm: "ES256", Encrypted: []byte("second"), CreatedAt: t0.Add(time.Minute),
		SignUntil: t0.Add(2 * time.Hour), PublishUntil: t0.Add(3 * time.Hour)}
	must(t, s.AddSigningKey(ctx, k1))
	must(t, s.AddSigningKey(ctx, k2))
	wantErr(t, "duplicate kid", s.AddSigningKey(ctx, k1), store.ErrConflict)
	got, err := s.ListSigningKeys(ctx)
	must(t, err)
	equal(t, "keys newest first", got, []*store.SigningKey{k2, k1})
}

func testDeleteExpired(t *testing.T, s store.Store) {
	t0 := now()
	later := t0.Add(48 * time.Hour)
	must(t, s.CreateSession(ctx, &store.Session{Hash: "old", UserID: "u", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.CreateSession(ctx, &store.Session{Hash: "live", UserID: "u", CreatedAt: t0, ExpiresAt: later.Add(time.Hour)}))
	// g1 expires (24h) with its code and tokens; g2 lives on, but its unused code expired.
	grantFor(t, s, "g1", "c1", "u1", t0)
	must(t, s.CreateRefreshToken(ctx, refresh("r1", "g1", t0)))
	// r1's rotations r1.1 … r1.3 expire with g1, r2's r2.1 … r2.3 live on with g2.
	rotateChain := func(first string) {
		for i, prev := 1, first; i <= 3; i++ {
			next := fmt.Sprintf("%s.%d", first, i)
			must(t, s.RotateRefreshToken(ctx, prev, t0, rotateTo(refresh(next, "", t0))))
			prev = next
		}
	}
	rotateChain("r1")
	must(t, s.RevokeAccessToken(ctx, "j1", t0.Add(time.Hour)))
	g2 := &store.Grant{ID: "g2", ClientID: "c1", Subject: "u1", Scopes: []string{}, Resources: []string{}, CreatedAt: t0, ExpiresAt: later.Add(time.Hour)}
	must(t, s.CreateAuthCode(ctx, g2, &store.AuthCode{Hash: "code-g2", GrantID: "g2", ClientID: "c1", Subject: "u1", Scopes: []string{},
		Resources: []string{}, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
	r2 := refresh("r2", "g2", t0) // expired itself, but kept for reuse detection while g2 lives
	must(t, s.CreateRefreshToken(ctx, r2))
	rotateChain("r2")
	must(t, s.RevokeAccessToken(ctx, "j2", later.Add(time.Minute)))
	must(t, s.AddSigningKey(ctx, &store.SigningKey{ID: "k-old", Algorithm: "ES256", Encrypted: []byte("x"), CreatedAt: t0,
		SignUntil: t0.Add(time.Hour), PublishUntil: t0.Add(2 * time.Hour)}))
	must(t, s.AddSigningKey(ctx, &store.SigningKey{ID: "k-new", Algorithm: "ES256", Encrypted: []byte("y"), CreatedAt: t0,
		SignUntil: later, PublishUntil: later.Add(time.Hour)}))

	n, err := s.DeleteExpired(ctx, later)
	must(t, err)
	// old session, code-g1, r1 and its 3 rotations, j1, g1, code-g2, k-old
	equal(t, "deleted records", n, 10)
	for what, err := range map[string]error{
		"old session": func() error { _, err := s.GetSession(ctx, "old", t0); return err }(),
		"grant g1":    func() error { _, err := s.GetGrant(ctx, "g1"); return err }(),
		"token r1":    func() error { _, _, err := s.GetRefreshToken(ctx, "r1"); return err }(),
		"token r1.2":  func() error { _, _, err := s.GetRefreshToken(ctx, "r1.2"); return err }(),
		"token r1.3":  func() error { _, _, err := s.GetRefreshToken(ctx, "r1.3"); return err }(),
		"code g1":     func() error { _, err := s.RedeemAuthCode(ctx, "code-g1", later); return err }(),
		"code g2":     func() error { _, err := s.RedeemAuthCode(ctx, "code-g2", later); return err }(),
	} {
		wantErr(t, what, err, store.ErrNotFound)
	}
	for what, err := range map[string]error{
		"live session": func() error { _, err := s.GetSession(ctx, "live", later); return err }(),
		"grant g2":     func() error { _, err := s.GetGrant(ctx, "g2"); return err }(),
		"token r2":     func() error { _, _, err := s.GetRefreshToken(ctx, "r2"); return err }(),
		"token r2.3":   func() error { _, _, err := s.GetRefreshToken(ctx, "r2.3"); return err }(),
	} {
		if err != nil {
			t.Fatalf("%s was deleted: %v", what, err)
		}
	}
	for jti, want := range map[string]bool{"j1": false, "j2": true} {
		if r, err := s.AccessTokenRevoked(ctx, jti); err != nil || r != want {
			t.Fatalf("revoked access token %s after expiry: %v, %v; want %v", jti, r, err, want)
		}
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || keys[0].ID != "k-new" {
		t.Fatalf("keys after expiry: %v", keys)
	}
}

// device returns the store as a DeviceStore, skipping the test when it is not one.
func device(t *testing.T, s store.Store) store.DeviceStore {
	t.Helper()
	ds, ok := s.(store.DeviceStore)
	if !ok {
		t.Skip("this store does not implement store.DeviceStore")
	}
	return ds
}

func newDevice(hash string, t0 time.Time) *store.DeviceCode {
	return &store.DeviceCode{
		Hash: hash, UserCodeHash: "user-" + hash, ClientID: "c1", Scopes: []string{"read"},
		Resources: []string{"https://mcp.example/mcp"}, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
}

func testDeviceCodes(t *testing.T, s store.Store) {
	ds := device(t, s)
	t0 := now()
	d := newDevice("d1", t0)
	must(t, ds.CreateDeviceCode(ctx, d))
	wantErr(t, "duplicate device code", ds.CreateDeviceCode(ctx, d), store.ErrConflict)
	dup := newDevice("d2", t0)
	dup.UserCodeHash = d.UserCodeHash
	wantErr(t, "duplicate user code", ds.CreateDeviceCode(ctx, dup), store.ErrConflict)
	must(t, ds.CreateDeviceCode(ctx, newDevice("d3", t0)))

	got, err := ds.GetDeviceCodeByUserCode(ctx, "user-d1", t0.Add(time.Minute))
	must(t, err)
	equal(t, "device code", got, d)
	_, err = ds.GetDeviceCodeByUserCode(ctx, "user-d1", t0.Add(10*time.Minute))
	wantErr(t, "expired user code", err, store.ErrNotFound)

	// Polls before a decision: pending, each poll recorded.
	got, err = ds.PollDeviceCode(ctx, "d1", t0.Add(5*time.Second))
	must(t, err)
	if !got.LastPolledAt.IsZero() || !got.DecidedAt.IsZero() {
		t.Fatalf("first poll: %+v", got)
	}
	got, err = ds.PollDeviceCode(ctx, "d1", t0.Add(10*time.Second))
	must(t, err)
	equal(t, "previous poll", got.LastPolledAt, t0.Add(5*time.Second))

	g := &store.Grant{ID: "g1", ClientID: "c1", Subject: "u1", Scopes: []string{"read"}, Resources: []string{"https://mcp.example/mcp"},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, ds.DecideDeviceCode(ctx, "user-d1", true, "u1", g, t0.Add(20*time.Second)))
	wantErr(t, "second decision", ds.DecideDeviceCode(ctx, "user-d1", false, "u1", nil, t0.Add(21*time.Second)), store.ErrAlreadyUsed)
	_, err = ds.GetDeviceCodeByUserCode(ctx, "user-d1", t0.Add(time.Minute))
	wantErr(t, "decided user code", err, store.ErrNotFound)
	if _, err := s.GetGrant(ctx, "g1"); err != nil {
		t.Fatalf("the approval did not store its grant: %v", err)
	}

	got, err = ds.PollDeviceCode(ctx, "d1", t0.Add(30*time.Second))
	must(t, err)
	if !got.Approved || got.Subject != "u1" || got.GrantID != "g1" || !got.UsedAt.IsZero() {
		t.Fatalf("poll after approval: %+v", got)
	}
	got, err = ds.PollDeviceCode(ctx, "d1", t0.Add(35*time.Second))
	wantErr(t, "poll after delivery", err, store.ErrAlreadyUsed)
	if got == nil || got.UsedAt.IsZero() {
		t.Fatalf("a delivered device code must come back with UsedAt: %+v", got)
	}

	must(t, ds.DecideDeviceCode(ctx, "user-d3", false, "u1", nil, t0.Add(time.Second)))
	got, err = ds.PollDeviceCode(ctx, "d3", t0.Add(2*time.Second))
	must(t, err)
	if got.Approved || got.DecidedAt.IsZero() || got.GrantID != "" {
		t.Fatalf("denied device code: %+v", got)
	}
	_, err = ds.PollDeviceCode(ctx, "nope", t0)
	wantErr(t, "unknown device code", err, store.ErrNotFound)
	wantErr(t, "decide unknown", ds.DecideDeviceCode(ctx, "nope", true, "u1", g, t0), store.ErrNotFound)

	n, err := s.DeleteExpired(ctx, t0.Add(11*time.Minute))
	must(t, err)
	if n < 2 {
		t.Fatalf("expired device codes not deleted (%d records)", n)
	}
	_, err = ds.PollDeviceCode(ctx, "d1", t0.Add(11*time.Minute))
	wantErr(t, "deleted device code", err, store.ErrNotFound)
}

func testDeviceConcurrentPoll(t *testing.T, s store.Store) {
	ds := device(t, s)
	t0 := now()
	must(t, ds.CreateDeviceCode(ctx, newDevice("d1", t0)))
	g := &store.Grant{ID: "g1", ClientID: "c1", Subject: "u1", Scopes: []string{}, Resources: []string{}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, ds.DecideDeviceCode(ctx, "user-d1", true, "u1", g, t0))
	ok := concurrently(t, func(int) error {
		_, err := ds.PollDeviceCode(ctx, "d1", t0.Add(time.Second))
		return err
	})
	equal(t, "polls that received the tokens", ok, 1)
}
