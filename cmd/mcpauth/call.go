// mcpauth call: call one tool of an MCP server.

package main

import (
	"encoding/json"

	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newCallCmd) }

func newCallCmd() *cobra.Command {
	var f clientFlags
	var jsonArgs string
	cmd := &cobra.Command{
		Use:   "call URL TOOL [key=value ...]",
		Short: "Call a tool of an MCP server (logging in first when needed)",
		Long: `call connects to the MCP server at URL, logging in when it asks for authorization, and
calls TOOL. Arguments are key=value pairs; a value is taken as a string when the tool's input
schema says so, otherwise as JSON when it parses (42, true, ["a"], {"k":1}), else as a string.
--json '{...}' gives the arguments as one JSON object; key=value pairs override its keys.

The result's text is printed; --output json prints the whole result. A tool that reports an
error exits with status 1.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			base, err := parseJSONArgs(jsonArgs)
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			_, s, err := f.connect(ctx, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.Close()
			name := args[1]
			tool, err := findTool(cmd, s, name)
			if err != nil {
				return err
			}
			callArgs, err := toolArguments(base, args[2:], stringProperties(tool))
			if err != nil {
				return withExitCode(exitUsage, err)
			}
			res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: callArgs})
			if err != nil {
				return fmt.Errorf("calling %s: %w", name, authCause(err))
			}
			if f.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				if res.IsError {
					w = cmd.ErrOrStderr()
				}
				printContent(w, res)
			}
			if res.IsError {
				return fmt.Errorf("tool %s reported an error", name)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&jsonArgs, "json", "", "tool arguments as a JSON `object`")
	return cmd
}

// findTool returns the server's tool named name, or nil when the server does not list it (a
// server may list only the tools the current token may call: the call itself can step up).
func findTool(cmd *cobra.Command, s *mcp.ClientSession, name string) (*mcp.Tool, error) {
	for t, err := range s.Tools(cmd.Context(), nil) {
		if err != nil {
			return nil, fmt.Errorf("listing tools: %w", err)
		}
		if t.Name == name {
			return t, nil
		}
	}
	return nil, nil
}

func parseJSONArgs(s string) (map[string]any, error) {
	args := map[string]any{}
	if s == "" {
		return args, nil
	}
	if err := json.Unmarshal([]byte(s), &args); err != nil || args == nil {
		return nil, fmt.Errorf("--json: want a JSON object: %v", err)
	}
	return args, nil
}

// stringProperties returns the properties of the tool's input schema whose only type is
// string: their values are never parsed as JSON.
func stringProperties(t *mcp.Tool) map[string]bool {
	if t == nil {
		return nil
	}
	b, err := json.Marshal(t.InputSchema)
	if err != nil {
		return nil
	}
	var schema struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	if json.Unmarshal(b, &schema) != nil {
		return nil
	}
	out := map[string]bool{}
	for name, p := range schema.Properties {
		var one string
		var many []string
		if json.Unmarshal(p.Type, &one) == nil && one == "string" ||
			json.Unmarshal(p.Type, &many) == nil && len(many) > 0 && !slices.ContainsFunc(many, func(s string) bool { return s != "string" && s != "null" }) {
			out[name] = true
		}
	}
	return out
}

// toolArguments merges key=value pairs into base.
func toolArguments(base map[string]any, pairs []string, stringProps map[string]bool) (map[string]any, error) {
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q: want key=value", p)
		}
		var parsed any
		if !stringProps[k] && json.Unmarshal([]byte(v), &parsed) == nil {
			base[k] = parsed
		} else {
			base[k] = v
		}
	}
	return base, nil
}

// printContent prints a tool result for a person: text as is, other content summarized.
func printContent(w io.Writer, res *mcp.CallToolResult) {
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			fmt.Fprintln(w, c.Text)
		case *mcp.ImageContent:
			fmt.Fprintf(w, "[image %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.AudioContent:
			fmt.Fprintf(w, "[audio %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.ResourceLink:
			fmt.Fprintf(w, "[resource %s]\n", c.URI)
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				fmt.Fprintln(w, c.Resource.Text)
			} else if c.Resource != nil {
				fmt.Fprintf(w, "[resource %s]\n", c.Resource.URI)
			}
		default:
			b, _ := json.Marshal(c)
			fmt.Fprintln(w, string(b))
		}
	}
	if len(res.Content) == 0 && res.StructuredContent != nil {
		writeJSON(w, res.StructuredContent)
	}
}
