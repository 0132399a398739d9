//go:build unix

// A lock shared by the processes using one store directory, so that many processes for one
// server (desktop hosts start several) register, authorize and refresh one at a time.

package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often a waiting process tries the lock again.
const lockPoll = 20 * time.Millisecond

// LockServer takes an exclusive lock on the credentials of the MCP server resource in the
// store directory dir, waiting until the process holding it releases it or ctx ends. The lock
// is an advisory flock(2) on a file named after the resource: the kernel releases it when the
// holder exits, crashed or not, so a dead holder never blocks the others. unlock releases it.
//
// A process that waited must read the store again after taking the lock: the holder may have
// stored a registration or a fresh token it can reuse.
func LockServer(ctx context.Context, dir, resource string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	h := sha256.Sum256([]byte(resource))
	path := filepath.Join(dir, hex.EncodeToString(h[:16])+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another mcpauth process to finish logging in to %s: %w", resource, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
