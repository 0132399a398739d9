// JWT client assertions for the private_key_jwt token endpoint authentication (RFC 7523
// §2.2 and §3, OpenID Connect Core §9).

package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionLifetime is the validity of a client assertion.
const assertionLifetime = 5 * time.Minute

// ParsePrivateKey parses a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1 EC) for
// Config.PrivateKey.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key: unsupported type %T", key)
	}
	return signer, nil
}

// signingAlg returns the configured JWS algorithm, or the usual one for the key type.
func signingAlg(key crypto.Signer, configured string) (jose.SignatureAlgorithm, error) {
	if configured != "" {
		return jose.SignatureAlgorithm(configured), nil
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("private key: no default algorithm for %T", key)
}

// clientAssertion returns a signed JWT with iss and sub the client ID and aud the
// authorization server's issuer identifier.
func (c *Client) clientAssertion(clientID, issuer string) (string, error) {
	if c.cfg.PrivateKey == nil {
		return "", errors.New("private_key_jwt needs Config.PrivateKey")
	}
	alg, err := signingAlg(c.cfg.PrivateKey, c.cfg.PrivateKeyAlg)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if c.cfg.PrivateKeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), c.cfg.PrivateKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: c.cfg.PrivateKey}, opts)
	if err != nil {
		return "", fmt.Errorf("client assertion signer: %w", err)
	}
	now := c.now()
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{issuer},
		ID:       randomString(),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}
