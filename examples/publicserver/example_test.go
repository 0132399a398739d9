package publicserver_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The example server's tools and the scope each needs; protect.Config
// takes ToolScopes as is.
func Example() {
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	if _, err := publicserver.NewServer("1.0.0").Connect(ctx, st, nil); err != nil {
		log.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	scopes := publicserver.ToolScopes()
	for _, t := range tools.Tools {
		fmt.Println(t.Name, scopes[t.Name])
	}
	res, _ := cs.CallTool(ctx, &mcp.CallToolParams{Name: "stock_quotes", Arguments: map[string]any{"symbols": []string{"TOOLONG"}}})
	fmt.Println(res.IsError)
	// Output:
	// flight_search [flights:read]
	// stock_quotes [stocks:read]
	// weather_forecast [weather:read]
	// true
}
