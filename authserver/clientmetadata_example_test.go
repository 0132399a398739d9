package authserver_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mcpauth/mcpauth/authserver"
)

// A registration request from an MCP client that runs on the user's machine: no
// application_type, a loopback redirect URI. Validate infers "native" and fills in the RFC 7591
// defaults.
func ExampleDecodeRegistrationRequest() {
	body := `{"client_name":"My AI Tool","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}`
	md, err := authserver.DecodeRegistrationRequest(strings.NewReader(body), "application/json")
	if err == nil {
		err = md.Validate(authserver.ValidateOptions{})
	}
	fmt.Println(err, md.ApplicationType, md.GrantTypes, md.ResponseTypes)
	// Output: <nil> native [authorization_code] [code]
}

// Bad input yields a *RegistrationError with the RFC 7591 §3.2.2 code to send back.
func ExampleRegistrationError() {
	md := &authserver.ClientMetadata{RedirectURIs: []string{"javascript:alert(1)"}}
	var re *authserver.RegistrationError
	if errors.As(md.Validate(authserver.ValidateOptions{}), &re) {
		fmt.Println(re.Code)
	}
	// Output: invalid_redirect_uri
}
