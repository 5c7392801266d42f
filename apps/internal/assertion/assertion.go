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
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/expiring"
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
	// reuse is how long an assertion is handed out again for the same caller and audience (0: never); see
	// Reuse.
	reuse  time.Duration
	signed *expiring.Map[string, string]
}

// cacheSize bounds the assertions a Signer keeps for reuse and the verified ones a Verifier remembers:
// beyond the callers active within a few seconds, an entry only saves one signature.
const cacheSize = 10000

// Reuse makes s hand out an assertion it signed less than d ago again, for the same caller (every field
// of the identity) and the same audience, instead of signing a new one on every request: signing is most
// of what vouching costs, and an app that verified an assertion can skip checking the same one again.
// d is at most a third of the assertion's lifetime, so that a reused assertion still has two thirds of it
// left when it leaves the gateway. Assertions for one-time tokens are never reused.
func (s *Signer) Reuse(d time.Duration) *Signer {
	s.reuse = min(d, s.ttl/3)
	if s.reuse > 0 {
		s.signed = expiring.New[string, string](cacheSize)
	}
	return s
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
	var key string
	if s.signed != nil && id.ConnectorToken == "" {
		key = reuseKey(id, audience)
		if raw, ok := s.signed.Get(key, now); ok {
			return raw, nil
		}
	}
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
	if key != "" {
		s.signed.Put(key, raw, now.Add(s.reuse), now)
	}
	return raw, nil
}

// reuseKey names a caller and audience: every field that goes into an assertion, separated by a byte
// that none of them contains (tenants, subjects, scopes and serials are printable).
func reuseKey(id identity.Identity, audience []string) string {
	// Sized up front: built on every request, the builder otherwise grows (and copies) several times.
	n := len(id.Tenant) + len(id.Subject) + len(id.ConsumerType) + len(id.CertSerial) + 5 + len(id.Scopes) + len(audience)
	for _, sc := range id.Scopes {
		n += len(sc)
	}
	for _, a := range audience {
		n += len(a)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range []string{id.Tenant, id.Subject, id.ConsumerType, id.CertSerial} {
		b.WriteString(f)
		b.WriteByte(0)
	}
	for _, sc := range id.Scopes {
		b.WriteString(sc)
		b.WriteByte(1)
	}
	b.WriteByte(0)
	for _, a := range audience {
		b.WriteString(a)
		b.WriteByte(1)
	}
	return b.String()
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
	// Remember, when set, keeps the assertions that verified until they expire, so that the same
	// assertion on the next request (the gateway reuses them for a few seconds, see Signer.Reuse) skips
	// parsing and the signature check. Every other check runs again on each request (but the tenant's
	// pattern, which depends on nothing but the claims), and the key that signed it must still be in the
	// key set under its id.
	Remember bool

	once     sync.Once
	verified *expiring.Map[[sha256.Size]byte, verified]
}

// verified is an assertion whose signature checked out, and the key that signed it.
type verified struct {
	claims Claims
	kid    string
	key    *ecdsa.PublicKey
}

// Verify checks raw and returns the claims it carries.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	if raw == "" {
		return Claims{}, ErrMissing
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if !v.Remember {
		c, _, err := v.verifySignature(ctx, raw)
		if err != nil {
			return Claims{}, err
		}
		return v.validate(c, now())
	}
	v.once.Do(func() { v.verified = expiring.New[[sha256.Size]byte, verified](cacheSize) })
	// Keyed by a hash: the cache need not hold credentials.
	sum := sha256.Sum256([]byte(raw))
	t := now()
	if hit, ok := v.verified.Get(sum, t); ok {
		key, err := v.Keys.Key(ctx, hit.kid)
		if err != nil {
			// The key was retired (or cannot be read): no assertion it signed is believed any more.
			v.verified.Delete(sum)
			return Claims{}, err
		}
		// The same key object (the key set was not read again) needs no comparison; Equal compares the
		// coordinates through big.Int.Bytes, which allocates.
		if pub, ok := key.Key.(*ecdsa.PublicKey); ok && (pub == hit.key || pub.Equal(hit.key)) {
			// The tenant's pattern is not matched again: it held for these very claims when they were
			// remembered, and they cannot have changed since. The checks that depend on the time, and
			// the others, run again.
			return v.check(hit.claims, t, false)
		}
		v.verified.Delete(sum)
	}
	c, sig, err := v.verifySignature(ctx, raw)
	if err != nil {
		return Claims{}, err
	}
	if c, err = v.validate(c, t); err != nil {
		return Claims{}, err
	}
	if sig.key != nil {
		// Requests share the remembered claims: clipped, an append to them copies instead of writing
		// into another request's slice.
		c.Scopes, c.Audience = slices.Clip(c.Scopes), slices.Clip(c.Audience)
		sig.claims = c
		v.verified.Put(sum, sig, c.Expiry.Time().Add(leeway), t)
	}
	return c, nil
}

// verifySignature parses raw and checks its signature; it returns the claims and the key that signed them.
func (v *Verifier) verifySignature(ctx context.Context, raw string) (Claims, verified, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return Claims{}, verified{}, ErrMalformed
	}
	kid := tok.Headers[0].KeyID
	key, err := v.Keys.Key(ctx, kid)
	if err != nil {
		return Claims{}, verified{}, err
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return Claims{}, verified{}, ErrSignature
	}
	pub, _ := key.Key.(*ecdsa.PublicKey)
	return c, verified{kid: kid, key: pub}, nil
}

// validate checks everything but the signature: lifetime, time, issuer, audience, tenant.
func (v *Verifier) validate(c Claims, now time.Time) (Claims, error) {
	return v.check(c, now, true)
}

// check is validate, the tenant's pattern matched only with tenant set (a regular expression, the most
// costly of these checks).
func (v *Verifier) check(c Claims, now time.Time, tenant bool) (Claims, error) {
	if c.Expiry == nil || c.IssuedAt == nil || c.ID == "" {
		return Claims{}, fmt.Errorf("%w: exp, iat and jti are required", ErrMalformed)
	}
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) > MaxTTL {
		return Claims{}, ErrLifetime
	}
	err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, Time: now}, leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Claims{}, ErrExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !slices.Contains(c.Audience, v.Audience) {
		return Claims{}, ErrAudience
	}
	if tenant && c.Tenant != "" {
		if err := identity.ValidateTenant(c.Tenant); err != nil {
			return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return c, nil
}
