package protect

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// peekToolCalls peeks body with a pooled peeker and returns a copy of its calls.
func peekToolCalls(body []byte) ([]ToolCall, error) {
	pk := peekers.Get().(*peeker)
	defer pk.release()
	calls, err := pk.peek(body)
	return slices.Clone(calls), err
}

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
		// params before the method are read after the message, params after it in the same pass:
		// the calls keep the body's order either way
		{`[{"params":{"name":"admin"},"id":1,"method":"tools/call"},{"method":"tools/call","id":2,"params":{"name":"echo"}},{"params":{"name":"x"},"method":"tools/list","id":3}]`, []string{"admin", "echo"}},
		{`{"method":"tools/call","params":null,"id":1}`, []string{""}},
	} {
		calls, err := peekToolCalls([]byte(tc.body))
		got := names(calls)
		if err != nil || !slices.Equal(got, tc.tools) {
			t.Errorf("%s: %v %v, want %v", tc.body, got, err, tc.tools)
		}
	}
}

// FuzzPeekToolCalls checks that the peek never panics, that whatever it
// accepts it reads the same way twice (no hidden state in its pooled
// decoders), and that it reads every body exactly as json.Unmarshal reads it
// into the JSON-RPC shapes (peekReference): the same refusals, the same
// calls, names and arguments.
func FuzzPeekToolCalls(f *testing.F) {
	for _, s := range []string{callEcho, callAdmin, "[" + callEcho + "," + callAdmin + "]", `{"method":"tools/call","params":null}`,
		`{"method":"tools/call","params":{"name":"a","name":"b"}}`, `[]`, `[1,2]`, `{"method":1}`, "\xff", `{"params":{"name":"x"}}`,
		`{"method":"tools/call"}`, `[null,{"method":null,"params":5},{"method":"tools\/call","params":{"name":null,"arguments":null}}]`,
		`{"method":"tools/call","params":{"name":"\u0061","arguments":{"a":1,"a":2}}}`, `{"x":{"y":[1,{"z":1,"z":2}]}}`,
		` {"method":"tools/call","params":{"arguments":[1,2],"name":"a"},"method":"x"} `, `{"method":"tools/call","params":[]}`,
		`{"params":{"name":"\ud800"},"method":"tools/call"}`, `[[]]`, `"tools/call"`, `{} x`, `{"a":1,}`,
		`[{"params":{"name":"b"},"method":"tools/call"},{"method":"tools/call","params":{"name":"a"}},{"method":"x","params":[}]`,
		`{"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}`, `{"method":"tools/list","params":{"name":"a","name":"a"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		calls, err := peekToolCalls(body)
		again, err2 := peekToolCalls(body)
		if (err == nil) != (err2 == nil) || !slices.EqualFunc(calls, again, sameCall) {
			t.Fatalf("peek is not deterministic: %v %v / %v %v", calls, err, again, err2)
		}
		if err != nil && !errors.Is(err, ErrBadJSONRPC) {
			t.Fatalf("error %v is not ErrBadJSONRPC", err)
		}
		want, werr := peekReference(body)
		if (err == nil) != (werr == nil) || !slices.EqualFunc(calls, want, sameCall) {
			t.Fatalf("peek of %q: %q %v, json.Unmarshal reads %q %v", body, calls, err, want, werr)
		}
		p := &Protector{cfg: Config{ToolScopes: ToolScopes{"echo": {"a"}, "admin": {"a", "b"}}}}
		need := p.requiredScopes(calls)
		if len(need) > 2 {
			t.Fatalf("scopes %v", need)
		}
	})
}

func sameCall(a, b ToolCall) bool { return a.Name == b.Name && bytes.Equal(a.Arguments, b.Arguments) }

// peekReference reads body with json.Unmarshal into the shapes of a JSON-RPC
// message (or batch) and of tools/call params: the definition that
// peekToolCalls implements in one pass without reflection.
func peekReference(body []byte) ([]ToolCall, error) {
	type message struct {
		Method string         `json:"method"`
		Params jsontext.Value `json:"params"`
	}
	var msgs []message
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, err
		}
	} else {
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		msgs = []message{m}
	}
	var calls []ToolCall
	for _, m := range msgs {
		if m.Method != "tools/call" {
			continue
		}
		var c ToolCall
		if err := json.Unmarshal(m.Params, &c); err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func names(calls []ToolCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Name)
	}
	return out
}
