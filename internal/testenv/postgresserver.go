package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Postgres is a PostgreSQL server of one test's own, for the faults that must not reach the
// server every other test shares: stopping it and starting it again. It runs the PostgreSQL
// binaries scripts/test.sh installs, as the postgres user when the test runs as root (the
// server refuses to run as root), with fsync on as in production.
type Postgres struct {
	DSN  string // the postgres database of the user mcpauth, trusted on 127.0.0.1
	bin  string // the directory of initdb and pg_ctl
	data string
	port string

	frozen bool // by Freeze, until Thaw
}

// StartPostgres initialises a database cluster in a directory of t's own and starts its server on
// a free 127.0.0.1 port; the server is stopped when t ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		missing(t, "PostgreSQL's binaries (/usr/lib/postgresql/*/bin)")
	}
	dir, err := os.MkdirTemp("", "mcpauth-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The postgres user must reach the data directory inside it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	p := &Postgres{bin: bin, data: filepath.Join(dir, "data"), port: port}
	if err := os.Mkdir(p.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("PostgreSQL runs as the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(p.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p.run(t, "initdb", "-D", p.data, "-U", "mcpauth", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.DSN = fmt.Sprintf("postgres://mcpauth@127.0.0.1:%s/postgres?sslmode=disable", p.port)
	p.Start(t)
	t.Cleanup(func() {
		if p.frozen { // the test ended during a freeze: a stopped server would not stop
			p.Thaw(t)
		}
		// Stopped already if Stop was the test's last word: the outcome does not matter.
		_ = p.command("pg_ctl", "-D", p.data, "-m", "immediate", "stop").Run()
	})
	return p
}

// Start starts the server, on the port it had, and returns once it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", p.data, "-l", filepath.Join(p.data, "log"), "-w", "-o",
		fmt.Sprintf("-p %s -k %s -h 127.0.0.1 -c fsync=on", p.port, p.data), "start")
}

// Stop stops the server at once, as a crash would (pg_ctl's immediate mode: every connection
// is cut, and the next start recovers from the write-ahead log).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
}

// Freeze stops every process of the server (SIGSTOP), as a stalled disk, a paused machine or a
// network gone silent in a failover would: connections are still accepted by the kernel, but no
// query or log-in is answered until Thaw.
func (p *Postgres) Freeze(t testing.TB) {
	t.Helper()
	p.frozen = true
	p.signal(t, syscall.SIGSTOP)
}

// Thaw resumes the processes Freeze stopped.
func (p *Postgres) Thaw(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGCONT)
	p.frozen = false
}

// signal sends sig to the postmaster, then to each of its children (the backends and the
// background workers; a stopped postmaster forks no more of them).
func (p *Postgres) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	pidFile, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	if err := syscall.Kill(postmaster, sig); err != nil {
		t.Fatalf("signal the postmaster: %v", err)
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue // the process has ended
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, so count from the last ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
			_ = syscall.Kill(pid, sig) // it may have ended meanwhile
		}
	}
}

func (p *Postgres) run(t testing.TB, tool string, args ...string) {
	t.Helper()
	if out, err := p.command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// command runs tool as the postgres user when the test runs as root.
func (p *Postgres) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, tool)
	if os.Getuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// postgresBin is the bin directory of the newest PostgreSQL installed the Debian way, or "".
func postgresBin() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestMajor := "", -1
	for _, initdb := range found {
		bin := filepath.Dir(initdb)
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
		if err == nil && major > bestMajor {
			best, bestMajor = bin, major
		}
	}
	return best
}
