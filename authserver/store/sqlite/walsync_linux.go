package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// walSync makes the WAL durable (fdatasync) through Linux's asynchronous I/O: the kernel syncs
// the file on a worker thread (io_submit with IOCB_CMD_FDSYNC, Linux 4.18) and signals an
// eventfd when done, which the calling goroutine waits for in Go's network poller. A plain
// fdatasync keeps the goroutine's P (Go's right to run goroutines) for the whole wait, and the
// runtime hands the P to another thread only after the call has lasted across two of its
// checks, which back off to 10 ms in a process of short calls: on a server pinned to one core
// every request stood still during each commit's fsync, a tenth of the time under refresh
// rotations. Waiting in the poller lets the other requests run meanwhile.
type walSync struct {
	path string
	wal  int      // a descriptor of the WAL: fdatasync syncs the file, whichever descriptor wrote it
	aio  uintptr  // the AIO context (aio_context_t)
	done *os.File // the eventfd, non-blocking, so reads of it wait in the poller
	cb   iocb     // the request, reused: one sync runs at a time (the group's turn holder's)
	cbs  [1]*iocb // io_submit's argument, pointing at cb
	ev   ioEvent  // the completion
}

// iocb is Linux's struct iocb (include/uapi/linux/aio_abi.h), 64 bytes on every architecture;
// the two 32-bit fields whose order depends on endianness (key, rw_flags) stay zero here.
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   int32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// ioEvent is Linux's struct io_event: the outcome of one request.
type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

const (
	iocbCmdFdsync = 3      // IOCB_CMD_FDSYNC
	iocbFlagResfd = 1 << 0 // IOCB_FLAG_RESFD: signal resfd when done
)

// openWALSync opens the WAL at path for syncing, and syncs it once. It fails where the kernel
// refuses AIO or its fsync request (older than 4.18, a seccomp profile that forbids io_setup, a
// sandbox that does not implement it), and then the store keeps synchronous=FULL.
func openWALSync(path string) (*walSync, error) {
	wal, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	w := &walSync{path: path, wal: wal}
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&w.aio)), 0); e != 0 {
		unix.Close(wal)
		return nil, fmt.Errorf("io_setup: %w", e)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		w.destroy()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	w.done = os.NewFile(uintptr(efd), "aio-eventfd")
	w.cb = iocb{opcode: iocbCmdFdsync, fildes: uint32(wal), flags: iocbFlagResfd, resfd: uint32(efd)}
	w.cbs[0] = &w.cb
	if err := w.sync(); err != nil {
		return nil, errors.Join(err, w.close())
	}
	return w, nil
}

// sync makes every commit written to the WAL so far durable; its error wraps ErrSyncFailed.
func (w *walSync) sync() error {
	if err := w.fdatasync(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSyncFailed, w.path, err)
	}
	return nil
}

func (w *walSync) fdatasync() error {
	// SQLite removes the WAL only when its last connection closes, and the store's writer
	// stays open; a WAL removed all the same (by hand) would be synced in vain.
	var st unix.Stat_t
	if err := unix.Fstat(w.wal, &st); err != nil {
		return err
	}
	if st.Nlink == 0 {
		return errWALRemoved
	}
	if err := retryEINTR(func() (uintptr, uintptr, unix.Errno) {
		return unix.Syscall(unix.SYS_IO_SUBMIT, w.aio, 1, uintptr(unsafe.Pointer(&w.cbs[0])))
	}); err != nil {
		return fmt.Errorf("io_submit: %w", err)
	}
	var signalled [8]byte
	if _, err := io.ReadFull(w.done, signalled[:]); err != nil {
		return err
	}
	if err := retryEINTR(func() (uintptr, uintptr, unix.Errno) {
		return unix.Syscall6(unix.SYS_IO_GETEVENTS, w.aio, 1, 1, uintptr(unsafe.Pointer(&w.ev)), 0, 0)
	}); err != nil {
		return fmt.Errorf("io_getevents: %w", err)
	}
	if w.ev.res < 0 {
		return unix.Errno(-w.ev.res)
	}
	return nil
}

// errWALRemoved: the WAL file this store syncs is no longer the one SQLite writes.
var errWALRemoved = errors.New("the WAL file was removed")

// retryEINTR runs a system call of one request until a signal does not interrupt it, and
// returns its error; it must have handled the one request.
func retryEINTR(call func() (uintptr, uintptr, unix.Errno)) error {
	for {
		n, _, e := call()
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return e
		case n != 1:
			return fmt.Errorf("%d requests handled, want 1", n)
		}
		return nil
	}
}

// close releases the AIO context, the eventfd and the WAL's descriptor.
func (w *walSync) close() error {
	return errors.Join(w.done.Close(), w.destroy())
}

// destroy releases the AIO context and the WAL's descriptor.
func (w *walSync) destroy() error {
	var err error
	if _, _, e := unix.Syscall(unix.SYS_IO_DESTROY, w.aio, 0, 0); e != 0 {
		err = fmt.Errorf("io_destroy: %w", e)
	}
	return errors.Join(err, unix.Close(w.wal))
}
