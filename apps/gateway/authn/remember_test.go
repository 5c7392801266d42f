package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// swappableKeys is a key source whose set a test replaces, as a refetched JWKS would be.
type swappableKeys struct{ set *jose.JSONWebKeySet }

func (s *swappableKeys) Keys(context.Context) (*jose.JSONWebKeySet, error) { return s.set, nil }

func keySet(keys ...*ecdsa.PrivateKey) *jose.JSONWebKeySet {
	set := &jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256"})
	}
	return set
}

func TestRememberedTokensAreBelievedOnlyWhileTheyWouldVerify(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issued := time.Now()
	raw := signClaims(t, key, devtoken.Claims{
		Claims: jwt.Claims{Subject: "ann", IssuedAt: jwt.NewNumericDate(issued), Expiry: jwt.NewNumericDate(issued.Add(time.Minute))},
		Tenant: "acme", Scope: "application:read",
	})
	keys := &swappableKeys{set: keySet(key)}
	now := issued
	v := &authn.Verifier{Keys: keys, Now: func() time.Time { return now }, Remember: true}
	ctx := context.Background()
	for range 3 {
		id, err := v.Verify(ctx, raw)
		if err != nil || id.Tenant != "acme" || len(id.Scopes) != 1 {
			t.Fatalf("%+v %v", id, err)
		}
	}

	// Past exp and the leeway: refused, remembered or not.
	now = issued.Add(91 * time.Second)
	if _, err := v.Verify(ctx, raw); !errors.Is(err, authn.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	now = issued

	// The issuer withdrew the key: the next key set does not verify the token, and it is refused at once.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys.set = keySet(other)
	if _, err := v.Verify(ctx, raw); !errors.Is(err, authn.ErrBadSignature) {
		t.Fatalf("key withdrawn: %v", err)
	}
	// A new set that still holds the key verifies it again.
	keys.set = keySet(other, key)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("key back: %v", err)
	}
}

// countingClients counts the Connector's answers, which a remembered token must not skip.
type countingClients struct {
	known map[string]bool
	asked int
}

func (c *countingClients) Known(_ context.Context, id string) (bool, error) {
	c.asked++
	return c.known[id], nil
}

func TestRememberedClientTokensStillAskTheConnector(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	raw := signClaims(t, key, devtoken.Claims{
		Claims: jwt.Claims{Issuer: "connector", Subject: "app-1", IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		Tenant: "t1", ConsumerType: identity.ConsumerApplication, ClientID: "c1",
	})
	clients := &countingClients{known: map[string]bool{"c1": true}}
	m := authn.ClientCredentials{
		Verifier: &authn.Verifier{Keys: &swappableKeys{set: keySet(key)}, Issuer: "connector", Remember: true,
			ConsumerTypes: []string{identity.ConsumerApplication}},
		Clients: clients,
	}
	call := func() error {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/director/graphql", nil)
		c.Request.Header.Set("Authorization", "Bearer "+raw)
		if !m.Applies(c) {
			t.Fatal("a Connector token was not recognised")
		}
		_, err := m.Authenticate(c)
		return err
	}
	for range 2 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	delete(clients.known, "c1")
	if err := call(); err == nil {
		t.Fatal("a remembered token of deleted credentials was accepted")
	}
	if clients.asked != 3 {
		t.Fatalf("the Connector was asked %d times for 3 requests", clients.asked)
	}
}
