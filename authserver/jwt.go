// JWT access tokens: RFC 9068 (typ at+jwt; iss, sub, aud, client_id, scope, exp, iat, jti).
package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2). Two private claims: QuotaTier
// carries the rate-limit tier of a pre-registered client to resource servers; GrantID names the
// grant the token was issued under, for introspection and revocation here (empty for
// client_credentials, whose grant is the client itself).
type accessClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope,omitempty"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti"`
	QuotaTier string           `json:"quota_tier,omitempty"`
	GrantID   string           `json:"gid,omitempty"`
}

// ClaimQuotaTier is the private claim naming the client's quota tier.
const ClaimQuotaTier = "quota_tier"

// accessTokenType is the JWS "typ" of RFC 9068 §2.1.
const accessTokenType = "at+jwt"

// appendJSON appends the claims as a JSON object, as encoding/json would encode the struct
// (members in field order, omitempty honoured, a single audience as a string like go-jose's
// jwt.Audience), without reflection.
func (c *accessClaims) appendJSON(b []byte) []byte {
	b = appendJSONMember(b, true, "iss", c.Issuer)
	b = appendJSONMember(b, false, "sub", c.Subject)
	b = appendMemberName(b, false, "aud")
	switch {
	case len(c.Audience) == 1:
		b = appendJSONString(b, c.Audience[0])
	case c.Audience == nil:
		b = append(b, "null"...)
	default:
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = appendJSONMember(b, false, "client_id", c.ClientID)
	if c.Scope != "" {
		b = appendJSONMember(b, false, "scope", c.Scope)
	}
	b = appendNumericDate(b, "exp", c.Expiry, false)
	b = appendNumericDate(b, "iat", c.IssuedAt, false)
	b = appendNumericDate(b, "nbf", c.NotBefore, true)
	b = appendJSONMember(b, false, "jti", c.ID)
	if c.QuotaTier != "" {
		b = appendJSONMember(b, false, "quota_tier", c.QuotaTier)
	}
	if c.GrantID != "" {
		b = appendJSONMember(b, false, "gid", c.GrantID)
	}
	return append(b, '}')
}

// appendNumericDate appends a NumericDate member (RFC 7519 §2): null when d is nil, or nothing
// when omitempty.
func appendNumericDate(b []byte, name string, d *jwt.NumericDate, omitempty bool) []byte {
	switch {
	case d != nil:
		return appendJSONInt(b, false, name, int64(*d))
	case omitempty:
		return b
	}
	return append(appendMemberName(b, false, name), "null"...)
}

// signAccessToken signs the claims with key: a compact JWS (RFC 7515 §7.1) with ES256, whose
// signature is R || S, 32 bytes each (RFC 7518 §3.4). Written here rather than with go-jose's
// builder, which encodes the claims three times (about a third of the cost of a token); the
// key's encoded header is made once.
func signAccessToken(key *signingKey, c *accessClaims) (string, error) {
	// The claims and the token share one buffer: the claims at its start, the token after them.
	payload := c.appendJSON(make([]byte, 0, 2048))
	b64 := base64.RawURLEncoding
	tok := payload[len(payload):]
	tok = append(tok, key.header...)
	tok = b64.AppendEncode(tok, payload)
	digest := sha256.Sum256(tok)
	der, err := ecdsa.SignASN1(rand.Reader, key.priv, digest[:])
	if err != nil {
		return "", err
	}
	sig, err := rawSignature(der)
	if err != nil {
		return "", err
	}
	tok = append(tok, '.')
	tok = b64.AppendEncode(tok, sig[:])
	return string(tok), nil
}

// rawSignature converts an ASN.1 ECDSA signature (SEQUENCE of the INTEGERs r and s) to the
// fixed-size R || S of JWS ES256 (RFC 7518 §3.4).
func rawSignature(der []byte) (sig [64]byte, err error) {
	var r, sv []byte
	in, seq := cryptobyte.String(der), cryptobyte.String(nil)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&sv) ||
		!seq.Empty() || len(r) > 32 || len(sv) > 32 {
		return sig, errors.New("ecdsa: malformed signature")
	}
	copy(sig[32-len(r):32], r)
	copy(sig[64-len(sv):], sv)
	return sig, nil
}

// jwsHeader is the protected header of an access token (RFC 7515 §4.1, RFC 9068 §2.1).
type jwsHeader struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
	Type      string `json:"typ"`
}

// encodedHeader is the first part of every token key signs: its protected header in base64url
// and the dot that follows it.
func encodedHeader(kid string) string {
	h, _ := json.Marshal(jwsHeader{Algorithm: string(jose.ES256), KeyID: kid, Type: accessTokenType})
	return base64.RawURLEncoding.EncodeToString(h) + "."
}

// errNotOurToken: the string is not an access token this server signed, or it has expired.
var errNotOurToken = errors.New("not a valid access token of this server")

// parseAccessToken verifies an access token signed by this server (any published key) and
// returns its claims; it checks typ, iss and exp.
func (s *Server) parseAccessToken(ctx context.Context, raw string) (*accessClaims, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, errNotOurToken
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, errNotOurToken
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, errNotOurToken
	}
	key, err := s.keys.verifier(ctx, h.KeyID)
	if err != nil {
		return nil, errNotOurToken
	}
	var c accessClaims
	if err := tok.Claims(&key.priv.PublicKey, &c); err != nil {
		return nil, errNotOurToken
	}
	if c.Issuer != s.cfg.Issuer || c.Expiry == nil || !c.Expiry.Time().After(s.now()) {
		return nil, errNotOurToken
	}
	return &c, nil
}

// numericDate converts a time for a JWT claim (RFC 7519 §2: seconds since the epoch).
func numericDate(t time.Time) jwt.NumericDate { return jwt.NumericDate(t.Unix()) }
