package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/expiring"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// acceptedAlgorithms are the only signatures the gateway verifies.
var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// KeySource yields the JSON Web Key Set that signs valid tokens.
type KeySource interface {
	Keys(ctx context.Context) (*jose.JSONWebKeySet, error)
}

// FileKeys reads a JWKS from a file, again only when the file changed.
type FileKeys struct {
	Path string

	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	modTime time.Time
	size    int64
}

// Keys implements KeySource.
func (f *FileKeys) Keys(context.Context) (*jose.JSONWebKeySet, error) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS %s: %w", f.Path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.set, nil
	}
	raw, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS %s: %w", f.Path, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS %s: %w", f.Path, err)
	}
	f.set, f.modTime, f.size = &set, st.ModTime(), st.Size()
	return f.set, nil
}

// URLKeys fetches a JWKS over HTTP and keeps it for TTL; an unknown key id triggers a refetch, so rotated
// keys are picked up at once.
type URLKeys struct {
	URL    string
	TTL    time.Duration
	Client *http.Client
	// Get, when set, fetches the key set instead of a GET of URL: the Connector's keys come through Dapr
	// service invocation.
	Get func(ctx context.Context) (*http.Response, error)

	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time
}

// Keys implements KeySource.
func (u *URLKeys) Keys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.set != nil && time.Since(u.fetched) < u.TTL {
		return u.set, nil
	}
	return u.fetch(ctx)
}

func (u *URLKeys) refresh(ctx context.Context) (*jose.JSONWebKeySet, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.set != nil && time.Since(u.fetched) < 10*time.Second {
		return u.set, nil // refetched moments ago; do not let bad tokens hammer the issuer
	}
	return u.fetch(ctx)
}

func (u *URLKeys) get(ctx context.Context) (*http.Response, error) {
	if u.Get != nil {
		return u.Get(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return nil, err
	}
	c := u.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	return c.Do(req)
}

func (u *URLKeys) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	resp, err := u.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	u.set, u.fetched = &set, time.Now()
	return u.set, nil
}

// Verifier checks bearer tokens.
type Verifier struct {
	Keys     KeySource
	Issuer   string // required issuer, when set
	Audience string // required audience, when set
	Now      func() time.Time
	// ConsumerTypes are the consumer types the tokens may name; nil means users and integration systems,
	// the callers an identity provider vouches for.
	ConsumerTypes []string
	// Remember, when set, keeps the tokens that verified until they expire, with the key set they verified
	// against: a client sends the same token on every request, and the signature check is most of what
	// verifying costs. A remembered token is believed only while the key source still gives that same key
	// set (a rotated or withdrawn key makes it check again) and only until its exp; checks beyond the token
	// (a client's credentials still existing, ClientCredentials) run on every request all the same.
	Remember bool

	once     sync.Once
	verified *expiring.Map[[sha256.Size]byte, verifiedToken]
}

// verifiedToken is a token that checked out, and the key set it checked out against.
type verifiedToken struct {
	id     identity.Identity
	claims devtoken.Claims
	keys   *jose.JSONWebKeySet
}

// tokenCacheSize bounds the tokens a Verifier remembers: the callers active within a token's lifetime.
const tokenCacheSize = 10000

// Errors returned by Verify, all answered with 401.
var (
	ErrNoToken      = errors.New("missing bearer token")
	ErrBadToken     = errors.New("malformed token")
	ErrBadSignature = errors.New("token signature does not verify")
	ErrExpired      = errors.New("token expired or not yet valid")
	ErrNoTenant     = errors.New("token carries no tenant claim")
)

// Verify checks raw's signature against the key set and its time and audience claims, and returns the
// caller it names.
func (v *Verifier) Verify(ctx context.Context, raw string) (identity.Identity, error) {
	id, _, err := v.verify(ctx, raw)
	return id, err
}

