// Authorization server issuer identification in authorization responses (RFC 9207 §2.4).

package client

import (
	"net/url"
)

// checkIss verifies the iss parameter of an authorization response: when present it must
// be the issuer, and it must be present when the server advertises
// authorization_response_iss_parameter_supported. A mismatch means the response may come
// from another authorization server (mix-up attack).
func checkIss(as *authServerMeta, q url.Values) error {
	iss, present := q["iss"]
	if !present {
		if as.AuthorizationResponseIssParameterSupported {
			return &IssuerMismatchError{Expected: as.Issuer, Got: "", Where: "authorization response (iss missing)"}
		}
		return nil
	}
	if len(iss) != 1 || iss[0] != as.Issuer {
		got := ""
		if len(iss) > 0 {
			got = sanitize(iss[0])
		}
		return &IssuerMismatchError{Expected: as.Issuer, Got: got, Where: "authorization response"}
	}
	return nil
}
