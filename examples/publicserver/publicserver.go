// Package publicserver is the example public MCP server: three read-only
// tools with generated, deterministic data (no internet), each needing its
// own OAuth scope, meant to be protected by package protect.
package publicserver

import (
	"encoding/json"
	"hash/fnv"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcpauth/mcpauth/protect"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The scope each tool needs.
const (
	ScopeWeather = "weather:read"
	ScopeStocks  = "stocks:read"
	ScopeFlights = "flights:read"
)

// Scopes lists every scope of the server, for scopes_supported.
func Scopes() []string { return []string{ScopeWeather, ScopeStocks, ScopeFlights} }

// ToolScopes maps each tool to the scopes it needs.
func ToolScopes() protect.ToolScopes {
	return protect.ToolScopes{
		"weather_forecast": {ScopeWeather},
		"stock_quotes":     {ScopeStocks},
		"flight_search":    {ScopeFlights},
	}
}

// NewServer returns the MCP server with its three tools.
func NewServer(version string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpauth-public-example", Title: "Weather, stocks and flights", Version: version}, nil)
	mcp.AddTool(s, tool("weather_forecast", "Weather forecast", weatherSchema, ScopeWeather,
		"Daily weather forecast for a city, 1 to 14 days from today (generated sample data)."), weatherForecast)
	mcp.AddTool(s, tool("stock_quotes", "Stock quotes", stocksSchema, ScopeStocks,
		"Latest quotes for 1 to 10 ticker symbols (generated sample data)."), stockQuotes)
	mcp.AddTool(s, tool("flight_search", "Flight search", flightsSchema, ScopeFlights,
		"One-way flights between two airports (IATA codes) on a date (generated sample data)."), flightSearch)
	return s
}

// tool describes a read-only tool needing scope.
func tool(name, title, inputSchema, scope, description string) *mcp.Tool {
	return &mcp.Tool{
		Name:        name,
		Title:       title,
		Description: description + " Needs scope " + scope + ".",
		InputSchema: schema(inputSchema),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}
}

// schema parses one of the literal input schemas of the tools.
func schema(src string) *jsonschema.Schema {
	var s jsonschema.Schema
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		panic("publicserver: bad built-in schema: " + err.Error())
	}
	return &s
}

// seed gives deterministic pseudo-random numbers for a set of strings.
type seed uint64

func newSeed(parts ...string) seed {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return seed(h.Sum64())
}

// next returns a number in [0, n) and advances the seed (xorshift64*).
func (s *seed) next(n int) int {
	x := uint64(*s) | 1
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*s = seed(x)
	return int((x * 2685821657736338717) % uint64(n))
}
