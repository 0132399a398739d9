//go:build !linux

// Releasing the executable's start-up pages: Linux only (see release_linux.go).

package main

import "errors"

// releaseStartupPages does nothing outside Linux.
func releaseStartupPages() error {
	return errors.New("releasing start-up pages is implemented for Linux only")
}
