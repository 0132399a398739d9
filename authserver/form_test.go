package authserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzParseForm: parseForm agrees with url.ParseQuery, which r.ParseForm used for these bodies:
// it fails exactly where ParseQuery reports an error, and otherwise returns the same values.
func FuzzParseForm(f *testing.F) {
	for _, seed := range []string{
		"", "&", "a", "a=", "=b", "a=1&a=2&b=3", "grant_type=client_credentials&scope=weather%3Aread&resource=http%3A%2F%2F127.0.0.1%3A9%2Fmcp",
		"a=1;b=2", "a=%zz", "%=1", "a+b=c+d&&&e", "a=1&b=2&a=3&a", "k=%E2%82%AC&k=%FF", strings.Repeat("&", maxFormParams),
		strings.Repeat("a&", maxFormParams-1) + "b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseForm(body)
		want, werr := url.ParseQuery(body)
		if (err != nil) != (werr != nil) {
			t.Fatalf("parseForm(%q) error %v, url.ParseQuery error %v", body, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseForm(%q) = %q, url.ParseQuery = %q", body, got, want)
		}
		for k, v := range got { // a later append to one parameter must not change another
			got[k] = append(v, "x")
		}
		for k, v := range want {
			if !reflect.DeepEqual(got[k], append(v, "x")) {
				t.Fatalf("parseForm(%q): values of parameters share storage", body)
			}
		}
	})
}

// TestReadForm: readForm fills r.PostForm and r.Form as r.ParseForm does for a urlencoded body
// (with or without a declared length, with a query string), reads a request once, and refuses
// other media types (even when parsed before), bodies over maxTokenRequestBytes, unparsable
// bodies and queries.
func TestReadForm(t *testing.T) {
	const body = "grant_type=client_credentials&scope=a+b&resource=http%3A%2F%2Fr%2Fmcp&resource=x"
	newRequest := func(target, body string, chunked bool) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if chunked {
			r.ContentLength = -1
			r.Body = io.NopCloser(iotest.OneByteReader(strings.NewReader(body)))
		}
		return r
	}
	for _, target := range []string{"/token", "/token?x=1&grant_type=q"} {
		for _, chunked := range []bool{false, true} {
			r := newRequest(target, body, chunked)
			if e := readForm(httptest.NewRecorder(), r); e != nil {
				t.Fatalf("%s chunked=%v: %v", target, chunked, e)
			}
			want := newRequest(target, body, chunked)
			if err := want.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.PostForm, want.PostForm) || !reflect.DeepEqual(r.Form, want.Form) {
				t.Errorf("%s chunked=%v: PostForm %v Form %v, want %v %v", target, chunked, r.PostForm, r.Form, want.PostForm, want.Form)
			}
			r.Body = io.NopCloser(iotest.ErrReader(iotest.ErrTimeout)) // a second read would fail
			if e := readForm(httptest.NewRecorder(), r); e != nil {
				t.Errorf("second readForm: %v", e)
			}
		}
	}
	tooLarge := "a=" + strings.Repeat("b", maxTokenRequestBytes)
	parsedJSON := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	parsedJSON.Header.Set("Content-Type", "application/json")
	if err := parsedJSON.ParseForm(); err != nil { // an empty PostForm: not a form
		t.Fatal(err)
	}
	for name, r := range map[string]*http.Request{
		"json, parsed before": parsedJSON,
		"json":                httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(`{"grant_type":"client_credentials"}`)),
		"too large":           newRequest("/token", tooLarge, false),
		"too large, chunked":  newRequest("/token", tooLarge, true),
		"bad escape":          newRequest("/token", "a=%zz", false),
		"semicolon":           newRequest("/token", "a=1;b=2", false),
		"bad query":           newRequest("/token?a=%zz", "a=1", false),
		"short body":          newRequest("/token", "a=1", false),
	} {
		if name == "json" {
			r.Header.Set("Content-Type", "application/json")
		}
		if name == "short body" {
			r.ContentLength = 10 // the connection ended before the declared length
		}
		if e := readForm(httptest.NewRecorder(), r); e == nil || e.Code != errInvalidRequest {
			t.Errorf("%s: %v, want invalid_request", name, e)
		}
	}
}
