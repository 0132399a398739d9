// The weather_forecast tool.

package publicserver

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const weatherSchema = `{
  "type": "object",
  "properties": {
    "city": {"type": "string", "minLength": 1, "maxLength": 80, "description": "City name, e.g. \"Lisbon\""},
    "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3, "description": "Number of days, 1 to 14"}
  },
  "required": ["city"],
  "additionalProperties": false
}`

// WeatherInput is the input of weather_forecast.
type WeatherInput struct {
	City string `json:"city"`
	Days int    `json:"days,omitempty"`
}

// DayForecast is one day of a forecast.
type DayForecast struct {
	Date            string `json:"date"`
	Condition       string `json:"condition"`
	HighC           int    `json:"high_c"`
	LowC            int    `json:"low_c"`
	PrecipitationMM int    `json:"precipitation_mm"`
	WindKPH         int    `json:"wind_kph"`
}

// WeatherOutput is the result of weather_forecast.
type WeatherOutput struct {
	City     string        `json:"city"`
	Forecast []DayForecast `json:"forecast"`
}

var conditions = []string{"sunny", "partly cloudy", "cloudy", "light rain", "rain", "thunderstorms", "fog", "windy"}

func weatherForecast(_ context.Context, _ *mcp.CallToolRequest, in WeatherInput) (*mcp.CallToolResult, WeatherOutput, error) {
	city := strings.Join(strings.Fields(in.City), " ")
	if city == "" {
		return nil, WeatherOutput{}, fmt.Errorf("city must not be empty")
	}
	for _, r := range city {
		if !unicode.IsLetter(r) && r != ' ' && r != '-' && r != '\'' && r != '.' {
			return nil, WeatherOutput{}, fmt.Errorf("city %q contains %q; use letters, spaces, hyphens, apostrophes and dots", city, r)
		}
	}
	days := in.Days
	if days == 0 {
		days = 3
	}
	if days < 1 || days > 14 {
		return nil, WeatherOutput{}, fmt.Errorf("days must be between 1 and 14, got %d", in.Days)
	}
	out := WeatherOutput{City: city}
	today := time.Now().UTC()
	climate := newSeed(strings.ToLower(city))
	base := climate.next(30) // the city's typical high, 0..29 °C
	for i := range days {
		date := today.AddDate(0, 0, i).Format(time.DateOnly)
		s := newSeed(strings.ToLower(city), date)
		high := base + s.next(9) - 4
		cond := conditions[s.next(len(conditions))]
		rain := 0
		if strings.Contains(cond, "rain") || cond == "thunderstorms" {
			rain = 1 + s.next(25)
		}
		out.Forecast = append(out.Forecast, DayForecast{Date: date, Condition: cond, HighC: high,
			LowC: high - 4 - s.next(7), PrecipitationMM: rain, WindKPH: 3 + s.next(40)})
	}
	return nil, out, nil
}
