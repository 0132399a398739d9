package authserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func decodeAndValidate(body, contentType string) (*ClientMetadata, error) {
	m, err := DecodeRegistrationRequest(strings.NewReader(body), contentType)
	if err != nil {
		return nil, err
	}
	return m, m.Validate(ValidateOptions{})
}

const jsonCT = "application/json"

// registrationBadInputs are the bad registration requests of issue 3, each with the RFC 7591
// §3.2.2 error code it must produce.
var registrationBadInputs = []struct {
	Name, ContentType, Body, Code string
}{
	// transport
	{"non-JSON content type", "text/plain", `{"redirect_uris":["https://a.example/cb"]}`, ErrCodeInvalidClientMetadata},
	{"form content type", "application/x-www-form-urlencoded", `redirect_uris=https://a.example/cb`, ErrCodeInvalidClientMetadata},
	{"missing content type", "", `{"redirect_uris":["https://a.example/cb"]}`, ErrCodeInvalidClientMetadata},
	{"oversized body", jsonCT, `{"client_name":"` + strings.Repeat("a", MaxRegistrationRequestBytes) + `","redirect_uris":["https://a.example/cb"]}`, ErrCodeInvalidClientMetadata},
	{"not JSON", jsonCT, `redirect_uris=https://a.example/cb`, ErrCodeInvalidClientMetadata},
	{"JSON array", jsonCT, `[{"redirect_uris":["https://a.example/cb"]}]`, ErrCodeInvalidClientMetadata},
	{"JSON null", jsonCT, `null`, ErrCodeInvalidClientMetadata},
	{"empty body", jsonCT, ``, ErrCodeInvalidClientMetadata},
	{"truncated JSON", jsonCT, `{"redirect_uris":["https://a.example/cb"]`, ErrCodeInvalidClientMetadata},
	{"trailing data", jsonCT, `{"redirect_uris":["https://a.example/cb"]} {}`, ErrCodeInvalidClientMetadata},
	{"invalid UTF-8", jsonCT, "{\"client_name\":\"\xff\",\"redirect_uris\":[\"https://a.example/cb\"]}", ErrCodeInvalidClientMetadata},
	{"redirect_uris is a string", jsonCT, `{"redirect_uris":"https://a.example/cb"}`, ErrCodeInvalidClientMetadata},
	{"client_name is a number", jsonCT, `{"client_name":5,"redirect_uris":["https://a.example/cb"]}`, ErrCodeInvalidClientMetadata},

	// redirect URIs
	{"missing redirect URIs", jsonCT, `{"client_name":"x"}`, ErrCodeInvalidRedirectURI},
	{"empty redirect URIs", jsonCT, `{"redirect_uris":[]}`, ErrCodeInvalidRedirectURI},
	{"http non-loopback", jsonCT, `{"redirect_uris":["http://a.example/cb"]}`, ErrCodeInvalidRedirectURI},
	{"http private address", jsonCT, `{"redirect_uris":["http://192.168.1.1/cb"]}`, ErrCodeInvalidRedirectURI},
	{"http loopback look-alike", jsonCT, `{"redirect_uris":["http://127.0.0.1.evil.example/cb"]}`, ErrCodeInvalidRedirectURI},
	{"http localhost subdomain", jsonCT, `{"redirect_uris":["http://localhost.evil.example/cb"]}`, ErrCodeInvalidRedirectURI},
	{"http loopback empty port", jsonCT, `{"redirect_uris":["http://127.0.0.1:/cb"]}`, ErrCodeInvalidRedirectURI},
	{"fragment", jsonCT, `{"redirect_uris":["https://a.example/cb#frag"]}`, ErrCodeInvalidRedirectURI},
	{"empty fragment", jsonCT, `{"redirect_uris":["https://a.example/cb#"]}`, ErrCodeInvalidRedirectURI},
	{"javascript scheme", jsonCT, `{"redirect_uris":["javascript:alert(1)"]}`, ErrCodeInvalidRedirectURI},
	{"javascript scheme upper case", jsonCT, `{"redirect_uris":["JavaScript:alert(1)"]}`, ErrCodeInvalidRedirectURI},
	{"data scheme", jsonCT, `{"redirect_uris":["data:text/html,<script>alert(1)</script>"]}`, ErrCodeInvalidRedirectURI},
	{"file scheme", jsonCT, `{"redirect_uris":["file:///etc/passwd"]}`, ErrCodeInvalidRedirectURI},
	{"vbscript scheme", jsonCT, `{"redirect_uris":["vbscript:msgbox"]}`, ErrCodeInvalidRedirectURI},
	{"private-use scheme without period", jsonCT, `{"redirect_uris":["myapp:/cb"]}`, ErrCodeInvalidRedirectURI},
	{"private-use scheme with authority", jsonCT, `{"redirect_uris":["com.example.app://host/cb"]}`, ErrCodeInvalidRedirectURI},
	{"relative URI", jsonCT, `{"redirect_uris":["/cb"]}`, ErrCodeInvalidRedirectURI},
	{"not a URI", jsonCT, `{"redirect_uris":["%zz"]}`, ErrCodeInvalidRedirectURI},
	{"https without host", jsonCT, `{"redirect_uris":["https:///cb"]}`, ErrCodeInvalidRedirectURI},
	{"space in redirect URI", jsonCT, `{"redirect_uris":["https://a.example/c b"]}`, ErrCodeInvalidRedirectURI},
	{"non-ASCII in redirect URI", jsonCT, `{"redirect_uris":["https://a.example/cé"]}`, ErrCodeInvalidRedirectURI},
	{"angle bracket in redirect URI", jsonCT, `{"redirect_uris":["https://a.example/cb?<script>"]}`, ErrCodeInvalidRedirectURI},
	{"https port out of range", jsonCT, `{"redirect_uris":["https://a.example:99999/cb"]}`, ErrCodeInvalidRedirectURI},
	{"https empty port", jsonCT, `{"redirect_uris":["https://a.example:/cb"]}`, ErrCodeInvalidRedirectURI},
	{"userinfo", jsonCT, `{"redirect_uris":["https://user:pw@a.example/cb"]}`, ErrCodeInvalidRedirectURI},
	{"too many redirect URIs", jsonCT, `{"redirect_uris":[` + strings.Repeat(`"https://a.example/cb",`, maxRedirectURIs) + `"https://a.example/x"]}`, ErrCodeInvalidRedirectURI},
	{"very long redirect URI", jsonCT, `{"redirect_uris":["https://a.example/` + strings.Repeat("a", maxURILength) + `"]}`, ErrCodeInvalidRedirectURI},

	// grant and response types
	{"unknown grant type", jsonCT, `{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","urn:example:magic"]}`, ErrCodeInvalidClientMetadata},
	{"implicit grant", jsonCT, `{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"],"response_types":["token"]}`, ErrCodeInvalidClientMetadata},
	{"password grant", jsonCT, `{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}`, ErrCodeInvalidClientMetadata},
	{"unknown response type", jsonCT, `{"redirect_uris":["https://a.example/cb"],"response_types":["code","token"]}`, ErrCodeInvalidClientMetadata},
	{"code grant without code response", jsonCT, `{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","client_credentials"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic"}`, ErrCodeInvalidClientMetadata},
	{"code response without code grant", jsonCT, `{"grant_types":["client_credentials"],"response_types":["code"]}`, ErrCodeInvalidClientMetadata},
	{"refresh without authorization_code", jsonCT, `{"grant_types":["client_credentials","refresh_token"]}`, ErrCodeInvalidClientMetadata},

	// application_type conflicts
	{"web with loopback", jsonCT, `{"application_type":"web","redirect_uris":["http://127.0.0.1:8080/cb"]}`, ErrCodeInvalidRedirectURI},
	{"web with localhost", jsonCT, `{"application_type":"web","redirect_uris":["https://a.example/cb","http://localhost/cb"]}`, ErrCodeInvalidRedirectURI},
	{"web with private-use scheme", jsonCT, `{"application_type":"web","redirect_uris":["com.example.app:/cb"]}`, ErrCodeInvalidRedirectURI},
	{"native with non-loopback http", jsonCT, `{"application_type":"native","redirect_uris":["http://a.example/cb"]}`, ErrCodeInvalidRedirectURI},
	{"unknown application_type", jsonCT, `{"application_type":"desktop","redirect_uris":["https://a.example/cb"]}`, ErrCodeInvalidClientMetadata},

	// client authentication
	{"unknown auth method", jsonCT, `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"magic"}`, ErrCodeInvalidClientMetadata},
	{"unsupported auth method", jsonCT, `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks"}`, ErrCodeInvalidClientMetadata},
	{"client_credentials with none", jsonCT, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, ErrCodeInvalidClientMetadata},
	{"jwks and jwks_uri", jsonCT, `{"redirect_uris":["https://a.example/cb"],"jwks_uri":"https://a.example/jwks","jwks":{"keys":[]}}`, ErrCodeInvalidClientMetadata},
	{"jwks not a key set", jsonCT, `{"redirect_uris":["https://a.example/cb"],"jwks":[1,2]}`, ErrCodeInvalidClientMetadata},

	// descriptive fields
	{"javascript client_uri", jsonCT, `{"redirect_uris":["https://a.example/cb"],"client_uri":"javascript:alert(1)"}`, ErrCodeInvalidClientMetadata},
	{"http logo_uri", jsonCT, `{"redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/logo.png"}`, ErrCodeInvalidClientMetadata},
	{"data logo_uri", jsonCT, `{"redirect_uris":["https://a.example/cb"],"logo_uri":"data:image/png;base64,AAAA"}`, ErrCodeInvalidClientMetadata},
	{"http jwks_uri", jsonCT, `{"redirect_uris":["https://a.example/cb"],"jwks_uri":"http://a.example/jwks"}`, ErrCodeInvalidClientMetadata},
	{"bidi override in client_name", jsonCT, `{"redirect_uris":["https://a.example/cb"],"client_name":"Good\u202eliveD"}`, ErrCodeInvalidClientMetadata},
	{"newline in client_name", jsonCT, `{"redirect_uris":["https://a.example/cb"],"client_name":"a\nb"}`, ErrCodeInvalidClientMetadata},
	{"long client_name", jsonCT, `{"redirect_uris":["https://a.example/cb"],"client_name":"` + strings.Repeat("n", maxTextLength+1) + `"}`, ErrCodeInvalidClientMetadata},
	{"scope with quote", jsonCT, `{"redirect_uris":["https://a.example/cb"],"scope":"read \"write"}`, ErrCodeInvalidClientMetadata},
	{"scope with double space", jsonCT, `{"redirect_uris":["https://a.example/cb"],"scope":"read  write"}`, ErrCodeInvalidClientMetadata},
	{"too many contacts", jsonCT, `{"redirect_uris":["https://a.example/cb"],"contacts":["a","b","c","d","e","f","g","h","i","j","k"]}`, ErrCodeInvalidClientMetadata},
}

