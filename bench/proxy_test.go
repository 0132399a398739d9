package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
)

// What a desktop host sends a stdio MCP server it just started, in the lifecycle's order: the
// initialize request, and once it is answered, the initialized notification and tools/list.
const (
	initializeRequest = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench-host","version":"1"}}}` + "\n"
	afterInitialize   = `{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n" + `{"jsonrpc":"2.0","id":2,"method":"tools/list"}` + "\n"
)

// hostStart starts argv as a desktop host starts a stdio MCP server, sends initialize and
// tools/list, and returns the time from process start to the tools/list response, and the
// process's peak resident memory until then (VmHWM in /proc/PID/status).
//
// Not getrusage's ru_maxrss of the reaped child: Linux folds into it the peak RSS of the
// address space the child had before exec, which for os/exec's vfork-style start is this
// test process's own (so any test process bigger than the proxy would be measured instead).
func hostStart(env, argv []string) (time.Duration, int64, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	// A start that never answers is killed (stdout then ends) instead of hanging the run.
	answered := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer answered.Stop()
	io.WriteString(in, initializeRequest)
	var elapsed time.Duration
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"jsonrpc":"2.0","id":1,"result":{`) {
			io.WriteString(in, afterInitialize)
		}
		if strings.HasPrefix(sc.Text(), `{"jsonrpc":"2.0","id":2,"result":{`) && strings.Contains(sc.Text(), "weather_forecast") {
			elapsed = time.Since(start)
			break
		}
	}
	var peak int64
	var peakErr error
	if elapsed != 0 {
		peak, peakErr = peakRSS(cmd.Process.Pid)
	}
	go io.Copy(io.Discard, out)
	if err := shutdown(cmd, in); err != nil && elapsed == 0 {
		return 0, 0, fmt.Errorf("%s: %v", argv[0], err)
	}
	if elapsed == 0 {
		return 0, 0, fmt.Errorf("%s: no tools/list response", argv[0])
	}
	return elapsed, peak, peakErr
}

// shutdown stops a stdio server as the MCP lifecycle's stdio shutdown says a host does: close its
// stdin, wait for it to exit, then SIGTERM, then SIGKILL. (mcp-remote does not always exit when
// its stdin closes while it is still opening its event stream.)
func shutdown(cmd *exec.Cmd, stdin io.Closer) error {
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for _, next := range []func() error{
		func() error { return cmd.Process.Signal(syscall.SIGTERM) },
		cmd.Process.Kill,
	} {
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			next()
		}
	}
	return <-done
}

// peakRSS reads the peak resident set size of a running process, in bytes.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// BenchmarkProxyStartup measures, side by side in one run against one `mcpauth serve`, the
// time from process start to the tools/list response with stored credentials, and the peak
// memory, of `mcpauth proxy URL` and `mcp-remote URL` (npm, run with Node 22 directly, not
// through npx). Each logs in once first (the dev login, through $BROWSER). Run with
//
//	go test -run '^$' -bench BenchmarkProxyStartup -benchtime 20x ./bench/
//
// The proxy is the binary as released: static (CGO_ENABLED=0, see the README's install line).
//
// Peak RSS counts the pages of the executable file the process has mapped, and the kernel maps
// more than the pages touched: on a fault, the cached pages around it (fault-around, 64 KiB)
// and, since Linux 6.18, the whole large folio holding it. So the same program measures very
// differently depending on how its file sits in the page cache (the proxy: 14.3 MiB when the
// file was written in 4 KiB pieces, 25.9 MiB in 1 MiB pieces; before this session's memory
// work 19.6 and 32.7 MiB, and 19 to 26 MiB after eviction and read-ahead). Both sides therefore run from copies written in 4 KiB pieces (small folios:
// the classic fault-around only), and the server runs from a copy of its own, as a remote
// server would run on another machine, so its pages are not mapped into the proxy.
func BenchmarkProxyStartup(b *testing.B) {
	root := testenv.RepoRoot(b)
	node := copyExecutable(b, testenv.Node(b))
	built := buildStatic(b, root)
	bin := copyExecutable(b, built)
	mcpURL := startServeBinary(b, copyExecutable(b, built))
	home := b.TempDir() // mcp-remote keeps its credentials under $HOME/.mcp-auth
	env := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "MCPAUTH_CONFIG_DIR=") || strings.HasPrefix(kv, "BROWSER=")
	}), "HOME="+home, "MCPAUTH_CONFIG_DIR="+filepath.Join(home, "mcpauth"),
		"BROWSER="+node+" "+filepath.Join(root, "test", "stdiohost", "browser.mjs"))

	for _, side := range []struct {
		name string
		argv []string
	}{
		{"mcpauth-proxy", []string{bin, "proxy", mcpURL}},
		{"mcp-remote", []string{node, filepath.Join(root, "test", "node_modules", "mcp-remote", "dist", "proxy.js"), mcpURL}},
	} {
		if _, _, err := hostStart(env, side.argv); err != nil { // the login
			b.Fatalf("%s: first run (login): %v", side.name, err)
		}
		b.Run(side.name, func(b *testing.B) {
			var total time.Duration
			var peak int64
			n := 0
			for b.Loop() {
				d, rss, err := hostStart(env, side.argv)
				if err != nil {
					b.Fatal(err)
				}
				total += d
				peak = max(peak, rss)
				n++
			}
			b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-to-tools/list")
			b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS")
		})
	}
}

// startServeBinary runs `mcpauth serve --dev-login` and returns its MCP URL.
func startServeBinary(b *testing.B, bin string) string {
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", b.TempDir(), "--dev-login", "alice",
		"--rate-user", "0", "--rate-client", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "give this to clients): "); ok {
			go io.Copy(io.Discard, out)
			return strings.TrimSpace(u)
		}
	}
	b.Fatal("mcpauth serve printed no MCP URL")
	return ""
}

// buildStatic builds cmd/mcpauth as it is released: without cgo, one static executable.
func buildStatic(b *testing.B, root string) string {
	out := filepath.Join(b.TempDir(), "mcpauth")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/mcpauth")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// copyExecutable copies the executable src to a new file in 4 KiB writes, so that its pages
// enter the page cache as small folios (see BenchmarkProxyStartup), and returns its path.
func copyExecutable(b *testing.B, src string) string {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(b.TempDir(), filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	// io.CopyBuffer with only Read and Write visible, so no copy_file_range or sendfile
	// chooses the folio sizes.
	_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 4096))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	return dst
}
