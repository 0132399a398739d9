// Opening the authorization URL in the user's browser (RFC 8252 §6: the system browser,
// not an embedded one).

package client

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// openSystemBrowser opens authURL with $BROWSER (a colon-separated list of commands, "%s"
// standing for the URL, else the URL appended), else the platform's opener. Commands run
// directly, never through a shell, so the URL cannot inject anything.
func openSystemBrowser(ctx context.Context, authURL string) error {
	if env := os.Getenv("BROWSER"); env != "" {
		var errs []error
		for _, entry := range strings.Split(env, ":") {
			argv := browserCommand(entry, authURL)
			if argv == nil {
				continue
			}
			err := startDetached(exec.CommandContext(context.WithoutCancel(ctx), argv[0], argv[1:]...))
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	var argv []string
	switch runtime.GOOS {
	case "darwin":
		argv = []string{"open", authURL}
	case "windows":
		argv = []string{"rundll32", "url.dll,FileProtocolHandler", authURL}
	default:
		argv = []string{"xdg-open", authURL}
	}
	return startDetached(exec.Command(argv[0], argv[1:]...))
}

// browserCommand returns the argv of one $BROWSER entry for url, or nil for an empty entry.
func browserCommand(entry, url string) []string {
	fields := strings.Fields(entry)
	if len(fields) == 0 {
		return nil
	}
	replaced := false
	for i, f := range fields {
		if strings.Contains(f, "%s") {
			fields[i] = strings.ReplaceAll(f, "%s", url)
			replaced = true
		}
	}
	if !replaced {
		fields = append(fields, url)
	}
	return fields
}

// startDetached starts cmd and reaps it in the background.
func startDetached(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
