package sqlstore

import (
	"context"
	"errors"
	"testing"
)

// TestWriteQueue: one turn at a time; a writer waiting for its turn gives up when its context
// ends; a store without the queue (nil) never waits.
func TestWriteQueue(t *testing.T) {
	w := make(writeQueue, 1)
	if err := w.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	entered := make(chan error)
	go func() { entered <- w.enter(ctx) }()
	cancel()
	if err := <-entered; !errors.Is(err, context.Canceled) {
		t.Fatalf("second writer while the turn is taken: %v, want context.Canceled", err)
	}
	w.leave()
	if err := w.enter(t.Context()); err != nil {
		t.Fatalf("after leave: %v", err)
	}
	w.leave()

	var none writeQueue
	for range 3 {
		if err := none.enter(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	none.leave()
}
