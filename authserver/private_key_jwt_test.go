package authserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/authserver"
)

// clientKey is a client's key pair for private_key_jwt.
type clientKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: priv, kid: "client-key-1"}
}

// jwks is the public key set to register.
func (k clientKey) jwks(t *testing.T) json.RawMessage {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertion signs a client assertion; edit may change its claims.
func (k clientKey) assertion(t *testing.T, clientID, aud string, edit func(*jwt.Claims)) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()}
	if edit != nil {
		edit(&c)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion},
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	as := newTestAS(t, nil)
	key := newClientKey(t)
	info, secret, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{
		Name: "signed backend", JWKS: key.jwks(t), GrantTypes: []string{"client_credentials"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" || info.AuthMethod != "private_key_jwt" {
		t.Fatalf("client %+v, secret %q", info, secret)
	}
	id := info.ID
	good := key.assertion(t, id, as.URL, nil)
	status, tok := tokenRequest(t, as, assertionForm(good))
	if status != 200 {
		t.Fatalf("private_key_jwt: %d %v", status, tok)
	}
	status, body := tokenRequest(t, as, assertionForm(good))
	wantOAuthError(t, "replayed assertion", status, body, 401, "invalid_client")
	if status, body := tokenRequest(t, as, assertionForm(key.assertion(t, id, as.URL+"/token", nil))); status != 200 {
		t.Fatalf("aud = token endpoint: %d %v", status, body)
	}

	other := newClientKey(t)
	for name, assertion := range map[string]string{
		"another key":      other.assertion(t, id, as.URL, nil),
		"another audience": key.assertion(t, id, "https://elsewhere.example", nil),
		"expired":          key.assertion(t, id, as.URL, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-5 * time.Minute)) }),
		"far future exp":   key.assertion(t, id, as.URL, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"no jti":           key.assertion(t, id, as.URL, func(c *jwt.Claims) { c.ID = "" }),
		"iss differs":      key.assertion(t, id, as.URL, func(c *jwt.Claims) { c.Issuer = "someone" }),
		"not a JWT":        "garbage",
	} {
		status, body := tokenRequest(t, as, assertionForm(assertion))
		wantOAuthError(t, name, status, body, 401, "invalid_client")
	}
	form := assertionForm(key.assertion(t, id, as.URL, nil))
	form.Set("client_assertion_type", "urn:other")
	status, body = tokenRequest(t, as, form)
	wantOAuthError(t, "wrong assertion type", status, body, 401, "invalid_client")
	// A secret-based attempt for a key-based client fails.
	status, body = tokenRequest(t, as, url.Values{"grant_type": {"client_credentials"}}, id, "guess")
	wantOAuthError(t, "secret for a private_key_jwt client", status, body, 401, "invalid_client")
}

func TestRegistrationPrivateKeyJWT(t *testing.T) {
	as := newTestAS(t, nil)
	key := newClientKey(t)
	var keys any
	json.Unmarshal(key.jwks(t), &keys)
	reg := register(t, as, map[string]any{
		"redirect_uris": []string{"https://app.example.com/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": keys,
	})
	if reg["client_secret"] != nil || reg["jwks"] == nil {
		t.Fatalf("registration: %v", reg)
	}
	privateSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.priv, KeyID: "k"}}})
	var private any
	json.Unmarshal(privateSet, &private)
	for name, meta := range map[string]map[string]any{
		"jwks_uri":    {"redirect_uris": []string{"https://app.example.com/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks"},
		"private key": {"redirect_uris": []string{"https://app.example.com/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": private},
	} {
		resp, body := postJSON(t, as.URL+"/register", "", meta)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
}
