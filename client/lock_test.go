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
