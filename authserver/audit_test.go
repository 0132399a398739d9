package authserver_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
)

// recorder is an output that keeps every write apart and signals each one.
type recorder struct {
	mu      sync.Mutex
	writes  [][]byte
	written chan struct{}
}

func newRecorder() *recorder { return &recorder{written: make(chan struct{}, 1<<16)} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	r.written <- struct{}{}
	return len(p), nil
}

func (r *recorder) text() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.writes, nil)), len(r.writes)
}

// TestLogWriterOrderedAndComplete: records written concurrently through slog arrive whole, each
// writer's in its order, all of them after Close, in far fewer writes than records.
func TestLogWriterOrderedAndComplete(t *testing.T) {
	rec := newRecorder()
	w := authserver.NewLogWriter(rec)
	log := slog.New(slog.NewTextHandler(w, nil))
	const writers, each = 16, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				log.Info("audit: token.issued", "writer", g, "seq", i, "pad", "p"+strings.Repeat("x", i%97))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, writes := rec.text()
	next := make([]int, writers)
	lines := 0
	for line := range strings.Lines(out) {
		var g, i int
		if _, err := fmt.Sscanf(line[strings.Index(line, "writer="):], "writer=%d seq=%d", &g, &i); err != nil || !strings.HasSuffix(line, "\n") ||
			!strings.HasSuffix(line, " pad=p"+strings.Repeat("x", i%97)+"\n") {
			t.Fatalf("line %d not whole: %q", lines, line)
		}
		if i != next[g] {
			t.Fatalf("writer %d: record %d after %d", g, i, next[g]-1)
		}
		next[g]++
		lines++
	}
	if lines != writers*each {
		t.Fatalf("%d records arrived, want %d", lines, writers*each)
	}
	if writes >= lines/2 {
		t.Errorf("%d writes for %d records: not batched", writes, lines)
	}
}

// TestLogWriterFlushesPromptly: a lone record reaches the output without Close, about
// LogFlushDelay later.
func TestLogWriterFlushesPromptly(t *testing.T) {
	rec := newRecorder()
	w := authserver.NewLogWriter(rec)
	defer w.Close()
	for i := range 3 {
		start := time.Now()
		if _, err := io.WriteString(w, fmt.Sprintf("record %d\n", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rec.written:
		case <-time.After(5 * time.Second):
			t.Fatalf("record %d not written after 5s", i)
		}
		if d := time.Since(start); d < authserver.LogFlushDelay {
			t.Errorf("record %d written after %v, sooner than the batching delay", i, d)
		}
	}
	if out, writes := rec.text(); out != "record 0\nrecord 1\nrecord 2\n" || writes != 3 {
		t.Errorf("output %q in %d writes", out, writes)
	}
}

// TestLogWriterFullBatchWrittenAtOnce: the Write that fills a batch writes it before returning.
func TestLogWriterFullBatchWrittenAtOnce(t *testing.T) {
	rec := newRecorder()
	w := authserver.NewLogWriter(rec)
	defer w.Close()
	big := strings.Repeat("y", authserver.LogBufferMax-1) + "\n"
	if _, err := io.WriteString(w, "small\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, big); err != nil {
		t.Fatal(err)
	}
	if out, _ := rec.text(); out != "small\n"+big {
		t.Errorf("after the filling Write, %d bytes written, want %d", len(out), len("small\n"+big))
	}
}

// TestLogWriterClose: Close writes everything buffered at once; writes after Close go straight
// to the output; Close again is harmless; an output error is reported.
func TestLogWriterClose(t *testing.T) {
	rec := newRecorder()
	w := authserver.NewLogWriter(rec)
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, writes := rec.text()
	if strings.Count(out, "\n") != 100 || !strings.HasPrefix(out, "line 0\n") || !strings.HasSuffix(out, "line 99\n") {
		t.Fatalf("after Close: %q", out)
	}
	fmt.Fprintf(w, "late\n")
	if out, n := rec.text(); !strings.HasSuffix(out, "line 99\nlate\n") || n != writes+1 {
		t.Errorf("a write after Close was not written at once: %d writes, %q", n, out)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	broken := errors.New("broken pipe")
	w = authserver.NewLogWriter(failingWriter{broken})
	fmt.Fprintf(w, "lost\n")
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close over a failing output: %v", err)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// TestLogWriterOverPipe: through a real pipe, as mcpauth serve's standard error, every record
// of a burst arrives in order by the time Close returns.
func TestLogWriterOverPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []string)
	go func() {
		var lines []string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		got <- lines
	}()
	w := authserver.NewLogWriter(pw)
	log := slog.New(slog.NewJSONHandler(w, nil))
	for i := range 2000 {
		log.Info("audit: token.issued", "audit", "token.issued", "seq", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	lines := <-got
	if len(lines) != 2000 {
		t.Fatalf("%d lines through the pipe, want 2000", len(lines))
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"seq":%d}`, i)) {
			t.Fatalf("line %d: %s", i, l)
		}
	}
}

// BenchmarkAuditRecord: the CPU of one token.issued-sized record written by slog's text handler
// to a pipe (standard error of mcpauth serve under a supervisor), direct and through LogWriter,
// from 32 goroutines as under load.
func BenchmarkAuditRecord(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			pr, pw, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			defer pr.Close()
			var out io.Writer = pw
			var lw *authserver.LogWriter
			if buffered {
				lw = authserver.NewLogWriter(pw)
				out = lw
			}
			log := slog.New(slog.NewTextHandler(out, nil))
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(b.Context(), slog.LevelInfo, "audit: token.issued", slog.String("audit", "token.issued"),
						slog.String("client_id", "mcpauth-client-0123456789abcdef"), slog.String("subject", "mcpauth-client-0123456789abcdef"),
						slog.String("grant_id", "client"), slog.String("jti", "AbCdEfGhIjKlMnOpQrStUv"), slog.String("scope", "weather:read"),
						slog.Any("aud", []string{"http://127.0.0.1:9/mcp"}))
				}
			})
			if lw != nil {
				_ = lw.Close()
			}
			pw.Close()
		})
	}
}
