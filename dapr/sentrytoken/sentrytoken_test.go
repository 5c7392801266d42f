package sentrytoken_test

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/dapr/sentrytoken"
)

// What sentry's jwks validator checks (dapr pkg/sentry/server/validator/jwks): a signature by a key of the
// set, found by its kid; the audience is sentry's SPIFFE ID; the subject is the identity asked for.
func TestTokenIsWhatSentryChecks(t *testing.T) {
	issuer, err := sentrytoken.New()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := issuer.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID == "" || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("key set: %s", raw)
	}

	tok, err := issuer.Token("mgmtplane", "director")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := parsed.Headers[0].KeyID; kid != set.Keys[0].KeyID {
		t.Fatalf("kid %q, want the set's %q", kid, set.Keys[0].KeyID)
	}
	var c jwt.Claims
	if err := parsed.Claims(set.Keys[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(jwt.Expected{
		Subject:     "spiffe://public/ns/mgmtplane/director",
		AnyAudience: jwt.Audience{"spiffe://localhost/ns/default/dapr-sentry"},
	}); err != nil {
		t.Fatal(err)
	}

	// Another issuer's set does not verify it: tokens of an earlier start are worthless.
	other, _ := sentrytoken.New()
	otherRaw, _ := other.JWKS()
	var otherSet jose.JSONWebKeySet
	_ = json.Unmarshal(otherRaw, &otherSet)
	if err := parsed.Claims(otherSet.Keys[0].Key, &c); err == nil {
		t.Fatal("another issuer's key verified the token")
	}
}
