// mcpauth clients: pre-register OAuth clients (public or confidential, with allowed scopes and
// a quota tier) in the store that mcpauth serve uses. Secrets are shown once, never stored.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/authserver"
)

func init() { subcommands = append(subcommands, newClientsCmd) }

func newClientsCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage pre-registered OAuth clients of the authorization server",
		Long: `clients adds, lists, shows and removes OAuth clients in the store that mcpauth serve
uses (--data DIR, or --postgres DSN). Use it when the server runs with --registration closed
(vetted clients only), or for server-to-server backends (client_credentials). A confidential
client's secret has 256 random bits and is printed once; only a keyed hash is stored.`,
	}
	sf.register(cmd.PersistentFlags())

	var sc authserver.StaticClient
	var jwksFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Pre-register a client; prints its client_id (and secret, once)",
		Args:  cobra.NoArgs,
		RunE: sf.withAdmin(func(cmd *cobra.Command, _ []string, a *authserver.Admin) error {
			if !cmd.Flags().Changed("scopes") {
				sc.Scopes = nil // any scope the server serves
			}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return withExitCode(exitUsage, err)
				}
				sc.JWKS = b
			}
			info, secret, err := a.AddClient(cmd.Context(), sc)
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "client_id: %s\n", info.ID)
			if secret != "" {
				fmt.Fprintf(out, "client_secret: %s\n(shown only now: store it in your client's configuration)\n", secret)
			}
			return nil
		}),
	}
	f := add.Flags()
	f.StringVar(&sc.ID, "id", "", "client `ID` (default: random)")
	f.StringVar(&sc.Name, "name", "", "client `name` shown on the consent page")
	f.StringArrayVar(&sc.RedirectURIs, "redirect-uri", nil, "redirect `URI` (repeatable; https, or http on loopback)")
	f.BoolVar(&sc.Confidential, "confidential", false, "a confidential client with a secret (client_secret_basic or client_secret_post)")
	f.StringSliceVar(&sc.GrantTypes, "grant-types", nil, "grant `types` (default authorization_code,refresh_token; client_credentials needs --confidential or --jwks)")
	f.StringSliceVar(&sc.Scopes, "scopes", nil, "`scopes` the client may obtain, comma-separated (default: any)")
	f.StringVar(&jwksFile, "jwks", "", "`file` with the client's public keys (JSON Web Key Set): it authenticates with private_key_jwt")
	f.StringVar(&sc.QuotaTier, "quota-tier", "", "rate-limit `tier` resource servers apply to the client (claim quota_tier)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List clients, pre-registered and self-registered",
		Args:  cobra.NoArgs,
		RunE: sf.withAdmin(func(cmd *cobra.Command, _ []string, a *authserver.Admin) error {
			clients, err := a.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT ID\tKIND\tNAME\tAUTH\tGRANTS\tSCOPES\tTIER\tLAST USED")
			for _, c := range clients {
				scopes, used := "(any)", "never"
				if c.Scopes != nil {
					scopes = strings.Join(c.Scopes, " ")
				}
				if !c.LastUsedAt.IsZero() {
					used = c.LastUsedAt.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, c.Name, c.AuthMethod,
					strings.Join(c.GrantTypes, ","), scopes, c.QuotaTier, used)
			}
			return tw.Flush()
		}),
	}

	show := &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show a client as JSON (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			info, err := a.GetClient(cmd.Context(), args[0])
			if err != nil {
				return notFoundOrUsage(err, "client", args[0])
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		}),
	}

	remove := &cobra.Command{
		Use:   "remove CLIENT_ID",
		Short: "Remove a client and revoke every grant it holds",
		Args:  cobra.ExactArgs(1),
		RunE: sf.withAdmin(func(cmd *cobra.Command, args []string, a *authserver.Admin) error {
			if err := a.RemoveClient(cmd.Context(), args[0]); err != nil {
				return notFoundOrUsage(err, "client", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed client %s\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(add, list, show, remove)
	return cmd
}
