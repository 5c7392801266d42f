package authn

import (
	"encoding/base64"
	"testing"
)

// claimsIssuer's shortcut (no issuer bytes in the payload: not the issuer) must answer as decoding the
// JSON would, escapes included.
func TestClaimsIssuer(t *testing.T) {
	token := func(payload string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
	}
	const iss = "mgmtplane-connector"
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{token(`{"iss":"mgmtplane-connector","sub":"c1"}`), true},
		{token(`{"iss":"https://idp.example.com","sub":"ann"}`), false},
		// Spelled with JSON escapes: no literal issuer bytes, still the issuer.
		{token(`{"iss":"\u006dgmtplane-connector"}`), true},
		{token(`{"iss":"mgmtplane\u002dconnector"}`), true},
		// The issuer's bytes elsewhere, another iss.
		{token(`{"iss":"idp","sub":"mgmtplane-connector"}`), false},
		{token(`{"sub":"ann"}`), false},
		{token(`not json mgmtplane-connector`), false},
		{"no-dots", false},
		{"a.!!!.c", false},
	} {
		if got := claimsIssuer(tc.raw, iss); got != tc.want {
			t.Errorf("claimsIssuer(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
	// Without a configured issuer, only tokens that claim none apply, as before.
	if !claimsIssuer(token(`{"sub":"ann"}`), "") || claimsIssuer(token(`{"iss":"idp"}`), "") {
		t.Error("empty issuer")
	}
}

// What every bearer request pays to learn that its token is not the Connector's.
func BenchmarkClaimsIssuerOther(b *testing.B) {
	raw := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(
		`{"iss":"https://idp.example.com","sub":"ann","tenant":"acme","scopes":["application:read","application:write","runtime:read"],"exp":1900000000,"iat":1800000000}`)) + ".sig"
	b.ReportAllocs()
	for b.Loop() {
		if claimsIssuer(raw, "mgmtplane-connector") {
			b.Fatal("applies")
		}
	}
}
