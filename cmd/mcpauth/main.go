// Command mcpauth is the one binary of mcpauth: an MCP OAuth client (login,
// tools, call, proxy), an OAuth 2.1 authorization server and the protected
// example MCP server (serve, demo).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by every command.
const (
	exitOK        = 0
	exitError     = 1 // the operation failed
	exitUsage     = 2 // bad flags or arguments
	exitNeedLogin = 3 // credentials are needed and no terminal can ask for them
)

// exitCodeError carries a specific process exit code out of a command.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// withExitCode wraps err so that main exits with code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitCodeError{code: code, err: err}
}

// subcommands is filled by each command file's init, so that a command lives
// in one file and main.go does not change when one is added.
var subcommands []func() *cobra.Command

// newRootCmd builds the whole command tree.
func newRootCmd() *cobra.Command { return newRoot(subcommands...) }

// newRoot builds the root command with the given subcommands.
func newRoot(cmds ...func() *cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "mcpauth",
		Short:         "OAuth for the Model Context Protocol: client, authorization server and protected MCP server",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withExitCode(exitUsage, err)
	})
	for _, newCmd := range cmds {
		root.AddCommand(newCmd())
	}
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and maps its error to an exit code.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var root *cobra.Command
	if len(args) > 0 && args[0] == "proxy" {
		// Desktop hosts start proxies often and keep them running: a proxy
		// keeps only the executable's code it runs, and the other commands
		// and their flags are not built in its memory.
		if err := releaseStartupPages(); err != nil && slices.Contains(args, "--debug") {
			fmt.Fprintln(os.Stderr, "mcpauth proxy: start-up pages not released:", err)
		}
		root = newRoot(newProxyCmd)
	} else {
		root = newRootCmd()
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "mcpauth:", err)
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	return exitError
}
