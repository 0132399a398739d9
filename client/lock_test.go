//go:build unix

package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLockServer: a second holder waits for the first; a waiter gives up with its context.
func TestLockServer(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	unlock, err := LockServer(ctx, dir, "https://a.example/mcp")
	if err != nil {
		t.Fatal(err)
	}
	// Another server's lock is independent.
	other, err := LockServer(ctx, dir, "https://b.example/mcp")
	if err != nil {
		t.Fatal(err)
	}
	other()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := LockServer(short, dir, "https://a.example/mcp"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second LockServer while held: %v, want a deadline error", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := LockServer(ctx, dir, "https://a.example/mcp")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after it was released")
	}
}

// TestRefreshInsideLockedLoginDoesNotWaitOnItself: a refresh running while the Client holds
// the store lock (as during its login) goes through at once instead of waiting for its own
// lock until the context ends.
func TestRefreshInsideLockedLoginDoesNotWaitOnItself(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	var clk clock
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.Store, cfg.Now = NewFileStore(t.TempDir()), clk.now
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(testContext(t)); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Hour)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.release()
	unlock, err := c.lockStore(ctx) // the outer holder, as obtainLocked
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := c.refreshLocked(ctx); err != nil {
		t.Fatalf("refresh under the Client's own store lock: %v", err)
	}
	if n := len(as.tokenForms("refresh_token")); n != 1 {
		t.Fatalf("refresh requests = %d, want 1", n)
	}
	// The outer holder still holds the lock after the inner release.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := LockServer(short, c.store.(*FileStore).Dir(), c.ServerResource()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another holder got the lock while the Client held it: %v", err)
	}
}

// TestLoginWaitsForAnotherProcessLogin: two Clients on one store directory (two processes
// sharing it, as proxies do) log in at once: the second waits for the first's login under the
// store lock and uses it, so the server sees one registration and one authorization.
func TestLoginWaitsForAnotherProcessLogin(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	dir := t.TempDir()
	inAuthorization, finish := make(chan struct{}), make(chan struct{})
	first := &headlessBrowser{}
	cfgA := testConfig(rs, first)
	cfgA.Store = NewFileStore(dir)
	cfgA.OpenBrowser = func(ctx context.Context, authURL string) error {
		close(inAuthorization)
		<-finish
		return first.open(ctx, authURL)
	}
	second := &headlessBrowser{}
	cfgB := testConfig(rs, second)
	cfgB.Store = NewFileStore(dir)
	a, err := New(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	errA := make(chan error, 1)
	go func() { _, err := a.Token(ctx); errA <- err }()
	<-inAuthorization // A holds the store lock and waits for its user
	errB := make(chan error, 1)
	go func() { _, err := b.Token(ctx); errB <- err }()
	for as.count("metadata") < 2 { // B discovered the server and goes for the lock
		select {
		case err := <-errB:
			t.Fatalf("B finished while A was still logging in: %v", err)
		case <-ctx.Done():
			t.Fatal("B did not discover the server")
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(finish)
	for name, ch := range map[string]chan error{"A": errA, "B": errB} {
		if err := <-ch; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if as.count("register") != 1 || first.count() != 1 || second.count() != 0 {
		t.Fatalf("registrations %d, authorizations A %d B %d; want 1, 1, 0", as.count("register"), first.count(), second.count())
	}
	ta, _ := a.Token(ctx)
	tb, _ := b.Token(ctx)
	if ta.AccessToken != tb.AccessToken {
		t.Fatal("B did not use the token A obtained")
	}
}
