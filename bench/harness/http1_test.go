package harness

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func parse(t *testing.T, raw string) (response, error) {
	t.Helper()
	return readResponse(bufio.NewReaderSize(strings.NewReader(raw), 256), nil, 64)
}

// TestReadResponse: each way a body is delimited (RFC 9112 §6.3), and the connection's fate.
func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		status    int
		body      string
		close     bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", false},
		{"no reason phrase", "HTTP/1.1 201\r\ncontent-length: 2\r\n\r\n{}", 201, "{}", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", false},
		{"repeated equal length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA;ext=1\r\n, world!!!\r\n0\r\n\r\n", 200, "hello, world!!!", false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, "ok", false},
		{"chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "ok", false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"delimited by close", "HTTP/1.1 200 OK\r\n\r\nto the end", 200, "to the end", true},
		{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", 204, "", false},
		{"304 has no body", "HTTP/1.1 304 Not Modified\r\n\r\n", 304, "", false},
		{"error status", "HTTP/1.1 400 Bad Request\r\nContent-Length: 27\r\n\r\n{\"error\":\"invalid_request\"}", 400, `{"error":"invalid_request"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := parse(t, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || string(resp.Body) != tc.body || resp.Close != tc.close {
				t.Errorf("got %d %q close=%v, want %d %q close=%v", resp.Status, resp.Body, resp.Close, tc.status, tc.body, tc.close)
			}
		})
	}
}

// TestReadResponseRefuses: malformed framing, bodies over the limit and truncated responses are
// errors (typed where the response is malformed), never a wrong body.
func TestReadResponseRefuses(t *testing.T) {
	framing := []struct{ name, raw string }{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n"},
		{"HTTP/2 status line", "HTTP/2 200\r\n\r\n"},
		{"short status", "HTTP/1.1 20 OK\r\n\r\n"},
		{"status below 100", "HTTP/1.1 099 Weird\r\n\r\n"},
		{"no space after code", "HTTP/1.1 200OK\r\n\r\n"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"list of lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{"chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"two codings", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n"},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"},
		{"no colon", "HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"},
		{"chunk longer than size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nok\r\n0\r\n\r\n"},
		{"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n"},
		{"length over limit", "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n"},
		{"chunks over limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + strings.Repeat("x", 64) + "\r\n1\r\nx\r\n0\r\n\r\n"},
		{"close-delimited over limit", "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 65)},
		{"line too long", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("x", 300) + "\r\n\r\n"},
	}
	for _, tc := range framing {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := parse(t, tc.raw)
			if fe := (*FramingError)(nil); !errors.As(err, &fe) {
				t.Fatalf("got %+v, %v; want a *FramingError", resp, err)
			}
		})
	}
	truncatedCases := []struct{ name, raw string }{
		{"in status line", "HTTP/1.1 20"},
		{"in header", "HTTP/1.1 200 OK\r\nContent-Len"},
		{"before empty line", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"},
		{"in body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"},
		{"in chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"},
		{"before last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"},
		{"in trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n"},
	}
	for _, tc := range truncatedCases {
		t.Run("truncated "+tc.name, func(t *testing.T) {
			if resp, err := parse(t, tc.raw); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("got %+v, %v; want io.ErrUnexpectedEOF", resp, err)
			}
		})
	}
	if _, err := parse(t, ""); !errors.Is(err, errNoResponse) {
		t.Errorf("empty connection: %v, want errNoResponse", err)
	}
}

// TestReadResponseKeepAlive: responses read one after the other from one connection each end
// exactly where the next begins, and the body buffer is reused.
func TestReadResponseKeepAlive(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nthree"
	r := bufio.NewReader(strings.NewReader(raw))
	buf := make([]byte, 0, 16)
	for _, want := range []string{"one", "two", "", "three"} {
		resp, err := readResponse(r, buf, 64)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != want || resp.Close {
			t.Fatalf("body %q close=%v, want %q", resp.Body, resp.Close, want)
		}
		if len(resp.Body) > 0 && &resp.Body[0] != &buf[:1][0] {
			t.Errorf("body %q not read into the given buffer", want)
		}
	}
	if _, err := readResponse(r, buf, 64); !errors.Is(err, errNoResponse) {
		t.Errorf("after the last response: %v", err)
	}
}

// FuzzReadHTTP1Response: readResponse never panics or returns a body over its limit; where it
// and net/http's ReadResponse both accept a response they agree on its status and body; and a
// response read from a kept-alive connection ends where the next begins, whatever follows it.
func FuzzReadHTTP1Response(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{\"access_token\":\"a.b.c\",\"x\":1}",
		"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 2\n\nok",
	} {
		f.Add([]byte(seed))
	}
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, 512)
		resp, err := readResponse(br, nil, limit)
		if err != nil {
			return
		}
		if len(resp.Body) > limit {
			t.Fatalf("body of %d bytes over the limit %d", len(resp.Body), limit)
		}
		body := bytes.Clone(resp.Body)
		if std, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil); err == nil {
			stdBody, err := io.ReadAll(std.Body)
			if err == nil && (std.StatusCode != resp.Status || !bytes.Equal(stdBody, body)) {
				t.Fatalf("net/http read %d %q, readResponse %d %q", std.StatusCode, stdBody, resp.Status, body)
			}
		}
		if resp.Close {
			return
		}
		// The message as read, twice in a row: the second read starts where the first ended.
		msg := data[:len(data)-br.Buffered()-src.Len()]
		r := bufio.NewReaderSize(bytes.NewReader(append(bytes.Clone(msg), msg...)), 512)
		if _, err := readResponse(r, nil, limit); err != nil {
			t.Fatalf("first of two copies: %v", err)
		}
		again, err := readResponse(r, nil, limit)
		if err != nil || again.Status != resp.Status || !bytes.Equal(again.Body, body) {
			t.Fatalf("second copy read as %d %q (%v), first as %d %q", again.Status, again.Body, err, resp.Status, body)
		}
	})
}
