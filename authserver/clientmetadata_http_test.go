package authserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

// TestRegistrationBadInputOverHTTP sends every bad registration request of issue 3 to
// POST /register and checks the RFC 7591 §3.2.2 answer: 400, the exact error code, and an
// error_description.
func TestRegistrationBadInputOverHTTP(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) { c.RegistrationRate = 1000 })
	for _, tc := range authserver.RegistrationBadInputs {
		t.Run(tc.Name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, as.URL+"/register", strings.NewReader(tc.Body))
			if tc.ContentType != "" {
				req.Header.Set("Content-Type", tc.ContentType)
			}
			resp, body := do(t, http.DefaultClient, req)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error != tc.Code || e.Description == "" {
				t.Fatalf("got %d %s, want 400 %s", resp.StatusCode, body, tc.Code)
			}
		})
	}
	if clients, err := as.Store.ListClients(t.Context()); err != nil || len(clients) != 0 {
		t.Fatalf("bad requests registered clients: %v, %v", clients, err)
	}
}
