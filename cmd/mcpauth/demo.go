// mcpauth demo: serve on an ephemeral loopback port with a temporary database and a dev user, then run
// our client through the MCP authorization flow, printing every exchange with secrets redacted.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/internal/httptrace"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the end-to-end OAuth demo: a local server and our client, every step printed",
		Long: `demo starts "mcpauth serve" on an ephemeral 127.0.0.1 port with a temporary SQLite
database and a dev-login user, then connects mcpauth's client to it and prints the seven steps of
the MCP authorization flow with every request and response (tokens, codes and secrets redacted):
the 401 challenge, Protected Resource Metadata, authorization server metadata, client
registration, user login, the token request, and the tool calls. It exits 0 when all succeed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout())
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// demoSteps names the steps of the flow, in order.
var demoSteps = [...]string{
	"Step 1: the client calls the MCP server without a token → 401 with WWW-Authenticate",
	"Step 2: Protected Resource Metadata discovery (RFC 9728)",
	"Step 3: authorization server metadata discovery (RFC 8414)",
	"Step 4: client registration (RFC 7591 dynamic client registration)",
	"Step 5: user login and consent (--dev-login approves as the demo user; PKCE S256, resource indicator)",
	"Step 6: token request (authorization code + PKCE verifier → RFC 9068 access token bound to /mcp)",
	"Step 7: MCP requests with the bearer token: initialize, tools/list, tools/call",
}

// demoLabeler assigns each request of the client to a step; requests to
// other hosts (the loopback callback) stay in the current step.
func demoLabeler(serverHost string) func(*http.Request) string {
	return func(r *http.Request) string {
		if r.URL.Host != serverHost {
			return ""
		}
		p := r.URL.Path
		switch {
		case p == "/mcp" && r.Header.Get("Authorization") == "":
			return demoSteps[0]
		case strings.HasPrefix(p, "/.well-known/oauth-protected-resource"):
			return demoSteps[1]
		case strings.HasPrefix(p, "/.well-known/"):
			return demoSteps[2]
		case strings.HasPrefix(p, "/register"):
			return demoSteps[3]
		case p == "/authorize" || p == "/login" || p == "/consent":
			return demoSteps[4]
		case p == "/token":
			return demoSteps[5]
		case p == "/mcp":
			return demoSteps[6]
		}
		return ""
	}
}

func runDemo(ctx context.Context, out io.Writer) error {
	data, err := os.MkdirTemp("", "mcpauth-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	logger := newLogger(io.Discard, false)
	const user = "demo-user"
	svc, err := newService(ctx, serveOptions{data: data, devLogin: user, registration: "open",
		userRate: 120, clientRate: 1200, rateWindow: time.Minute, accessTokenTTL: time.Hour}, ln.Addr().String(), logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer svc.Close()
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- svc.serve(srvCtx, ln, logger) }()
	defer func() { stopServer(); <-served }()

	fmt.Fprintf(out, "mcpauth demo\n  authorization server: %s\n  MCP server:           %s\n  user:                 %s (dev login: no password, consent given automatically)\n  data:                 temporary SQLite database\n",
		svc.issuer, svc.mcpURL, user)

	tracer := &httptrace.Transport{Out: out, Labeler: demoLabeler(ln.Addr().String())}
	httpClient := &http.Client{Transport: tracer}
	cs, err := client.Connect(ctx, client.Config{
		ServerURL:   svc.mcpURL,
		ClientName:  "mcpauth demo",
		Store:       client.NewMemoryStore(),
		HTTPClient:  httpClient,
		OpenBrowser: headlessBrowser(tracer),
		Stderr:      io.Discard,
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close() // on error paths; closing twice is harmless

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	var names []string
	for _, t := range tools.Tools {
		names = append(names, t.Name)
	}
	fmt.Fprintf(out, "\n   tools available to %s: %s\n", user, strings.Join(names, ", "))
	day := time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly)
	calls := []struct {
		name string
		args map[string]any
	}{
		{"weather_forecast", map[string]any{"city": "Lisbon", "days": 3}},
		{"stock_quotes", map[string]any{"symbols": []string{"ACME", "GLOBX"}}},
		{"flight_search", map[string]any{"origin": "LIS", "destination": "JFK", "date": day}},
	}
	for _, c := range calls {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.name, Arguments: c.args})
		if err != nil {
			return fmt.Errorf("tools/call %s: %w", c.name, err)
		}
		if res.IsError {
			return fmt.Errorf("tools/call %s: tool error %s", c.name, contentText(res))
		}
		args, _ := json.Marshal(c.args)
		fmt.Fprintf(out, "   %s %s → %s\n", c.name, args, summarize(c.name, res))
	}
	if err := cs.Close(); err != nil {
		return fmt.Errorf("closing the MCP session: %w", err)
	}
	fmt.Fprintf(out, "\nDemo complete: all seven steps succeeded.\n")
	return nil
}

// headlessBrowser stands in for the user's browser: it opens the
// authorization URL (with --dev-login the server logs the demo user in,
// consents, and redirects at once) and follows the redirect to the
// client's loopback callback, printing both exchanges.
func headlessBrowser(tracer http.RoundTripper) func(context.Context, string) error {
	browser := &http.Client{Transport: tracer, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(ctx context.Context, authURL string) error {
		next := authURL
		for range 5 {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
			if err != nil {
				return err
			}
			resp, err := browser.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("browser: %s answered %s", redactedPath(next), resp.Status)
				}
				return nil
			}
			u, err := req.URL.Parse(loc)
			if err != nil {
				return err
			}
			next = u.String()
		}
		return errors.New("browser: too many redirects")
	}
}

func redactedPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func contentText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

// summarize renders a tool's structured result in one line.
func summarize(tool string, res *mcp.CallToolResult) string {
	raw, _ := json.Marshal(res.StructuredContent)
	var parts []string
	switch tool {
	case "weather_forecast":
		var w publicserver.WeatherOutput
		_ = json.Unmarshal(raw, &w)
		for _, d := range w.Forecast {
			parts = append(parts, fmt.Sprintf("%s %s %d–%d°C", d.Date, d.Condition, d.LowC, d.HighC))
		}
	case "stock_quotes":
		var q publicserver.StocksOutput
		_ = json.Unmarshal(raw, &q)
		for _, x := range q.Quotes {
			parts = append(parts, fmt.Sprintf("%s %.2f %s (%+.2f%%)", x.Symbol, x.Price, x.Currency, x.ChangePercent))
		}
	case "flight_search":
		var f publicserver.FlightsOutput
		_ = json.Unmarshal(raw, &f)
		for _, x := range f.Flights {
			parts = append(parts, fmt.Sprintf("%s %s→%s $%d", x.FlightNumber, x.Departure, x.Arrival, x.PriceUSD))
		}
	}
	if len(parts) == 0 {
		return contentText(res)
	}
	return strings.Join(parts, "; ")
}
