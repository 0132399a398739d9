// Prometheus text exposition format 0.0.4 (prometheus/docs, "Exposition formats": text-based format).

package metrics

import (
	"math"
	"strconv"
	"strings"
)

// ContentType is the media type of the text exposition format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// appendHeader appends a family's HELP and TYPE lines. In HELP text a
// backslash and a line feed are escaped; quotes are not.
func appendHeader(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendSample appends one sample line: name, at most one label, value.
func appendSample(b []byte, name, label, value string, v float64) []byte {
	b = append(b, name...)
	if label != "" {
		b = append(b, '{')
		b = append(b, label...)
		b = append(b, `="`...)
		b = appendEscaped(b, value, true)
		b = append(b, `"}`...)
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped escapes backslash and line feed, and in a label value also
// the double quote.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes a value as Go's ParseFloat reads it back, with the
// format's spellings of the special values.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendHistogram appends a histogram family: cumulative _bucket samples,
// one per upper bound and +Inf, then _sum and _count. counts[i] is the
// number of observations in (bounds[i-1], bounds[i]]; counts has one more
// element than bounds, for the observations above the last bound.
func appendHistogram(b []byte, name, help string, bounds []float64, counts []uint64, sum float64) []byte {
	b = appendHeader(b, name, help, "histogram")
	var total uint64
	for i, n := range counts {
		total += n
		le := math.Inf(1)
		if i < len(bounds) {
			le = bounds[i]
		}
		b = appendSample(b, name+"_bucket", "le", string(appendFloat(nil, le)), float64(total))
	}
	b = appendSample(b, name+"_sum", "", "", sum)
	return appendSample(b, name+"_count", "", "", float64(total))
}

// appendSummary appends a summary family: one sample per quantile, then
// _sum and _count.
func appendSummary(b []byte, name, help string, quantiles, values []float64, sum float64, count uint64) []byte {
	b = appendHeader(b, name, help, "summary")
	for i, q := range quantiles {
		b = appendSample(b, name, "quantile", string(appendFloat(nil, q)), values[i])
	}
	b = appendSample(b, name+"_sum", "", "", sum)
	return appendSample(b, name+"_count", "", "", float64(count))
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*),
// or with colon false a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting
// with the reserved "__").
func validName(s string, colon bool) bool {
	if s == "" || !colon && strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || colon && c == ':' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
