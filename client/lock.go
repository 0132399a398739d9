// A lock shared by the processes using one store directory, so that many processes for one
// server (desktop hosts start several) register, authorize and refresh one at a time.
package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// lockPoll is how often a waiting process tries the lock again.
const lockPoll = 20 * time.Millisecond

// LockServer takes an exclusive lock on the credentials of the MCP server resource in the
// store directory dir, waiting until the process holding it releases it or ctx ends. The lock
// is an advisory file lock (flock(2), LockFileEx on Windows) on a file named after the
// resource: the kernel releases it when the holder exits, crashed or not, so a dead holder
// never blocks the others. unlock releases it.
//
// It is not reentrant: a holder must not take it again. A Client takes it itself around its
// logins and refreshes (lockStore), so callers of a Client need not.
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
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if locked {
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another mcpauth process to finish logging in to %s: %w", resource, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// lockStore takes the cross-process lock of this server's credentials when the store is a
// FileStore (other stores coordinate on their own); the returned function releases it. It is
// reentrant for the Client: a login or refresh running under the lock (c.lock is held by the
// caller throughout) does not wait for itself, and only the outermost release unlocks.
func (c *Client) lockStore(ctx context.Context) (func(), error) {
	fs, ok := c.store.(*FileStore)
	if !ok || c.state.storeLocked {
		return func() {}, nil
	}
	unlock, err := LockServer(ctx, fs.Dir(), c.server.String())
	if err != nil {
		return nil, err
	}
	c.state.storeLocked = true
	return func() {
		c.state.storeLocked = false
		unlock()
	}, nil
}
