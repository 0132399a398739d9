// mcpauth tools: list the tools of an MCP server.

package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newToolsCmd) }

func newToolsCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "tools URL",
		Short: "List the tools of an MCP server (logging in first when needed)",
		Long: `tools connects to the MCP server at URL, logging in when it asks for authorization, and
lists its tools: name and description, or with --output json every tool with its input schema.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, s, err := f.connect(ctx, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.Close()
			var tools []*mcp.Tool
			for t, err := range s.Tools(ctx, nil) {
				if err != nil {
					return fmt.Errorf("listing tools: %w", err)
				}
				tools = append(tools, t)
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				if tools == nil {
					tools = []*mcp.Tool{}
				}
				return writeJSON(w, tools)
			}
			if len(tools) == 0 {
				fmt.Fprintln(w, "The server has no tools.")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, t := range tools {
				desc, _, _ := strings.Cut(strings.TrimSpace(t.Description), "\n")
				fmt.Fprintf(tw, "%s\t%s\n", t.Name, desc)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}
