package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// dirtyPages reports how many pages of the file at path the kernel holds that are not on the
// disk yet (dirty or being written back), by cachestat (Linux 6.5).
func dirtyPages(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	err = unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat needs Linux 6.5")
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Dirty + st.Writeback
}

// syncedFile returns a new file and its walSync, closed when the test ends.
func syncedFile(t *testing.T) (string, *walSync) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWALSync(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.close() })
	return path, w
}

// TestWALSyncWritesTheFile: a sync through AIO returns once the file's pages written so far
// are on the disk.
func TestWALSyncWritesTheFile(t *testing.T) {
	path, w := syncedFile(t)
	for range 3 { // the request and the eventfd are reused
		if err := os.WriteFile(path, make([]byte, 1<<20), 0o600); err != nil { // the same file
			t.Fatal(err)
		}
		if n := dirtyPages(t, path); n == 0 {
			t.Fatal("no dirty pages after a write: the test cannot tell a sync from none")
		}
		if err := w.sync(); err != nil {
			t.Fatal(err)
		}
		if n := dirtyPages(t, path); n != 0 {
			t.Fatalf("%d pages not on the disk after the sync", n)
		}
	}
}

// TestWALSyncErrors: a sync the kernel refuses, or of a WAL that was removed, fails with
// ErrSyncFailed; a file whose sync the kernel refuses from the start (a character device) is not
// taken for syncing, so a store there would keep synchronous=FULL.
func TestWALSyncErrors(t *testing.T) {
	if _, err := openWALSync(os.DevNull); !errors.Is(err, unix.EINVAL) {
		t.Errorf("opening %s for syncing: %v, want EINVAL from io_submit", os.DevNull, err)
	}
	path, w := syncedFile(t)
	w.cb.fildes = 1 << 30 // no such descriptor: io_submit says EBADF
	if err := w.sync(); !errors.Is(err, ErrSyncFailed) || !errors.Is(err, unix.EBADF) {
		t.Errorf("sync of a bad descriptor: %v, want ErrSyncFailed and EBADF", err)
	}
	w.cb.fildes = uint32(w.wal)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); !errors.Is(err, ErrSyncFailed) || !errors.Is(err, errWALRemoved) {
		t.Errorf("sync of a removed WAL: %v, want ErrSyncFailed and errWALRemoved", err)
	}
	if _, err := openWALSync(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing WAL: %v, want ErrNotExist", err)
	}
}

// TestWritesAnsweredOnceDurable: on Linux the store syncs its WAL itself, and a write returns
// only once the WAL is on the disk; the writer's own commits do not sync it (NORMAL).
func TestWritesAnsweredOnceDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.wal == nil {
		t.Fatal("the store does not sync its WAL itself")
	}
	s.stopCheckpoints() // a checkpoint syncs the WAL too
	s.checkpoints.Wait()
	synced := 0
	sync := s.wal.sync
	if err := s.SyncCommits(t.Context(), "PRAGMA synchronous = NORMAL", func() error {
		if dirtyPages(t, path+"-wal") == 0 {
			t.Error("the commit left nothing to sync: the writer's connection synced it (FULL)")
		}
		synced++
		return sync()
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := string(rune('a' + i))
		if err := s.CreateUser(t.Context(), &store.User{ID: id, Username: id, PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if n := dirtyPages(t, path+"-wal"); n != 0 {
			t.Fatalf("write %d answered with %d pages of the WAL not on the disk", i, n)
		}
	}
	if synced != 20 {
		t.Errorf("%d syncs for 20 writes one after the other", synced)
	}
}
