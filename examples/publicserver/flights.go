// The flight_search tool.

package publicserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const flightsSchema = `{
  "type": "object",
  "properties": {
    "origin": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "IATA code of the departure airport, e.g. \"LIS\""},
    "destination": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "IATA code of the arrival airport, e.g. \"JFK\""},
    "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "Departure date, YYYY-MM-DD, today or later"}
  },
  "required": ["origin", "destination", "date"],
  "additionalProperties": false
}`

// iataRE is compiled on first use, not when a binary that links this package starts.
var iataRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z]{3}$`) })

// FlightsInput is the input of flight_search.
type FlightsInput struct {
	Origin      string `json:"origin"`
	Destination string `json:"destination"`
	Date        string `json:"date"`
}

// Flight is one generated flight.
type Flight struct {
	FlightNumber    string `json:"flight_number"`
	Airline         string `json:"airline"`
	Departure       string `json:"departure"` // local time, HH:MM
	Arrival         string `json:"arrival"`   // HH:MM, +1 when the next day
	DurationMinutes int    `json:"duration_minutes"`
	Stops           int    `json:"stops"`
	PriceUSD        int    `json:"price_usd"`
}

// FlightsOutput is the result of flight_search.
type FlightsOutput struct {
	Origin      string   `json:"origin"`
	Destination string   `json:"destination"`
	Date        string   `json:"date"`
	Flights     []Flight `json:"flights"`
}

var airlines = []struct{ code, name string }{
	{"MA", "Meridian Air"}, {"NS", "Northstar"}, {"BW", "Bluewing"}, {"CX", "Coastal Express"}, {"AT", "Atlas Transit"},
}

func flightSearch(_ context.Context, _ *mcp.CallToolRequest, in FlightsInput) (*mcp.CallToolResult, FlightsOutput, error) {
	origin, dest := strings.ToUpper(in.Origin), strings.ToUpper(in.Destination)
	for _, f := range []struct{ name, code string }{{"origin", origin}, {"destination", dest}} {
		if !iataRE().MatchString(f.code) {
			return nil, FlightsOutput{}, fmt.Errorf("%s %q is not an IATA airport code (three letters, e.g. LIS)", f.name, f.code)
		}
	}
	if origin == dest {
		return nil, FlightsOutput{}, fmt.Errorf("origin and destination are both %s", origin)
	}
	date, err := time.Parse(time.DateOnly, in.Date)
	if err != nil {
		return nil, FlightsOutput{}, fmt.Errorf("date %q is not a calendar date in the form YYYY-MM-DD", in.Date)
	}
	if today := time.Now().UTC().Truncate(24 * time.Hour); date.Before(today) {
		return nil, FlightsOutput{}, fmt.Errorf("date %s is in the past", in.Date)
	}
	out := FlightsOutput{Origin: origin, Destination: dest, Date: in.Date}
	route := newSeed(origin, dest)
	baseMinutes := 60 + route.next(660) // the route's nonstop duration
	s := newSeed(origin, dest, in.Date)
	for range 3 + s.next(4) {
		al := airlines[s.next(len(airlines))]
		stops := s.next(3)
		dep := 5*60 + s.next(17*60)
		dur := baseMinutes + stops*(45+s.next(120))
		arr := dep + dur
		arrival := fmt.Sprintf("%02d:%02d", arr/60%24, arr%60)
		if arr >= 24*60 {
			arrival += " +1"
		}
		out.Flights = append(out.Flights, Flight{
			FlightNumber: fmt.Sprintf("%s%d", al.code, 100+s.next(9000)), Airline: al.name,
			Departure: fmt.Sprintf("%02d:%02d", dep/60, dep%60), Arrival: arrival, DurationMinutes: dur,
			Stops: stops, PriceUSD: 49 + baseMinutes/2 + s.next(400) - stops*20,
		})
	}
	return nil, out, nil
}
