// Package harness runs servers under test as real processes (mcpauth serve, the oidc-provider peer,
// the benchmark servers), drives the OAuth 2.1 and MCP flows against them over HTTP, and measures
// throughput and latency at a fixed concurrency. It is shared by the benchmarks in bench/ and the
// load and crash-safety tests in test/load.
package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a server started by Start.
type Process struct {
	// Match holds the submatches of the ready pattern in the server's output.
	Match []string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *tail
}

// Options for Start.
type Options struct {
	// Ready matches the line (stdout or stderr) that says the server listens.
	Ready *regexp.Regexp
	// PinCPU, when >= 0, pins the process to that CPU with taskset (Linux).
	PinCPU int
	Env    []string
	Dir    string
}

// Start runs argv and waits until a line of its output matches opt.Ready. The process is killed
// when the test ends (if it is still running).
func Start(t testing.TB, opt Options, argv ...string) *Process {
	t.Helper()
	if opt.PinCPU >= 0 {
		argv = append([]string{"taskset", "-c", fmt.Sprint(opt.PinCPU)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), opt.Env...)
	cmd.Dir = opt.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{cmd: cmd, done: make(chan struct{}), out: &tail{}}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.out.write(line)
			if ready != nil {
				if m := opt.Ready.FindStringSubmatch(line); m != nil {
					ready <- m
					ready = nil
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() { p.Kill() })
	select {
	case p.Match = <-ready:
	case <-p.done:
		t.Fatalf("%v exited before it was ready (%v):\n%s", argv, p.err, p.Output())
	case <-time.After(60 * time.Second):
		p.Kill()
		t.Fatalf("%v not ready after 60s:\n%s", argv, p.Output())
	}
	return p
}

// Kill sends SIGKILL to the process group (kill -9: no shutdown code runs) and waits for it.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Signal sends sig to the process group: SIGSTOP freezes it, as a stalled machine or a network
// gone silent would, and SIGCONT resumes it.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// CPUTime returns the CPU time (user and system) the process has used so far, from
// /proc/<pid>/stat (Linux), whose clock ticks are 1/100 s (USER_HZ) on the architectures we run.
// taskset execs the server in its own process, so the pinned server's time is counted.
func (p *Process) CPUTime() (time.Duration, error) {
	return cpuTime(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
}

// SelfCPUTime is CPUTime of this process (every thread of it): the load generator's own cost.
func SelfCPUTime() (time.Duration, error) { return cpuTime("/proc/self/stat") }

// Core is one CPU's time counters from /proc/stat, in clock ticks: all of it, the part not idle,
// and of that the steal, the time the hypervisor gave another guest (on a shared host, the
// noise that slows every process on the CPU alike and that no process of this guest shows).
type Core struct{ Busy, Steal, Total int64 }

// ReadCore returns the counters of CPU n (the "cpuN" line of /proc/stat; Linux).
func ReadCore(n int) (Core, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Core{}, err
	}
	prefix := fmt.Sprintf("cpu%d ", n)
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return parseCore(rest)
		}
	}
	return Core{}, fmt.Errorf("no CPU %d in /proc/stat", n)
}

// parseCore reads the counters after "cpuN " in /proc/stat: user nice system idle iowait irq
// softirq steal, then guest times, already counted in user time (proc_stat(5)).
func parseCore(counters string) (Core, error) {
	var c Core
	fields := strings.Fields(counters)
	if len(fields) < 8 {
		return Core{}, fmt.Errorf("unexpected /proc/stat counters %q", counters)
	}
	for i, f := range fields[:8] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return Core{}, fmt.Errorf("unexpected /proc/stat counters %q", counters)
		}
		c.Total += v
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += v
		}
		if i == 7 {
			c.Steal = v
		}
	}
	return c, nil
}

// Sub returns the counters' growth since before.
func (c Core) Sub(before Core) Core {
	return Core{c.Busy - before.Busy, c.Steal - before.Steal, c.Total - before.Total}
}

// Add returns the sum of two stretches' counters.
func (c Core) Add(o Core) Core { return Core{c.Busy + o.Busy, c.Steal + o.Steal, c.Total + o.Total} }

// StealShare returns the share of the counted time the hypervisor gave another guest.
func (c Core) StealShare() float64 {
	if c.Total <= 0 {
		return 0
	}
	return float64(c.Steal) / float64(c.Total)
}

// BusyShare returns the share of the counted time the CPU was busy (0 to 1; 0 when none was
// counted).
func (c Core) BusyShare() float64 {
	if c.Total <= 0 {
		return 0
	}
	return float64(c.Busy) / float64(c.Total)
}

// cpuTime reads utime + stime from a /proc/<pid>/stat file.
func cpuTime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields after it.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", b)
	}
	var ticks int64
	for _, v := range f[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat: %q", b)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Output returns the last lines the process wrote (for failure messages).
func (p *Process) Output() string { return p.out.String() }

// tail keeps the last 64 KiB of output.
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tail) write(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.WriteString(line)
	t.buf.WriteByte('\n')
	if t.buf.Len() > 128<<10 {
		b := t.buf.Bytes()[t.buf.Len()-64<<10:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
