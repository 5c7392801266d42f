package assertion

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func testSigner(t *testing.T, ttl time.Duration) (*Signer, *jose.JSONWebKey, *time.Time) {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(key, ttl)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.now = func() time.Time { return now }
	return s, key, &now
}

func TestSignerReusesWithinItsWindowOnly(t *testing.T) {
	s, _, now := testSigner(t, 30*time.Second)
	s.Reuse(time.Minute) // capped at a third of the lifetime
	if s.reuse != 10*time.Second {
		t.Fatalf("reuse %s, want 10s", s.reuse)
	}
	ann := identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser, Scopes: []string{"application:read"}}
	first, _ := s.Sign(ann, "director", "connector")
	if again, _ := s.Sign(ann, "director", "connector"); again != first {
		t.Fatal("not reused for the same caller and audience")
	}
	for name, other := range map[string]func() (string, error){
		"other audience": func() (string, error) { return s.Sign(ann, "director") },
		"other tenant": func() (string, error) {
			id := ann
			id.Tenant = "other"
			return s.Sign(id, "director", "connector")
		},
		"more scopes": func() (string, error) {
			id := ann
			id.Scopes = []string{"application:read", "application:write"}
			return s.Sign(id, "director", "connector")
		},
		"certificate": func() (string, error) {
			id := ann
			id.CertSerial = "ab12"
			return s.Sign(id, "director", "connector")
		},
	} {
		if raw, err := other(); err != nil || raw == first {
			t.Errorf("%s: got the same assertion (%v)", name, err)
		}
	}
	*now = now.Add(10 * time.Second)
	if later, _ := s.Sign(ann, "director", "connector"); later == first {
		t.Fatal("reused after its window")
	}

	ott := identity.Identity{ConnectorToken: "tok"}
	a, _ := s.Sign(ott, "connector")
	if b, _ := s.Sign(ott, "connector"); a == b {
		t.Fatal("an assertion for a one-time token was reused")
	}
}

func TestSignerWithoutReuseSignsEachTime(t *testing.T) {
	s, _, _ := testSigner(t, 30*time.Second)
	id := identity.Identity{Tenant: "acme", Subject: "ann"}
	a, _ := s.Sign(id, "director")
	if b, _ := s.Sign(id, "director"); a == b {
		t.Fatal("reused without Reuse")
	}
}

// mutableKeys is a key set a test can change between verifications.
type mutableKeys struct{ set jose.JSONWebKeySet }

func (m *mutableKeys) Key(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k := find(&m.set, kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func TestRememberedAssertionsAreCheckedAgain(t *testing.T) {
	s, key, signedAt := testSigner(t, 30*time.Second)
	raw, err := s.Sign(identity.Identity{Tenant: "acme", Subject: "ann", Scopes: []string{"application:read"}}, "director")
	if err != nil {
		t.Fatal(err)
	}
	keys := &mutableKeys{set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}}
	now := *signedAt
	v := &Verifier{Keys: keys, Audience: "director", Now: func() time.Time { return now }, Remember: true}
	ctx := context.Background()
	for range 2 {
		if c, err := v.Verify(ctx, raw); err != nil || c.Tenant != "acme" {
			t.Fatalf("%+v %v", c, err)
		}
	}
	if v.verified.Len() != 1 {
		t.Fatalf("%d remembered, want 1", v.verified.Len())
	}

	// Past its expiry (and the leeway), a remembered assertion is refused like any other.
	now = signedAt.Add(36 * time.Second)
	if _, err := v.Verify(ctx, raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	now = *signedAt

	// Another app's verifier does not believe it because this one did.
	other := &Verifier{Keys: keys, Audience: "governor", Now: v.Now, Remember: true}
	if _, err := other.Verify(ctx, raw); !errors.Is(err, ErrAudience) {
		t.Fatalf("other audience: %v", err)
	}

	// A key id that now names another key: the signature is checked again, and fails.
	replaced, _ := GenerateKey()
	replaced.KeyID = key.KeyID
	keys.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{replaced.Public()}}
	if _, err := v.Verify(ctx, raw); !errors.Is(err, ErrSignature) {
		t.Fatalf("key replaced: %v", err)
	}

	// A retired key: what it signed is no longer believed, remembered or not.
	keys.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	keys.set = jose.JSONWebKeySet{}
	if _, err := v.Verify(ctx, raw); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key retired: %v", err)
	}
}
