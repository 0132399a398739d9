package authserver_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/internal/safehttp"
)

// A CIMDFetcher with the production defaults refuses a client_id whose host is not a public
// address, before anything is sent.
func ExampleCIMDFetcher_Fetch() {
	f := authserver.NewCIMDFetcher(authserver.CIMDOptions{})
	_, err := f.Fetch(context.Background(), "https://169.254.169.254/latest/meta-data/")
	fmt.Println(errors.Is(err, safehttp.ErrBlocked))
	fmt.Println(authserver.IsURLClientID("https://app.example/oauth/client.json"), authserver.IsURLClientID("my-client"))
	// Output:
	// true
	// true false
}
