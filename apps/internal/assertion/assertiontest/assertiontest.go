// Package assertiontest signs caller assertions with a throwaway key, for unit tests of apps behind the
// gateway: they put a signed assertion on requests as the gateway would, and verify with the same key.
package assertiontest

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Kit is a signing key with its verifier side.
type Kit struct {
	Key    *jose.JSONWebKey
	Signer *assertion.Signer
	Keys   *assertion.StaticKeys
}

// New returns a kit with a new key.
func New(t testing.TB) *Kit {
	t.Helper()
	k, err := newKit()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustNew is New for package-level test fixtures; it panics when no key can be made.
func MustNew() *Kit {
	k, err := newKit()
	if err != nil {
		panic(err)
	}
	return k
}

func newKit() (*Kit, error) {
	key, err := assertion.GenerateKey()
	if err != nil {
		return nil, err
	}
	s, err := assertion.NewSigner(key, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &Kit{Key: key, Signer: s, Keys: &assertion.StaticKeys{Keys: []jose.JSONWebKey{key.Public()}}}, nil
}

// Sign returns an assertion for id addressed to audience.
func (k *Kit) Sign(t testing.TB, id identity.Identity, audience ...string) string {
	t.Helper()
	raw, err := k.Signer.Sign(id, audience...)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Header returns a header carrying an assertion for id addressed to audience.
func (k *Kit) Header(t testing.TB, id identity.Identity, audience ...string) http.Header {
	return http.Header{assertion.Header: {k.Sign(t, id, audience...)}}
}

// Verifier returns a verifier for app audience.
func (k *Kit) Verifier(audience string) *assertion.Verifier {
	return &assertion.Verifier{Keys: k.Keys, Audience: audience}
}

// Middleware returns assertion.Middleware for app audience.
func (k *Kit) Middleware(audience string) func(http.Handler) http.Handler {
	return assertion.Middleware(k.Verifier(audience), slog.New(slog.DiscardHandler))
}
