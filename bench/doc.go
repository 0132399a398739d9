// Package bench holds mcpauth's benchmarks, each measured side by side with its peer in the same
// run: the token endpoint (client_credentials, refresh) and dynamic client registration against
// oidc-provider and a plain net/http handler, and tool calls of the example MCP server with and
// without mcpauth's protection. Run them with bench/run.sh (servers pinned to one core, 32
// connections); `go test ./bench/` alone runs short checks that the harness works.
package bench
