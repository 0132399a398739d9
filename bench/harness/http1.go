// HTTP/1.1 response framing (RFC 9112 §4-§7) for the raw load generator: the status, whether
// the connection stays open, and the body delimited by Content-Length, chunked coding or close.
package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// FramingError is a response the raw load generator cannot read as HTTP/1.1. Its text names
// what was wrong, never the response's content (which may hold a token).
type FramingError struct{ Reason string }

func (e *FramingError) Error() string { return "malformed HTTP/1.1 response: " + e.Reason }

// errNoResponse: the connection ended before the first byte of a response (a keep-alive
// connection the server had closed).
var errNoResponse = errors.New("connection closed before a response")

// response is what the load generator reads of an HTTP/1.1 response.
type response struct {
	Status int
	// Close: the server closes the connection after this response (Connection: close, HTTP/1.0,
	// or a body delimited by the end of the connection).
	Close bool
	// Body is the message body, decoded from chunked coding; it aliases the buffer given to
	// readResponse.
	Body []byte
}

// readResponse reads one response from r, appending its body to buf[:0]. A body longer than
// limit is refused. Header lines must fit r's buffer. 1xx, 204 and 304 responses have no body
// (RFC 9112 §6.3 item 1); chunked coding takes precedence over Content-Length (item 3);
// without either the body runs to the end of the connection (item 8).
func readResponse(r *bufio.Reader, buf []byte, limit int) (response, error) {
	line, err := readLine(r)
	if err != nil {
		if len(line) == 0 && !errors.As(err, new(*FramingError)) {
			return response{}, fmt.Errorf("%w: %w", errNoResponse, err)
		}
		return response{}, truncated(err)
	}
	resp, err := parseStatusLine(line)
	if err != nil {
		return response{}, err
	}
	http10 := resp.Close // line is r's buffer, which readHeader overwrites
	length, chunked, err := readHeader(r, &resp)
	if err != nil {
		return response{}, err
	}
	if chunked && http10 {
		return response{}, &FramingError{"Transfer-Encoding in HTTP/1.0"} // §6.1: faulty framing
	}
	buf = buf[:0]
	switch {
	case resp.Status < 200 || resp.Status == 204 || resp.Status == 304:
	case chunked:
		buf, err = readChunked(r, buf, limit)
	case length >= 0:
		if length > int64(limit) {
			return response{}, &FramingError{"body over the limit"}
		}
		buf = append(buf, make([]byte, length)...)
		if _, err = io.ReadFull(r, buf); err != nil {
			err = truncated(err)
		}
	default:
		resp.Close = true
		buf, err = readToEOF(r, buf, limit)
	}
	if err != nil {
		return response{}, err
	}
	resp.Body = buf
	return resp, nil
}

// readLine returns the next line without its LF or CRLF (RFC 9112 §2.2 lets a recipient accept
// a bare LF). The line aliases r's buffer until the next read. At the end of the connection it
// returns what it read of an unfinished line with the error.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return line, &FramingError{"line too long"}
	case err != nil:
		return line, err
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

// truncated turns the end of the connection inside a response into an io.ErrUnexpectedEOF.
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseStatusLine reads "HTTP/1.x NNN reason" (RFC 9112 §4).
func parseStatusLine(line []byte) (response, error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return response{}, &FramingError{"bad status line"}
	}
	status := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if status < 100 {
		return response{}, &FramingError{"bad status code"}
	}
	return response{Status: status, Close: line[7] == '0'}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// readHeader reads the header section (RFC 9112 §5) up to its empty line: the body's length
// (-1 when none is given), whether it is chunked, and Connection: close into resp.
func readHeader(r *bufio.Reader, resp *response) (length int64, chunked bool, err error) {
	length = -1
	for {
		line, err := readLine(r)
		if err != nil {
			return 0, false, truncated(err)
		}
		if len(line) == 0 {
			return length, chunked, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' || bytes.ContainsAny(line[:colon], " \t") {
			return 0, false, &FramingError{"bad header line"} // also obsolete line folding (§5.2)
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || (length >= 0 && n != length) {
				return 0, false, &FramingError{"bad Content-Length"}
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// Only chunked is used by the servers measured; any other coding is refused (§6.1).
			if chunked || !bytes.EqualFold(value, []byte("chunked")) {
				return 0, false, &FramingError{"unsupported Transfer-Encoding"}
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.Trim(opt, " \t"), []byte("close")) {
					resp.Close = true
				}
			}
		}
	}
}

// parseLength reads a Content-Length value: decimal digits only (RFC 9110 §8.6), at most 18.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// readChunked appends a chunked body (RFC 9112 §7.1) to buf, skipping chunk extensions and
// trailer fields.
func readChunked(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, truncated(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(bytes.TrimRight(line, " \t"))
		if !ok {
			return nil, &FramingError{"bad chunk size"}
		}
		if size == 0 {
			break
		}
		if size > int64(limit-len(buf)) {
			return nil, &FramingError{"body over the limit"}
		}
		n := len(buf)
		buf = append(buf, make([]byte, size)...)
		if _, err := io.ReadFull(r, buf[n:]); err != nil {
			return nil, truncated(err)
		}
		end, err := readLine(r)
		if err != nil {
			return nil, truncated(err)
		}
		if len(end) != 0 {
			return nil, &FramingError{"chunk data longer than its size"}
		}
	}
	for { // trailer section, up to the empty line
		line, err := readLine(r)
		if err != nil {
			return nil, truncated(err)
		}
		if len(line) == 0 {
			return buf, nil
		}
	}
}

// parseHex reads a chunk size: 1 to 15 hexadecimal digits.
func parseHex(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		switch {
		case isDigit(c):
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// readToEOF appends everything up to the end of the connection to buf.
func readToEOF(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, &FramingError{"body over the limit"}
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
