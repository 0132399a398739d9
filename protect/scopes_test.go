package protect

import (
	"slices"
	"testing"
)

func TestPeekToolCalls(t *testing.T) {
	for _, tc := range []struct {
		body  string
		tools []string
	}{
		{callEcho, []string{"echo"}},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil},
		{`  [` + callEcho + `,` + callAdmin + `,{"jsonrpc":"2.0","method":"notifications/initialized"}]`, []string{"echo", "admin"}},
		{`{"jsonrpc":"2.0","id":1,"result":{}}`, nil},
		{`{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"admin"}}`, nil}, // the server ignores "Method" too
	} {
		calls, err := peekToolCalls([]byte(tc.body))
		got := names(calls)
		if err != nil || !slices.Equal(got, tc.tools) {
			t.Errorf("%s: %v %v, want %v", tc.body, got, err, tc.tools)
		}
	}
}

// FuzzPeekToolCalls checks that the peek never panics, and that whatever it
// accepts it reads the same way twice (body restored, no hidden state).
func FuzzPeekToolCalls(f *testing.F) {
	for _, s := range []string{callEcho, callAdmin, "[" + callEcho + "," + callAdmin + "]", `{"method":"tools/call","params":null}`,
		`{"method":"tools/call","params":{"name":"a","name":"b"}}`, `[]`, `[1,2]`, `{"method":1}`, "\xff", `{"params":{"name":"x"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		calls, err := peekToolCalls(body)
		again, err2 := peekToolCalls(body)
		if (err == nil) != (err2 == nil) || !slices.Equal(names(calls), names(again)) {
			t.Fatalf("peek is not deterministic: %v %v / %v %v", calls, err, again, err2)
		}
		p := &Protector{cfg: Config{ToolScopes: ToolScopes{"echo": {"a"}, "admin": {"a", "b"}}}}
		need := p.requiredScopes(calls)
		if len(need) > 2 {
			t.Fatalf("scopes %v", need)
		}
	})
}

func names(calls []ToolCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Name)
	}
	return out
}
