package sqlite_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/authserver/store/storetest"
	"github.com/mcpauth/mcpauth/internal/cputime"
)

// BenchmarkRotateRefreshToken: storetest.BenchmarkRotation on SQLite. Besides the time per
// rotation it reports the process's CPU per rotation (cpu-µs/op: user and system time, which
// leaves out the time spent waiting for fsync) and the bytes it wrote per rotation
// (write-B/op: WAL frames, and their later copy into the database file by checkpoints).
func BenchmarkRotateRefreshToken(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "mcpauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var cpu0 time.Duration
	var wrote0 int64
	storetest.BenchmarkRotation(b, s, func() { cpu0, wrote0 = cputime.Process(b), bytesWritten(b) })
	b.ReportMetric(float64((cputime.Process(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(bytesWritten(b)-wrote0)/float64(b.N), "write-B/op")
}

// bytesWritten is what the process has passed to write system calls so far (/proc/self/io).
func bytesWritten(b *testing.B) int64 {
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for line := range strings.Lines(string(io)) {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}
