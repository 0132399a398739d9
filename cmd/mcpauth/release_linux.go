// Releasing the executable's start-up code pages: madvise(2) MADV_DONTNEED on its code mapping (proc(5) /proc/self/maps).

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages unmaps, from this process only, the pages of the
// executable's code mapping. Start-up maps far more code than `mcpauth
// proxy` runs afterwards: the package initialisers of the whole binary (the
// authorization server's SQLite, PostgreSQL and Redis drivers among them)
// each sit in their own place of the file, and the kernel maps 64 KiB of the
// page cache around every page fault (about 7 MiB of code after start-up).
// A page run again is mapped again from the page cache on its next access;
// the others stop counting in the process's resident set. The mapping is
// never written, so no content is lost, and other processes and the page
// cache are unaffected. The read-only data mapping (type data, function
// tables) is left alone: the runtime reads much of it again soon (stack
// growth, garbage collection), and mapping it again cost more start-up time
// than it saved memory. Best effort: the error only says why nothing was
// released.
func releaseStartupPages() error {
	// The executable's name as /proc/self/maps gives it (with " (deleted)"
	// if the file was replaced since). Names, not device numbers, because
	// btrfs reports other device numbers to stat than in the maps.
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(maps)) {
		// start-end perms offset dev inode path (which may hold spaces)
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 6)
		if len(f) < 6 || f[1] != "r-xp" || strings.TrimLeft(f[5], " ") != exe {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return fmt.Errorf("unreadable mapping %q in /proc/self/maps", f[0])
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise: %w", errno)
		}
		return nil
	}
	return fmt.Errorf("no code mapping of %s in /proc/self/maps", exe)
}
