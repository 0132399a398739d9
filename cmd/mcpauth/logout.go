// mcpauth logout: forget the stored login of a server.

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/client"
)

func init() { subcommands = append(subcommands, newLogoutCmd) }

func newLogoutCmd() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:               "logout URL",
		Short:             "Delete the stored registration and tokens of a server (every issuer)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStoredServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := storeDir(profile, "")
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			resource, err := canonicalServer(args[0])
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			ctx := cmd.Context()
			unlock, err := client.LockServer(ctx, dir, resource)
			if err != nil {
				return err
			}
			defer unlock()
			store := client.NewFileStore(dir)
			es, err := store.List(ctx, resource)
			if err != nil {
				return err
			}
			for _, e := range es {
				if err := store.Delete(ctx, e.Key); err != nil {
					return err
				}
			}
			if len(es) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no stored login for %s\n", resource)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged out of %s (%d stored login(s) deleted)\n", resource, len(es))
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "log out this `profile`")
	return cmd
}