func (v *Verifier) verify(ctx context.Context, raw string) (identity.Identity, devtoken.Claims, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	if !v.Remember {
		var claims devtoken.Claims
		id, _, err := v.check(ctx, raw, &claims, t)
		return id, claims, err
	}
	v.once.Do(func() { v.verified = expiring.New[[sha256.Size]byte, verifiedToken](tokenCacheSize) })
	// Keyed by a hash: the cache need not hold credentials.
	sum := sha256.Sum256([]byte(raw))
	if hit, ok := v.verified.Get(sum, t); ok {
		set, err := v.Keys.Keys(ctx)
		if err != nil {
			return identity.Identity{}, devtoken.Claims{}, err
		}
		if set == hit.keys {
			return hit.id, hit.claims, nil
		}
		v.verified.Delete(sum)
	}
	var claims devtoken.Claims
	id, set, err := v.check(ctx, raw, &claims, t)
	if err != nil {
		return identity.Identity{}, devtoken.Claims{}, err
	}
	// Requests share the remembered identity: clipped, an append to its scopes copies instead of writing
	// into another request's slice. Remembered until exp exactly; past it the full check (with its leeway)
	// decides again.
	id.Scopes = slices.Clip(id.Scopes)
	v.verified.Put(sum, verifiedToken{id: id, claims: claims, keys: set}, claims.Expiry.Time(), t)
	return id, claims, nil
}

// check verifies raw completely at time now and returns the caller and the key set that verified it.
func (v *Verifier) check(ctx context.Context, raw string, claims *devtoken.Claims, now time.Time) (identity.Identity, *jose.JSONWebKeySet, error) {
	tok, err := jwt.ParseSigned(raw, acceptedAlgorithms)
	if err != nil {
		return identity.Identity{}, nil, ErrBadToken
	}
	set, err := v.Keys.Keys(ctx)
	if err != nil {
		return identity.Identity{}, nil, err
	}
	if err := v.claims(tok, set, claims); err != nil {
		if u, ok := v.Keys.(*URLKeys); ok && errors.Is(err, ErrBadSignature) {
			var rerr error
			if set, rerr = u.refresh(ctx); rerr == nil {
				err = v.claims(tok, set, claims)
			}
		}
		if err != nil {
			return identity.Identity{}, nil, err
		}
	}
	id, err := v.validate(claims, now)
	return id, set, err
}

// validate checks a token's claims, its signature checked, at time now.
func (v *Verifier) validate(claims *devtoken.Claims, now time.Time) (identity.Identity, error) {
	exp := jwt.Expected{Time: now, Issuer: v.Issuer}
	if v.Audience != "" {
		exp.AnyAudience = jwt.Audience{v.Audience}
	}
	if err := claims.Claims.ValidateWithLeeway(exp, 30*time.Second); err != nil {
		if errors.Is(err, jwt.ErrExpired) || errors.Is(err, jwt.ErrNotValidYet) || errors.Is(err, jwt.ErrIssuedInTheFuture) {
			return identity.Identity{}, ErrExpired
		}
		return identity.Identity{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if claims.Expiry == nil {
		return identity.Identity{}, fmt.Errorf("%w: no exp claim", ErrBadToken)
	}
	if err := identity.ValidateTenant(claims.Tenant); err != nil {
		return identity.Identity{}, ErrNoTenant
	}
	scopes := claims.Scopes
	if claims.Scope != "" {
		scopes = append(scopes, strings.Fields(claims.Scope)...)
	}
	ct := claims.ConsumerType
	if ct == "" {
		ct = identity.ConsumerUser
	}
	allowed := v.ConsumerTypes
	if allowed == nil {
		// Applications and runtimes authenticate with credentials from the Connector, never the IdP's.
		allowed = []string{identity.ConsumerUser, identity.ConsumerIntegrationSystem}
	}
	if !slices.Contains(allowed, ct) {
		return identity.Identity{}, fmt.Errorf("%w: consumerType %q cannot use these tokens", ErrBadToken, ct)
	}
	return identity.Identity{Tenant: claims.Tenant, Subject: claims.Subject, ConsumerType: ct, Scopes: scopes}, nil
}

func (v *Verifier) claims(tok *jwt.JSONWebToken, set *jose.JSONWebKeySet, out *devtoken.Claims) error {
	var keys []jose.JSONWebKey
	if len(tok.Headers) > 0 && tok.Headers[0].KeyID != "" {
		keys = set.Key(tok.Headers[0].KeyID)
	} else {
		keys = set.Keys
	}
	for _, k := range keys {
		if err := tok.Claims(k.Key, out); err == nil {
			return nil
		}
	}
	return ErrBadSignature
}
