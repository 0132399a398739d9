package publicserver

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func connect(t *testing.T) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ctx := context.Background()
	if _, err := NewServer("test").Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

func errorText(res *mcp.CallToolResult) string {
	if !res.IsError || len(res.Content) == 0 {
		return ""
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func TestToolsHaveSchemasAndScopes(t *testing.T) {
	cs := connect(t)
	lt, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	scopes := ToolScopes()
	if len(lt.Tools) != 3 {
		t.Fatalf("%d tools", len(lt.Tools))
	}
	for _, tool := range lt.Tools {
		if len(scopes[tool.Name]) != 1 {
			t.Errorf("%s has no scope", tool.Name)
		}
		b, _ := json.Marshal(tool.InputSchema)
		if !strings.Contains(string(b), `"required"`) || !strings.Contains(string(b), `"additionalProperties":false`) {
			t.Errorf("%s input schema %s", tool.Name, b)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s has no output schema", tool.Name)
		}
	}
}

func TestWeatherForecast(t *testing.T) {
	cs := connect(t)
	var a, b WeatherOutput
	call(t, cs, "weather_forecast", map[string]any{"city": "Lisbon", "days": 14}, &a)
	call(t, cs, "weather_forecast", map[string]any{"city": "  lisbon "}, &b)
	if len(a.Forecast) != 14 || len(b.Forecast) != 3 {
		t.Fatalf("days: %d and %d", len(a.Forecast), len(b.Forecast))
	}
	if !reflect.DeepEqual(a.Forecast[:3], b.Forecast) {
		t.Errorf("not deterministic: %+v vs %+v", a.Forecast[:3], b.Forecast)
	}
	if a.Forecast[0].Date != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("first day %s", a.Forecast[0].Date)
	}
	for _, d := range a.Forecast {
		if d.LowC >= d.HighC || d.WindKPH <= 0 || d.Condition == "" {
			t.Errorf("implausible day %+v", d)
		}
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"city": "Lisbon", "days": 15}, "days"},
		{map[string]any{"city": "Lisbon", "days": 0.5}, "days"},
		{map[string]any{"days": 2}, "city"},
		{map[string]any{"city": "Li$bon"}, `'$'`},
		{map[string]any{"city": "   "}, "city must not be empty"},
		{map[string]any{"city": "Lisbon", "unit": "F"}, "unit"},
	} {
		if got := errorText(call(t, cs, "weather_forecast", tc.args, nil)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: error %q, want it to mention %s", tc.args, got, tc.want)
		}
	}
}

func TestStockQuotes(t *testing.T) {
	cs := connect(t)
	var a, b StocksOutput
	call(t, cs, "stock_quotes", map[string]any{"symbols": []string{"AAPL", "brk.b"}}, &a)
	call(t, cs, "stock_quotes", map[string]any{"symbols": []string{"BRK.B"}}, &b)
	if len(a.Quotes) != 2 || a.Quotes[1].Symbol != "BRK.B" || !reflect.DeepEqual(a.Quotes[1], b.Quotes[0]) {
		t.Fatalf("quotes %+v / %+v", a.Quotes, b.Quotes)
	}
	for _, q := range a.Quotes {
		if q.Price <= 0 || q.Currency != "USD" || q.ChangePercent < -5 || q.ChangePercent > 5 {
			t.Errorf("implausible quote %+v", q)
		}
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"symbols": []string{}}, "symbols"},
		{map[string]any{"symbols": []string{"TOOLONG"}}, "TOOLONG"},
		{map[string]any{"symbols": []string{"AAPL", "aapl"}}, "listed twice"},
		{map[string]any{"symbols": strings.Split("A,B,C,D,E,F,G,H,I,J,K", ",")}, "symbols"},
		{map[string]any{"symbols": "AAPL"}, "symbols"},
	} {
		if got := errorText(call(t, cs, "stock_quotes", tc.args, nil)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: error %q, want it to mention %s", tc.args, got, tc.want)
		}
	}
}

func TestFlightSearch(t *testing.T) {
	cs := connect(t)
	date := time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly)
	var a, b FlightsOutput
	call(t, cs, "flight_search", map[string]any{"origin": "LIS", "destination": "jfk", "date": date}, &a)
	call(t, cs, "flight_search", map[string]any{"origin": "lis", "destination": "JFK", "date": date}, &b)
	if len(a.Flights) < 3 || !reflect.DeepEqual(a, b) || a.Destination != "JFK" {
		t.Fatalf("flights %+v / %+v", a, b)
	}
	for _, f := range a.Flights {
		if f.DurationMinutes < 60 || f.PriceUSD <= 0 || f.Stops < 0 || f.Stops > 2 {
			t.Errorf("implausible flight %+v", f)
		}
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"origin": "LISB", "destination": "JFK", "date": date}, "origin"},
		{map[string]any{"origin": "LIS", "destination": "LIS", "date": date}, "both LIS"},
		{map[string]any{"origin": "LIS", "destination": "JFK", "date": "2031-02-30"}, "not a calendar date"},
		{map[string]any{"origin": "LIS", "destination": "JFK", "date": "2020-01-01"}, "in the past"},
		{map[string]any{"origin": "LIS", "destination": "JFK", "date": "tomorrow"}, "date"},
		{map[string]any{"origin": "LIS", "date": date}, "destination"},
	} {
		if got := errorText(call(t, cs, "flight_search", tc.args, nil)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: error %q, want it to mention %s", tc.args, got, tc.want)
		}
	}
}
