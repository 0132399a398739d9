package oauthwire

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDeviceAuthorizationResponseNames: the JSON member names are those of RFC 8628 §3.2, the
// optional ones are left out when empty, and a response decodes back to the same value.
func TestDeviceAuthorizationResponseNames(t *testing.T) {
	full := DeviceAuthorizationResponse{DeviceCode: "dc", UserCode: "WDJB-MJHT", VerificationURI: "https://as.example/device",
		VerificationURIComplete: "https://as.example/device?user_code=WDJB-MJHT", ExpiresIn: 600, Interval: 5}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": "https://as.example/device",
		"verification_uri_complete": "https://as.example/device?user_code=WDJB-MJHT", "expires_in": float64(600), "interval": float64(5)}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("encoded %s", b)
	}
	var back DeviceAuthorizationResponse
	if err := json.Unmarshal(b, &back); err != nil || back != full {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	b, _ = json.Marshal(DeviceAuthorizationResponse{DeviceCode: "dc", UserCode: "u", VerificationURI: "https://as.example/device", ExpiresIn: 600})
	if string(b) != `{"device_code":"dc","user_code":"u","verification_uri":"https://as.example/device","expires_in":600}` {
		t.Fatalf("optional members not omitted: %s", b)
	}
}
