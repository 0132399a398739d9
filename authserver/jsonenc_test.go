package authserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/go-jose/go-jose/v4/jwt"
)

// The hand-written encodings must mean what encoding/json's encoding of the same values means:
// both are decoded and compared, for ordinary values and for strings that need escaping.

var awkwardStrings = []string{"", "plain", `quote " and \ backslash`, "tab\t newline\n return\r nul\x00 bell\x07 del\x7f",
	"é ü 漢字 😀", "bad utf-8 \xff\xfe end", "truncated \xe6\xbc", "line sep \u2028 para sep \u2029", "<script>&amp;</script>",
	"https://client.example.com/metadata.json?x=1#frag"}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range awkwardStrings {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

// checkJSONString: appendJSONString(s) is valid JSON that decodes to what encoding/json's
// encoding of s decodes to (invalid UTF-8 becomes U+FFFD in both).
func checkJSONString(t *testing.T, s string) {
	got := appendJSONString(nil, s)
	var fromOurs, fromStd string
	if err := json.Unmarshal(got, &fromOurs); err != nil {
		t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, got, err)
	}
	std, _ := json.Marshal(s)
	if err := json.Unmarshal(std, &fromStd); err != nil {
		t.Fatal(err)
	}
	if fromOurs != fromStd {
		t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json's to %q", s, fromOurs, fromStd)
	}
}

func TestAccessClaimsJSONMatchesEncodingJSON(t *testing.T) {
	date := func(sec int64) *jwt.NumericDate { d := jwt.NumericDate(sec); return &d }
	cases := []accessClaims{
		{Issuer: "https://as.example.com", Subject: "user-1", Audience: jwt.Audience{"https://mcp.example.com/mcp"}, ClientID: "c1",
			Scope: "weather:read stocks:read", Expiry: date(1800000000), IssuedAt: date(1799999000), NotBefore: date(1799999000),
			ID: "jti-1", QuotaTier: "gold", GrantID: "g1"},
		{Issuer: "https://as.example.com", Subject: "c2", Audience: jwt.Audience{"https://a.example/mcp", "https://b.example/mcp"},
			ClientID: "c2", Expiry: date(1), IssuedAt: date(0), ID: "j"},
		{Audience: jwt.Audience{}},
		{},
	}
	for _, s := range awkwardStrings {
		cases = append(cases, accessClaims{Issuer: s, Subject: s, Audience: jwt.Audience{s, s}, ClientID: s, Scope: s, ID: s,
			QuotaTier: s, GrantID: s, Expiry: date(-5)})
	}
	for _, c := range cases {
		got := c.appendJSON(nil)
		std, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var fromOurs, fromStd any
		if err := json.Unmarshal(got, &fromOurs); err != nil {
			t.Fatalf("appendJSON of %+v = %s: not JSON: %v", c, got, err)
		}
		_ = json.Unmarshal(std, &fromStd)
		if !reflect.DeepEqual(fromOurs, fromStd) {
			t.Errorf("appendJSON of %+v:\n got %s\nwant %s", c, got, std)
		}
	}
}

func TestTokenResponseJSONMatchesEncodingJSON(t *testing.T) {
	for _, r := range []tokenResponse{
		{AccessToken: "eyJ.eyJ.sig", TokenType: "Bearer", ExpiresIn: 3600, Scope: "a b", RefreshToken: "mrf_x"},
		{AccessToken: "eyJ.eyJ.sig", TokenType: "Bearer", ExpiresIn: 0},
		{AccessToken: awkwardStrings[3], TokenType: awkwardStrings[5], ExpiresIn: -1, Scope: awkwardStrings[7]},
	} {
		rec := httptest.NewRecorder()
		r.write(rec)
		std, _ := json.Marshal(r)
		var fromOurs, fromStd any
		if err := json.Unmarshal(rec.Body.Bytes(), &fromOurs); err != nil {
			t.Fatalf("%+v written as %s: not JSON: %v", r, rec.Body, err)
		}
		_ = json.Unmarshal(std, &fromStd)
		if !reflect.DeepEqual(fromOurs, fromStd) {
			t.Errorf("%+v:\n got %s\nwant %s", r, rec.Body, std)
		}
		for name, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store",
			"Pragma": "no-cache", "X-Content-Type-Options": "nosniff"} {
			if got := rec.Header().Get(name); got != want || rec.Code != 200 {
				t.Errorf("%d, %s: %q, want 200 and %q", rec.Code, name, got, want)
			}
		}
	}
}

// TestRawSignature: the R || S form of signatures whose r or s has leading zero bytes (shorter
// INTEGERs) verifies, and malformed DER is refused.
func TestRawSignature(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	short := 0
	for i := 0; i < 2000 && (i < 200 || short < 2); i++ {
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig, err := rawSignature(der)
		if err != nil {
			t.Fatal(err)
		}
		if sig[0] == 0 || sig[32] == 0 {
			short++
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
			t.Fatalf("signature %d does not verify in R || S form", i)
		}
	}
	if short < 2 {
		t.Fatalf("only %d signatures with a leading zero byte were tried", short)
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, bytes.Repeat([]byte{0x30}, 80),
		append([]byte{0x30, 0x46, 0x02, 0x21, 0x01}, make([]byte, 32+35)...)} {
		if _, err := rawSignature(bad); err == nil {
			t.Errorf("rawSignature(%x) accepted", bad)
		}
	}
}
