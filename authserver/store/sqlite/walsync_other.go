//go:build !linux

package sqlite

import "errors"

// walSync syncs the WAL off the goroutine's P on Linux (walsync_linux.go); elsewhere the store
// keeps synchronous=FULL, where SQLite syncs the WAL in each commit.
type walSync struct{}

func openWALSync(string) (*walSync, error) { return nil, errors.ErrUnsupported }

func (*walSync) sync() error  { return nil }
func (*walSync) close() error { return nil }
