package authserver_test

import (
	"fmt"

	"github.com/mcpauth/mcpauth/authserver"
)

func ExampleRedirectURIMatches() {
	fmt.Println(authserver.RedirectURIMatches("https://app.example/cb", "https://app.example/cb"))
	fmt.Println(authserver.RedirectURIMatches("https://app.example/cb", "https://app.example/cb?x=1"))
	// RFC 8252 §7.3: a native app's loopback listener may use any port.
	fmt.Println(authserver.RedirectURIMatches("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"))
	// Output:
	// true
	// false
	// true
}
