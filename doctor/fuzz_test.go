package doctor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// documentTransport answers every request in process: 401 with challenge for the MCP
// endpoint, prm for protected resource metadata and as for authorization server metadata.
type documentTransport struct{ challenge, prm, as string }

func (d documentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Request: r}
	body := ""
	switch {
	case strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource"):
		body = d.prm
	case strings.HasPrefix(r.URL.Path, "/.well-known/"):
		body = d.as
	default:
		resp.StatusCode = http.StatusUnauthorized
		resp.Header.Set("WWW-Authenticate", d.challenge)
	}
	resp.Body = io.NopCloser(strings.NewReader(body))
	return resp, nil
}

// FuzzDiagnose feeds arbitrary challenges and metadata documents to the diagnosis: it must
// never panic, always end with a verdict, and mark a failed step for a broken document.
func FuzzDiagnose(f *testing.F) {
	f.Add(`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`,
		`{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://mcp.example.com"]}`,
		`{"issuer":"https://mcp.example.com","token_endpoint":"https://mcp.example.com/token","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://mcp.example.com/register"}`)
	f.Add(`Bearer`, `{"resource":1}`, `[]`)
	f.Add(`Basic realm="x", Bearer scope="a b"`, `{"resource":"https://mcp.example.com/","authorization_servers":[]}`, `{"issuer":"https://evil.example.com"}`)
	f.Add(`Bearer resource_metadata="::"`, `null`, `{"issuer":"https://mcp.example.com","code_challenge_methods_supported":null,"grant_types_supported":["refresh_token"]}`)
	f.Fuzz(func(t *testing.T, challenge, prm, as string) {
		r := Diagnose(context.Background(), "https://mcp.example.com/mcp", Options{
			HTTPClient:  &http.Client{Transport: documentTransport{challenge, prm, as}},
			AccessToken: prm,
		})
		if len(r.Steps) == 0 {
			t.Fatal("no steps")
		}
		failed := false
		for _, s := range r.Steps {
			failed = failed || s.Status == Fail
		}
		if r.OK == failed {
			t.Fatalf("verdict OK=%v with a failed step=%v", r.OK, failed)
		}
		if err := r.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}
