package client

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestParsePrivateKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	for name, tc := range map[string]struct {
		block *pem.Block
		alg   jose.SignatureAlgorithm
	}{
		"PKCS #1 RSA": {&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}, jose.RS256},
		"SEC 1 EC":    {&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}, jose.ES384},
		"PKCS #8 Ed":  {&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}, jose.EdDSA},
	} {
		key, err := ParsePrivateKey(pem.EncodeToMemory(tc.block))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if alg, err := signingAlg(key, ""); err != nil || alg != tc.alg {
			t.Errorf("%s: default alg %q, %v; want %q", name, alg, err, tc.alg)
		}
	}
	for name, in := range map[string]string{
		"not PEM":      "hello",
		"broken DER":   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})),
		"empty EC key": string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0}})),
	} {
		if _, err := ParsePrivateKey([]byte(in)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
