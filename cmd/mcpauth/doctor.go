// mcpauth doctor: a step-by-step diagnosis of a server's OAuth setup.

package main

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/doctor"
)

func init() { subcommands = append(subcommands, newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	var profile, clientID string
	cmd := &cobra.Command{
		Use:   "doctor URL",
		Short: "Diagnose a server's OAuth setup step by step, with the fix for each problem",
		Long: `doctor walks the steps an MCP client takes to connect: the 401 and its challenge,
protected resource metadata (where it was found and where not), the resource match, the
authorization server metadata (which URL served it), the issuer check, PKCE S256, how a
client can register (Client ID Metadata Document, dynamic registration, or a pre-registered
client ID), iss in responses, refresh tokens, and the audience of a stored token.
Each step is marked ✓ or ✗ with the reason and the fix. Exit code 0 means a client can
connect, 1 that it cannot.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStoredServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := doctor.Options{ClientID: clientID}
			if dir, err := storeDir(profile, ""); err == nil {
				if resource, err := canonicalServer(args[0]); err == nil {
					if es, _ := storedEntries(cmd.Context(), dir, resource); len(es) > 0 && es[0].Token != nil {
						opts.AccessToken = es[0].Token.AccessToken
					}
				}
			}
			r := doctor.Diagnose(cmd.Context(), args[0], opts)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else if err := r.WriteText(out); err != nil {
				return err
			}
			if !r.OK {
				return withExitCode(exitError, errors.New("a client cannot connect to "+args[0]))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&profile, "profile", "", "check the stored token of this `profile`")
	cmd.Flags().StringVar(&clientID, "client-id", "", "a pre-registered client `ID` you have for this server")
	return cmd
}
