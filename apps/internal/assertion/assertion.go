// Package assertion carries the caller's identity from the gateway to the apps behind it as a short-lived
// signed statement — an ES256 JWT in one header — instead of plain headers that any member of the mesh
// could write. The gateway signs (Signer); every app verifies signature, issuer, audience and lifetime in
// Middleware before it believes anything about the caller.
//
// The audience is the app the gateway forwards to plus the apps that app calls on the caller's behalf
// (the Director asks the Connector for tokens, the Governor asks the Director for a runtime's labels), so
// one assertion serves the whole chain of a request and each hop passes it on unchanged (Propagate). An
// app that calls another for itself, not for a caller, has no assertion to pass on and is refused.
package assertion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Header carries the assertion on service invocation. It has the X-Mp- prefix the gateway strips from
// every incoming request, so a client can never send one through the gateway.
const Header = "X-Mp-Assertion"

// Issuer is the iss of every assertion: only the gateway signs them.
const Issuer = "mgmtplane-gateway"

// MaxTTL bounds an assertion's lifetime. Apps refuse longer-lived ones even when the signature is good,
// so a signing mistake cannot mint long-lived credentials.
const MaxTTL = 60 * time.Second

// leeway absorbs clock differences between the gateway's and the app's hosts.
const leeway = 5 * time.Second

// Claims are the assertion's contents: the registered claims and the caller.
type Claims struct {
	jwt.Claims
	Tenant         string   `json:"tenant,omitempty"`
	ConsumerType   string   `json:"consumer_type,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	CertSerial     string   `json:"cert_serial,omitempty"`
	ConnectorToken string   `json:"connector_token,omitempty"`
}

// Identity returns the caller the claims name.
func (c Claims) Identity() identity.Identity {
	return identity.Identity{
		Tenant: c.Tenant, Subject: c.Subject, ConsumerType: c.ConsumerType, Scopes: c.Scopes,
		CertSerial: c.CertSerial, ConnectorToken: c.ConnectorToken,
	}
}

// Signer makes assertions. Only the gateway has one.
type Signer struct {
	signer jose.Signer
	ttl    time.Duration
	now    func() time.Time
}

// NewSigner returns a signer for the private key (an ECDSA P-256 JWK with a key id) whose assertions live
// for ttl (at most MaxTTL).
func NewSigner(key *jose.JSONWebKey, ttl time.Duration) (*Signer, error) {
	if key == nil || key.IsPublic() || key.KeyID == "" {
		return nil, errors.New("assertion signing key: want a private key with a key id")
	}
	if ttl <= 0 || ttl > MaxTTL {
		return nil, fmt.Errorf("assertion lifetime %s: want more than 0 and at most %s", ttl, MaxTTL)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("assertion signer: %w", err)
	}
	return &Signer{signer: s, ttl: ttl, now: time.Now}, nil
}

// Sign returns an assertion that id is calling, for the apps named in audience.
func (s *Signer) Sign(id identity.Identity, audience ...string) (string, error) {
	if len(audience) == 0 {
		return "", errors.New("assertion: no audience")
	}
	now := s.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := Claims{
		Claims: jwt.Claims{
			Issuer: Issuer, Subject: id.Subject, Audience: jwt.Audience(audience), ID: hex.EncodeToString(jti[:]),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(s.ttl)),
		},
		Tenant: id.Tenant, ConsumerType: id.ConsumerType, Scopes: id.Scopes, CertSerial: id.CertSerial,
		ConnectorToken: id.ConnectorToken,
	}
	raw, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	return raw, nil
}

// Keys finds the public key with a key id; SecretKeys reads them from a Dapr secret store.
type Keys interface {
	Key(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// Errors of Verify. All of them mean "do not believe this caller".
var (
	ErrMissing    = errors.New("no caller assertion: calls reach this app only through the gateway")
	ErrMalformed  = errors.New("caller assertion is malformed")
	ErrSignature  = errors.New("caller assertion signature does not verify")
	ErrExpired    = errors.New("caller assertion expired or not yet valid")
	ErrAudience   = errors.New("caller assertion is addressed to another app")
	ErrLifetime   = errors.New("caller assertion lives longer than allowed")
	ErrUnknownKey = errors.New("caller assertion is signed with an unknown key")
)

// Verifier checks assertions addressed to one app.
type Verifier struct {
	Keys Keys
	// Audience is this app's Dapr app id; assertions must name it.
	Audience string
	Now      func() time.Time
}

// Verify checks raw and returns the claims it carries.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	if raw == "" {
		return Claims{}, ErrMissing
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return Claims{}, ErrMalformed
	}
	key, err := v.Keys.Key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return Claims{}, err
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return Claims{}, ErrSignature
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.ID == "" {
		return Claims{}, fmt.Errorf("%w: exp, iat and jti are required", ErrMalformed)
	}
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) > MaxTTL {
		return Claims{}, ErrLifetime
	}
	err = c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, Time: now()}, leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Claims{}, ErrExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !slices.Contains(c.Audience, v.Audience) {
		return Claims{}, ErrAudience
	}
	if c.Tenant != "" {
		if err := identity.ValidateTenant(c.Tenant); err != nil {
			return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return c, nil
}
