package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type staticKeys struct{ set *jose.JSONWebKeySet }

func (s staticKeys) Keys(context.Context) (*jose.JSONWebKeySet, error) { return s.set, nil }

type knownClients map[string]bool

func (k knownClients) Known(_ context.Context, id string) (bool, error) { return k[id], nil }

func signClaims(t *testing.T, key *ecdsa.PrivateKey, c devtoken.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestClientCredentials(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m := authn.ClientCredentials{
		Verifier: &authn.Verifier{
			Keys:          staticKeys{&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256"}}}},
			Issuer:        "connector",
			ConsumerTypes: []string{identity.ConsumerApplication, identity.ConsumerRuntime, identity.ConsumerIntegrationSystem},
		},
		Clients: knownClients{"c1": true},
	}
	claims := func(iss, ct, client string) devtoken.Claims {
		now := time.Now()
		return devtoken.Claims{
			Claims:       jwt.Claims{Issuer: iss, Subject: "rt-1", Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)},
			Tenant:       "t1",
			ConsumerType: ct, ClientID: client,
			Scopes: []string{identity.ScopeTenantRead}, // ignored: scopes follow the consumer type
		}
	}
	ctxWith := func(token string) *gin.Context {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/director/graphql", nil)
		c.Request.Header.Set("Authorization", "Bearer "+token)
		return c
	}

	good := ctxWith(signClaims(t, key, claims("connector", identity.ConsumerRuntime, "c1")))
	if !m.Applies(good) {
		t.Fatal("a Connector token was not recognised")
	}
	id, err := m.Authenticate(good)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := identity.ConsumerScopes(identity.ConsumerRuntime)
	if id.Tenant != "t1" || id.Subject != "rt-1" || id.ConsumerType != identity.ConsumerRuntime || !slices.Equal(id.Scopes, want) {
		t.Fatalf("identity %+v", id)
	}

	if m.Applies(ctxWith(signClaims(t, key, claims("idp", identity.ConsumerUser, "")))) {
		t.Error("a token of another issuer was taken for a Connector token")
	}
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"deleted client":   {signClaims(t, key, claims("connector", identity.ConsumerRuntime, "gone")), nil},
		"no client id":     {signClaims(t, key, claims("connector", identity.ConsumerRuntime, "")), authn.ErrBadToken},
		"user type":        {signClaims(t, key, claims("connector", identity.ConsumerUser, "c1")), authn.ErrBadToken},
		"forged signature": {signClaims(t, other, claims("connector", identity.ConsumerRuntime, "c1")), authn.ErrBadSignature},
	} {
		_, err := m.Authenticate(ctxWith(tc.token))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
