// Paste-back for headless logins (RFC 8252 §7.3 loopback redirect, completed by hand): when
// the browser runs on another machine (SSH), its redirect to http://127.0.0.1:PORT/callback
// fails there, and the user pastes the address it shows into the terminal instead.
package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
)

// TerminalRedirect returns a Config.ReadRedirect function that asks the user, on out, to
// paste the address their browser was redirected to, and reads lines from in (a terminal)
// until one is a loopback callback address; a line that is not is refused with a hint and
// the wait goes on. The client races the pasted address against its loopback listener and
// verifies state and iss as for a real redirect. A pasted address, which holds the code, is
// never written back.
//
// in is read by a goroutine that lives until in ends: give it the process's terminal.
func TerminalRedirect(in io.Reader, out io.Writer) func(ctx context.Context) (string, error) {
	lines := make(chan string)
	var once sync.Once
	return func(ctx context.Context) (string, error) {
		once.Do(func() {
			go func() {
				sc := bufio.NewScanner(in)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
		})
		fmt.Fprintf(out, "If the browser cannot reach this machine, paste the address it shows after you approve\n(http://127.0.0.1:PORT%s?...) here and press Enter:\n", callbackPath)
		for {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case l, ok := <-lines:
				if !ok {
					return "", io.EOF
				}
				l = strings.TrimSpace(l)
				if l == "" {
					continue
				}
				if u, err := url.Parse(l); err == nil && u.Scheme == "http" && isLoopback(u.Hostname()) && u.Path == callbackPath {
					fmt.Fprintln(out, "Received.")
					return l, nil
				}
				fmt.Fprintf(out, "That is not the redirect address (http://127.0.0.1:PORT%s?...); paste it again:\n", callbackPath)
			}
		}
	}
}
