// Shell completion: cobra's `mcpauth completion bash|zsh|fish|powershell` scripts, completing
// server URLs from the stored logins and the values of enumerated flags.

package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpauth/mcpauth/proxy"
)

// completeStoredServers completes the URL argument with the servers of the stored logins
// (of --profile when given).
func completeStoredServers(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	profile, _ := cmd.Flags().GetString("profile")
	dir, err := storeDir(profile, "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	es, _ := storedEntries(cmd.Context(), dir, "")
	var urls []cobra.Completion
	for _, e := range es {
		if strings.HasPrefix(e.Resource, toComplete) && !slices.Contains(urls, e.Resource) {
			urls = append(urls, e.Resource)
		}
	}
	return urls, cobra.ShellCompDirectiveNoFileComp
}

// completeTransports completes proxy --transport.
func completeTransports(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{string(proxy.HTTPFirst), string(proxy.SSEFirst), string(proxy.HTTPOnly), string(proxy.SSEOnly)}, cobra.ShellCompDirectiveNoFileComp
}
