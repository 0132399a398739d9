// Releasing the executable's start-up code pages: madvise(2) MADV_DONTNEED on its code mapping (proc(5) /proc/self/maps).

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

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
	fi, err := os.Stat("/proc/self/exe")
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("no inode for /proc/self/exe")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ino := strconv.FormatUint(st.Ino, 10)
	released := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[3] != dev || f[4] != ino || f[1] != "r-xp" {
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
		released++
	}
	if released == 0 {
		return fmt.Errorf("no code mapping of the executable (%s inode %s) in /proc/self/maps", dev, ino)
	}
	return nil
}
