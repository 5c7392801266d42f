package assertion_test

import (
	"context"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// What an assertion adds to each request: the gateway signs once, the app verifies once (and the Director
// or Governor once more when it passes the assertion on).
func BenchmarkSign(b *testing.B) {
	kit := assertiontest.New(b)
	id := identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kit.Signer.Sign(id, "director", "connector"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	kit := assertiontest.New(b)
	raw := kit.Sign(b, identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}, "director", "connector")
	v := kit.Verifier("director")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
