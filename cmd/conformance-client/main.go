// Command conformance-client is the client under test of the official MCP
// conformance suite (@modelcontextprotocol/conformance, client mode).
//
// The suite runs it as `conformance-client <server-url>` with the scenario name
// in MCP_CONFORMANCE_SCENARIO and, for scenarios with pre-registered or
// client-credentials clients, a JSON object in MCP_CONFORMANCE_CONTEXT. It
// connects with the same client library as `mcpauth` (package client); the
// only test-specific part is the "browser" (browser.go), because the suite's
// authorization server approves at once.
//
// It prints "conformance-client: ok" on stdout when the scenario's operations
// succeeded, or "conformance-client: error kind=<kind> <message>" on stderr
// and exits 1, where kind names the typed error (see errorKind), so that a test
// can tell a correct refusal from a crash.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// deadline bounds one run; the suite's own timeout for a client is longer.
const deadline = 90 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv("MCP_CONFORMANCE_SCENARIO"), os.Getenv("MCP_CONFORMANCE_CONTEXT"), os.Stdout, os.Stderr))
}

// run runs the scenario against the server URL, the last of args, and
// returns the exit code: 0 success, 1 the scenario failed, 2 bad usage.
func run(args []string, scenario, contextJSON string, stdout, stderr io.Writer) int {
	if len(args) == 0 || scenario == "" {
		fmt.Fprintln(stderr, "usage: MCP_CONFORMANCE_SCENARIO=<scenario> [MCP_CONFORMANCE_CONTEXT=<json>] conformance-client <server-url>")
		return 2
	}
	serverURL := args[len(args)-1]
	var sc scenarioContext
	if contextJSON != "" {
		if err := json.Unmarshal([]byte(contextJSON), &sc); err != nil {
			fmt.Fprintf(stderr, "conformance-client: error kind=usage MCP_CONFORMANCE_CONTEXT is not a JSON object: %v\n", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := runScenario(ctx, scenario, serverURL, sc, stderr); err != nil {
		fmt.Fprintf(stderr, "conformance-client: error kind=%s %v\n", errorKind(err), err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	fmt.Fprintln(stdout, "conformance-client: ok")
	return 0
}