// TestRegistrationBadInput names every bad registration input of issue 3 and the exact RFC 7591
// §3.2.2 error code it must produce (registrationBadInputs; clientmetadata_http_test.go sends
// the same inputs to POST /register).
func TestRegistrationBadInput(t *testing.T) {
	for _, tc := range registrationBadInputs {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := decodeAndValidate(tc.Body, tc.ContentType)
			var re *RegistrationError
			if !errors.As(err, &re) {
				t.Fatalf("got error %v (%T), want *RegistrationError %s", err, err, tc.Code)
			}
			if re.Code != tc.Code {
				t.Fatalf("got code %s (%s), want %s", re.Code, re.Description, tc.Code)
			}
			if re.Description == "" {
				t.Fatal("error_description is empty")
			}
			if len(re.Description) > 400 {
				t.Fatalf("error_description is %d bytes; client input must be truncated", len(re.Description))
			}
		})
	}
}

func TestRegistrationValidInputAndDefaults(t *testing.T) {
	tests := []struct {
		name, body string
		want       ClientMetadata
	}{
		{
			name: "minimal web client gets RFC 7591 defaults",
			body: `{"redirect_uris":["https://app.example/cb"]}`,
			want: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web"},
		},
		{
			name: "MCP client without application_type and loopback redirect is native",
			body: `{"redirect_uris":["http://127.0.0.1:3000/callback","http://localhost:3000/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"Example MCP Client"}`,
			want: ClientMetadata{RedirectURIs: []string{"http://127.0.0.1:3000/callback", "http://localhost:3000/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
				TokenEndpointAuthMethod: "none", ApplicationType: "native", ClientName: "Example MCP Client"},
		},
		{
			name: "native client with IPv6 loopback, no port",
			body: `{"application_type":"native","redirect_uris":["http://[::1]/cb"],"token_endpoint_auth_method":"none"}`,
			want: ClientMetadata{RedirectURIs: []string{"http://[::1]/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "native"},
		},
		{
			name: "native client with private-use scheme and claimed https",
			body: `{"application_type":"native","redirect_uris":["com.example.app:/oauth2redirect","https://app.example/cb"],"token_endpoint_auth_method":"none"}`,
			want: ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth2redirect", "https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "native"},
		},
		{
			name: "client_credentials backend needs no redirect URI",
			body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"tools:read tools:call"}`,
			want: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_post",
				ApplicationType: "web", Scope: "tools:read tools:call"},
		},
		{
			name: "duplicates removed, unknown fields ignored",
			body: `{"redirect_uris":["https://app.example/cb","https://app.example/cb"],"grant_types":["authorization_code","authorization_code"],"x-vendor":{"a":1},"client_name#ja":"アプリ"}`,
			want: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAndValidate(tc.body, "application/json; charset=utf-8")
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if !bytes.Equal(g, w) {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestValidateOptionsRestrictServer(t *testing.T) {
	m := &ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks"}
	opts := ValidateOptions{AuthMethods: []string{AuthMethodPrivateKeyJWT}, GrantTypes: []string{GrantAuthorizationCode}}
	if err := m.Validate(opts); err != nil {
		t.Fatalf("private_key_jwt with jwks_uri, when supported: %v", err)
	}
	m = &ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "private_key_jwt"}
	if err := m.Validate(opts); err == nil {
		t.Fatal("private_key_jwt without keys accepted")
	}
	m = &ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"}}
	if err := m.Validate(opts); err == nil || err.(*RegistrationError).Code != ErrCodeInvalidClientMetadata {
		t.Fatalf("refresh_token on a server that does not offer it: %v", err)
	}
}

func TestRegistrationErrorDoesNotEchoLongInput(t *testing.T) {
	long := "https://a.example/" + strings.Repeat("x", 1000) + "#f"
	m := &ClientMetadata{RedirectURIs: []string{long}}
	err := m.Validate(ValidateOptions{})
	if err == nil || strings.Contains(err.Error(), strings.Repeat("x", 200)) {
		t.Fatalf("error %q echoes the whole input", err)
	}
}

func FuzzDecodeRegistrationRequest(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://a.example/cb"]}`,
		`{"redirect_uris":["http://127.0.0.1:3000/cb"],"application_type":"native","token_endpoint_auth_method":"none"}`,
		`{"redirect_uris":["com.example.app:/cb"],"grant_types":["authorization_code","refresh_token"]}`,
		`{"grant_types":["client_credentials"],"jwks":{"keys":[{}]},"token_endpoint_auth_method":"private_key_jwt"}`,
		`{"redirect_uris":["javascript:alert(1)"]}`,
		`{"redirect_uris":"x","client_name":5}`,
		`[]`, `null`, `{} {}`, "{\"client_name\":\"\u202e\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeRegistrationRequest(bytes.NewReader(body), "application/json")
		if err != nil {
			if _, ok := err.(*RegistrationError); !ok {
				t.Fatalf("decode error %T is not *RegistrationError", err)
			}
			return
		}
		err = m.Validate(ValidateOptions{})
		if err != nil {
			re, ok := err.(*RegistrationError)
			if !ok || (re.Code != ErrCodeInvalidClientMetadata && re.Code != ErrCodeInvalidRedirectURI) {
				t.Fatalf("validate error %#v", err)
			}
			return
		}
		// Whatever passes must satisfy the invariants the rest of the server relies on.
		if m.ApplicationType != ApplicationTypeWeb && m.ApplicationType != ApplicationTypeNative {
			t.Fatalf("application_type %q", m.ApplicationType)
		}
		if slices.Contains(m.GrantTypes, GrantAuthorizationCode) != slices.Contains(m.ResponseTypes, ResponseTypeCode) {
			t.Fatalf("grant/response type mismatch accepted: %v %v", m.GrantTypes, m.ResponseTypes)
		}
		if slices.Contains(m.GrantTypes, GrantAuthorizationCode) && len(m.RedirectURIs) == 0 {
			t.Fatal("authorization_code client without redirect URIs accepted")
		}
		for _, u := range m.RedirectURIs {
			if strings.Contains(u, "#") || !RedirectURIMatches(u, u) {
				t.Fatalf("bad redirect URI accepted: %q", u)
			}
			scheme, _, _ := strings.Cut(u, ":")
			if slices.Contains(blockedSchemes, strings.ToLower(scheme)) || scheme == "http" && m.ApplicationType == ApplicationTypeWeb {
				t.Fatalf("redirect URI %q accepted for %s client", u, m.ApplicationType)
			}
		}
		// Validate is idempotent: a stored, validated client validates again unchanged.
		before, _ := json.Marshal(m)
		if err := m.Validate(ValidateOptions{}); err != nil {
			t.Fatalf("revalidation failed: %v", err)
		}
		if after, _ := json.Marshal(m); !bytes.Equal(before, after) {
			t.Fatalf("revalidation changed metadata:\n%s\n%s", before, after)
		}
	})
}
