// The client credentials grant for confidential clients acting on their own behalf (RFC 6749
// §4.4; MCP SEP-1046), with the resource parameter (RFC 8707 §2.2).

package client

import (
	"context"
	"net/url"
	"strings"
)

// clientCredentialsLocked obtains a token with the client credentials grant and stores it.
func (c *Client) clientCredentialsLocked(ctx context.Context, scopes []string) error {
	if _, err := c.registrationLocked(ctx, ""); err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	return c.tokenRequestLocked(ctx, form, scopes)
}
