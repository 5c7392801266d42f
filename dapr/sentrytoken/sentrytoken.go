// Package sentrytoken issues the tokens with which the plane's sidecars ask the local sentry for their mTLS
// certificates. Sentry's jwks validator (dapr/sentry.yaml) signs a certificate for an identity only when the
// sidecar presents a JWT for exactly that identity, signed by a key in the set it was given: so a process
// that is not one of the plane's apps cannot get a certificate for their ids, as it can from a self-hosted
// sentry without a validator.
//
// An Issuer's key lives only in memory. Whoever starts sentry makes a new Issuer, gives sentry its JWKS and
// each sidecar its own token; when that process ends, nobody can mint another token for that sentry.
package sentrytoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SentryAudience is the SPIFFE ID of a self-hosted sentry as daprd and sentry see it: control-plane trust
// domain "localhost" (sentry's --trust-domain), namespace "default" (sentry's NAMESPACE). The validator
// accepts only tokens for this audience.
const SentryAudience = "spiffe://localhost/ns/default/dapr-sentry"

// TrustDomain is the trust domain self-hosted sentry gives every app; the access policies name it.
const TrustDomain = "public"

// Issuer signs sidecar tokens with a key of its own.
type Issuer struct {
	key    *ecdsa.PrivateKey
	kid    string
	signer jose.Signer
}

// New makes an Issuer with a new ES256 key.
func New() (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sentry token key: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	kid := "mgmtplane-" + hex.EncodeToString(id)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("sentry token signer: %w", err)
	}
	return &Issuer{key: key, kid: kid, signer: signer}, nil
}

// JWKS returns the public key set for sentry's jwks validator (its "source" option).
func (i *Issuer) JWKS() ([]byte, error) {
	return json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: i.key.Public(), KeyID: i.kid, Algorithm: string(jose.ES256), Use: "sig"},
	}})
}

// Token returns the token of the sidecar of appID in namespace (the NAMESPACE of that daprd). It has no
// expiry: daprd reads it again at every certificate renewal, and it is worth nothing to a sentry started
// with another Issuer's key set.
func (i *Issuer) Token(namespace, appID string) (string, error) {
	return jwt.Signed(i.signer).Claims(jwt.Claims{
		Subject:  fmt.Sprintf("spiffe://%s/ns/%s/%s", TrustDomain, namespace, appID),
		Audience: jwt.Audience{SentryAudience},
		IssuedAt: jwt.NewNumericDate(time.Now()),
	}).Serialize()
}
