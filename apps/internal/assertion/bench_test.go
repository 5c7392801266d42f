package assertion_test

import (
	"context"
	"testing"
	"time"

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

// The same, with the gateway reusing an assertion for a few seconds and the app remembering the ones it
// verified: what each request costs between two signatures.
func BenchmarkSignReused(b *testing.B) {
	kit := assertiontest.New(b)
	kit.Signer.Reuse(10 * time.Second)
	id := identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kit.Signer.Sign(id, "director", "connector"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRemembered(b *testing.B) {
	kit := assertiontest.New(b)
	raw := kit.Sign(b, identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}, "director", "connector")
	v := kit.Verifier("director")
	v.Remember = true
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
