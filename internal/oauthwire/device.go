// Package oauthwire holds OAuth wire types that both sides of mcpauth speak: the authorization
// server writes them and the client reads them, so their JSON names are defined once.
package oauthwire

// DeviceAuthorizationResponse is the device authorization response of RFC 8628 §3.2.
type DeviceAuthorizationResponse struct {
	// DeviceCode is the code the device polls the token endpoint with (§3.4).
	DeviceCode string `json:"device_code"`
	// UserCode is what the user enters at VerificationURI.
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	// VerificationURIComplete is VerificationURI with the user code in it (optional, §3.3.1).
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	// ExpiresIn is the lifetime of the codes in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// Interval is how many seconds the device waits between polls (optional; 5 when absent).
	Interval int64 `json:"interval,omitempty"`
}
