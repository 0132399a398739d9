// Bearer token error responses and WWW-Authenticate challenges (RFC 6750 §3, RFC 9728 §5.1).

package protect

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Bearer error codes of RFC 6750 §3.1.
const (
	ErrorInvalidRequest    = "invalid_request"
	ErrorInvalidToken      = "invalid_token"
	ErrorInsufficientScope = "insufficient_scope"
)

// Challenge is one Bearer challenge in a WWW-Authenticate header.
type Challenge struct {
	ResourceMetadata string   // resource_metadata (RFC 9728 §5.1)
	Scope            []string // scope: the scopes the request needs
	Error            string   // error code; empty when no token was sent
	Description      string   // error_description, for developers
}

// String renders the challenge as a WWW-Authenticate header value.
func (c Challenge) String() string {
	var params []string
	add := func(name, value string) {
		if value = quoteSafe(value); value != "" {
			params = append(params, name+`="`+value+`"`)
		}
	}
	add("resource_metadata", c.ResourceMetadata)
	add("scope", strings.Join(c.Scope, " "))
	add("error", c.Error)
	add("error_description", c.Description)
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quoteSafe keeps only the characters RFC 6750 §3 allows inside the quoted
// error, error_description and scope values (%x20-21 / %x23-5B / %x5D-7E),
// so no value can break out of its quotes.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// writeChallenge answers with status, the challenge, and a JSON body holding
// the same error (RFC 6749 §5.2 style) for clients that read bodies.
func writeChallenge(w http.ResponseWriter, status int, c Challenge) {
	w.Header().Set("WWW-Authenticate", c.String())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{}
	if c.Error != "" {
		body["error"] = c.Error
	} else {
		body["error"] = "unauthorized"
	}
	if c.Description != "" {
		body["error_description"] = quoteSafe(c.Description)
	}
	_ = json.NewEncoder(w).Encode(body)
}
