// Package stdiohost drives `mcpauth proxy` the way a desktop MCP host does: the official
// TypeScript SDK's stdio client (@modelcontextprotocol/sdk) spawns it, lists and calls tools
// on `mcpauth serve` through it, and keeps its session across a restart of the server.
package stdiohost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
)

// server is one `mcpauth serve --dev-login` process on a fixed loopback address.
type server struct {
	cmd    *exec.Cmd
	mcpURL string
}

// startServer runs `mcpauth serve` on addr with its data in dir and waits for its MCP URL.
func startServer(t *testing.T, bin, addr, dir string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", dir, "--dev-login", "alice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd}
	t.Cleanup(s.stop)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "give this to clients): "); ok {
			s.mcpURL = strings.TrimSpace(u)
			break
		}
	}
	go io.Copy(io.Discard, out)
	if s.mcpURL == "" {
		t.Fatalf("mcpauth serve printed no MCP URL (%v)", sc.Err())
	}
	return s
}

// stop ends the server gracefully and waits for it.
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type hostLine struct {
	Round  int      `json:"round"`
	Tools  []string `json:"tools"`
	Result struct {
		City     string `json:"city"`
		Forecast []any  `json:"forecast"`
	} `json:"result"`
	Waiting int  `json:"waiting"`
	Closed  bool `json:"closed"`
}

// TestTypeScriptStdioHostThroughProxySurvivesServerRestart is the acceptance test of the
// proxy: first use logs in through the browser ($BROWSER is a fetch that follows the dev
// login's redirect), the host lists and calls tools, the server restarts (its sessions are
// lost; its keys and clients persist in --data), and the same host session goes on.
func TestTypeScriptStdioHostThroughProxySurvivesServerRestart(t *testing.T) {
	node := testenv.Node(t)
	root := testenv.RepoRoot(t)
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	addr, data := testenv.FreeAddr(t), t.TempDir()
	srv := startServer(t, bin, addr, data)

	host := exec.Command(node, filepath.Join(root, "test", "stdiohost", "host.mjs"), bin, srv.mcpURL, "2")
	host.Dir = filepath.Join(root, "test")
	host.Env = append(host.Environ(),
		"MCPAUTH_CONFIG_DIR="+t.TempDir(),
		"BROWSER="+node+" "+filepath.Join(root, "test", "stdiohost", "browser.mjs"),
		"DISPLAY=", "WAYLAND_DISPLAY=")
	stdin, err := host.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	host.Stderr = stderr
	host.WaitDelay = 5 * time.Second // the proxy and the "browser" inherit stderr
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		host.Process.Kill()
		host.Wait()
	})
	lines := make(chan hostLine)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l hostLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	next := func() hostLine {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the host exited early; stderr:\n%s", stderr.String())
			}
			return l
		case <-time.After(90 * time.Second):
			t.Fatalf("no answer from the host in 90s; stderr:\n%s", stderr.String())
		}
		return hostLine{}
	}
	check := func(l hostLine, round int) {
		t.Helper()
		want := []string{"flight_search", "stock_quotes", "weather_forecast"}
		if l.Round != round || !slices.Equal(l.Tools, want) || l.Result.City != "Lisbon" || len(l.Result.Forecast) != 2 {
			t.Fatalf("round %d: got %+v, want tools %v and a 2-day forecast for Lisbon", round, l, want)
		}
	}

	check(next(), 1)
	if l := next(); l.Waiting != 2 {
		t.Fatalf("got %+v, want the host waiting for round 2", l)
	}
	srv.stop()
	startServer(t, bin, addr, data)
	fmt.Fprintln(stdin)
	stdin.Close() // the host exits once its stdin is closed and its rounds are done
	check(next(), 2)
	if l := next(); !l.Closed {
		t.Fatalf("got %+v, want the host closed", l)
	}
	if err := host.Wait(); err != nil {
		t.Fatalf("host: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "remote session is gone; starting a new one") {
		t.Errorf("the proxy did not report a new session after the restart; stderr:\n%s", stderr.String())
	}
}
