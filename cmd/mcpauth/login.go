// mcpauth login: authorize with an MCP server (registering first when needed) and store the
// credentials for the other commands.

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/client"
)

func init() { subcommands = append(subcommands, newLoginCmd) }

// loginResult is what login reports.
type loginResult struct {
	Server     string    `json:"server"`
	ServerName string    `json:"server_name,omitempty"`
	Authorized bool      `json:"authorized"`
	Issuer     string    `json:"issuer,omitempty"`
	ClientID   string    `json:"client_id,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
}

func newLoginCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Log in to an OAuth-protected MCP server and store the credentials",
		Long: `login connects to the MCP server at URL. When the server asks for authorization it
discovers the authorization server, registers mcpauth (Client ID Metadata Document or dynamic
registration, unless --client-id is given), opens the browser for you to log in, and stores the
registration and tokens for later commands. A valid stored login is reused without any request
to the authorization server.

The authorization URL is always printed to stderr. Use --output json for machine-readable output.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := f.config(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c, err := client.New(cfg)
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			s, err := c.Connect(ctx, nil)
			if err != nil {
				return fmt.Errorf("logging in to %s: %w", c.ServerResource(), authCause(err))
			}
			defer s.Close()
			res := loginResult{Server: c.ServerResource()}
			if ir := s.InitializeResult(); ir != nil && ir.ServerInfo != nil {
				res.ServerName = ir.ServerInfo.Name
			}
			if entries, err := cfg.Store.List(ctx, c.ServerResource()); err == nil && len(entries) > 0 && entries[0].Token != nil {
				e := entries[0]
				res.Authorized, res.Issuer, res.Scopes = true, e.Issuer, e.Scopes
				res.Expires = e.Token.Expiry
				if e.Registration != nil {
					res.ClientID = e.Registration.ClientID
				}
			}
			return printLogin(cmd, f.output, res)
		},
	}
	f.register(cmd)
	return cmd
}

func printLogin(cmd *cobra.Command, output string, r loginResult) error {
	w := cmd.OutOrStdout()
	if output == "json" {
		return writeJSON(w, r)
	}
	name := r.Server
	if r.ServerName != "" {
		name = fmt.Sprintf("%s (%s)", r.Server, r.ServerName)
	}
	if !r.Authorized {
		fmt.Fprintf(w, "Connected to %s; it did not ask for authorization.\n", name)
		return nil
	}
	fmt.Fprintf(w, "Logged in to %s\n", name)
	fmt.Fprintf(w, "  authorization server: %s\n", r.Issuer)
	fmt.Fprintf(w, "  client ID:            %s\n", r.ClientID)
	if len(r.Scopes) > 0 {
		fmt.Fprintf(w, "  scopes:               %s\n", strings.Join(r.Scopes, " "))
	}
	if !r.Expires.IsZero() {
		fmt.Fprintf(w, "  token expires:        %s\n", r.Expires.Local().Format(time.RFC3339))
	}
	return nil
}
