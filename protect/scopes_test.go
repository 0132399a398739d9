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
		got, err := peekToolCalls([]byte(tc.body))
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
		tools, err := peekToolCalls(body)
		again, err2 := peekToolCalls(body)
		if (err == nil) != (err2 == nil) || !slices.Equal(tools, again) {
			t.Fatalf("peek is not deterministic: %v %v / %v %v", tools, err, again, err2)
		}
		need := ToolScopes{"echo": {"a"}, "admin": {"a", "b"}}.requiredScopes(tools)
		if len(need) > 2 {
			t.Fatalf("scopes %v", need)
		}
	})
}
