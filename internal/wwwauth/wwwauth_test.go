package wwwauth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		want   []Challenge
	}{
		{"bearer with params", []string{`Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource", scope="read write"`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"resource_metadata": "https://a.example/.well-known/oauth-protected-resource", "scope": "read write"}}}},
		{"any case", []string{`bEaReR ReSoUrCe_MeTaDaTa="u", ERROR=insufficient_scope`},
			[]Challenge{{Scheme: "bEaReR", Params: map[string]string{"resource_metadata": "u", "error": "insufficient_scope"}}}},
		{"several challenges in one field", []string{`Basic realm="x", Bearer error="invalid_token", error_description="expired", DPoP algs="ES256"`},
			[]Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "x"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "error_description": "expired"}},
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256"}},
			}},
		{"several fields", []string{`Basic realm="a"`, `Bearer scope="s"`},
			[]Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "a"}}, {Scheme: "Bearer", Params: map[string]string{"scope": "s"}}}},
		{"escapes", []string{`Bearer error_description="say \"hi\", \\o/ , ok", scope="a"`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"error_description": `say "hi", \o/ , ok`, "scope": "a"}}}},
		{"bare scheme then another", []string{`Negotiate, Bearer realm="r"`},
			[]Challenge{{Scheme: "Negotiate", Params: map[string]string{}}, {Scheme: "Bearer", Params: map[string]string{"realm": "r"}}}},
		{"token68", []string{`Basic dXNlcjpwYXNz==, Bearer`},
			[]Challenge{{Scheme: "Basic", Token68: "dXNlcjpwYXNz==", Params: map[string]string{}}, {Scheme: "Bearer", Params: map[string]string{}}}},
		{"whitespace around =", []string{"Bearer  scope = \"a\" ,\terror= invalid_token"},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": "a", "error": "invalid_token"}}}},
		{"empty list elements", []string{` , Bearer scope="a",, ,`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": "a"}}}},
		{"duplicate parameter: first wins", []string{`Bearer scope="a", scope="b"`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": "a"}}}},
		{"empty quoted value", []string{`Bearer scope=""`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": ""}}}},
		{"nothing", []string{"", "  "}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.fields)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tc.fields, got, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for name, field := range map[string]string{
		"unterminated quote":    `Bearer scope="abc`,
		"escape at end":         `Bearer scope="abc\`,
		"missing value":         `Bearer scope=, error="x"`,
		"junk after value":      `Bearer scope="a" b="c"`,
		"no scheme":             `="x"`,
		"control char in quote": "Bearer scope=\"a\x01b\"",
		"separator in scheme":   `Bea(rer scope="a"`,
		"too many challenges":   strings.Repeat("A, ", 100),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]string{field})
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a SyntaxError", field, err)
			}
		})
	}
	// What parsed before the error is kept.
	got, err := Parse([]string{`Bearer scope="a", Basic realm="x`})
	if err == nil || len(got) != 2 || got[0].Params["scope"] != "a" {
		t.Fatalf("partial parse: %#v, %v", got, err)
	}
}

func TestFind(t *testing.T) {
	cs, _ := Parse([]string{`Basic realm="a", BEARER scope="s"`})
	c, ok := Find(cs, "bearer")
	if !ok || c.Params["scope"] != "s" {
		t.Fatalf("Find = %#v, %v", c, ok)
	}
	if _, ok := Find(cs, "DPoP"); ok {
		t.Fatal("found a missing scheme")
	}
}

func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{
		`Bearer resource_metadata="https://a.example/prm", scope="a b"`,
		`Basic realm="x", Bearer error="insufficient_scope"`,
		`Bearer error_description="a \"quoted\" \\ thing"`,
		`Basic dXNlcjpwYXNz==`,
		`Bearer scope="unterminated`,
		`, ,Bearer,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := Parse([]string{s})
		if len(cs) > maxChallenges+1 {
			t.Fatalf("%d challenges", len(cs))
		}
		for _, c := range cs {
			if c.Scheme == "" {
				t.Fatalf("empty scheme from %q", s)
			}
			for k := range c.Params {
				if k != strings.ToLower(k) || k == "" {
					t.Fatalf("parameter name %q", k)
				}
			}
		}
		if err == nil {
			// Well-formed input parses the same when split across two fields.
			again, err2 := Parse([]string{s, ""})
			if err2 != nil || !reflect.DeepEqual(again, cs) {
				t.Fatalf("not deterministic for %q", s)
			}
		}
	})
}
