// The stock_quotes tool.

package publicserver

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const stocksSchema = `{
  "type": "object",
  "properties": {
    "symbols": {
      "type": "array", "minItems": 1, "maxItems": 10,
      "items": {"type": "string", "pattern": "^[A-Za-z]{1,5}(\\.[A-Za-z])?$"},
      "description": "Ticker symbols, e.g. [\"AAPL\", \"BRK.B\"]"
    }
  },
  "required": ["symbols"],
  "additionalProperties": false
}`

// symbolRE is compiled on first use, not when a binary that links this package starts.
var symbolRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z]{1,5}(\.[A-Z])?$`) })

// StocksInput is the input of stock_quotes.
type StocksInput struct {
	Symbols []string `json:"symbols"`
}

// Quote is one generated stock quote.
type Quote struct {
	Symbol        string  `json:"symbol"`
	Price         float64 `json:"price"`
	Change        float64 `json:"change"`
	ChangePercent float64 `json:"change_percent"`
	Volume        int     `json:"volume"`
	Currency      string  `json:"currency"`
}

// StocksOutput is the result of stock_quotes.
type StocksOutput struct {
	AsOf   string  `json:"as_of"`
	Quotes []Quote `json:"quotes"`
}

func stockQuotes(_ context.Context, _ *mcp.CallToolRequest, in StocksInput) (*mcp.CallToolResult, StocksOutput, error) {
	if len(in.Symbols) == 0 || len(in.Symbols) > 10 {
		return nil, StocksOutput{}, fmt.Errorf("symbols must list 1 to 10 ticker symbols, got %d", len(in.Symbols))
	}
	day := time.Now().UTC().Format(time.DateOnly)
	out := StocksOutput{AsOf: day}
	seen := map[string]bool{}
	for _, raw := range in.Symbols {
		sym := strings.ToUpper(strings.TrimSpace(raw))
		if !symbolRE().MatchString(sym) {
			return nil, StocksOutput{}, fmt.Errorf("%q is not a ticker symbol (1 to 5 letters, optionally .CLASS, e.g. BRK.B)", raw)
		}
		if seen[sym] {
			return nil, StocksOutput{}, fmt.Errorf("symbol %s is listed twice", sym)
		}
		seen[sym] = true
		base := newSeed(sym)
		s := newSeed(sym, day)
		prev := 5 + float64(base.next(50000))/100
		pct := float64(s.next(1001)-500) / 100 // -5.00% .. +5.00%
		price := round2(prev * (1 + pct/100))
		out.Quotes = append(out.Quotes, Quote{Symbol: sym, Price: price, Change: round2(price - prev),
			ChangePercent: pct, Volume: 10000 + s.next(5_000_000), Currency: "USD"})
	}
	return nil, out, nil
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
