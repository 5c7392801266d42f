package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/secret"
)

// The key material lives in Dapr secret stores under two secrets: the private signing key, which only the
// gateway may read (locally a store scoped to the gateway, components/gatewaysecrets.yaml; on Kubernetes
// RBAC and the Configuration's secret scopes), and the public key set, which every app reads. Apps never
// fetch keys over the network, so nothing on the network can slip them one.
const (
	SigningKeySecret = "mesh-assertion-signing-key"
	SigningKeyField  = "jwk"
	PublicKeysSecret = "mesh-assertion-keys"
	PublicKeysField  = "jwks"
)

// keepRetired is how many earlier public keys a rotation keeps in the set, so assertions signed just
// before the rotation still verify and a gateway replica still on the old key keeps working.
const keepRetired = 2

// GenerateKey returns a new P-256 signing key with a random key id.
func GenerateKey() (*jose.JSONWebKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &jose.JSONWebKey{Key: k, KeyID: "mesh-" + hex.EncodeToString(id[:]), Algorithm: string(jose.ES256), Use: "sig"}, nil
}

// Rotate returns the secrets' new values after a rotation: a new signing key, and a public set with its
// public half first, followed by up to keepRetired keys from current (the public set before, or nil).
func Rotate(current *jose.JSONWebKeySet) (signing *jose.JSONWebKey, public *jose.JSONWebKeySet, err error) {
	signing, err = GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	public = &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{signing.Public()}}
	if current != nil {
		n := min(len(current.Keys), keepRetired)
		public.Keys = append(public.Keys, current.Keys[:n]...)
	}
	return signing, public, nil
}

// Encode turns a key or key set into the string a secret holds.
func Encode(v any) (string, error) {
	raw, err := json.Marshal(v)
	return string(raw), err
}

// ReadSigningKey reads the gateway's signing key from the secret store.
func ReadSigningKey(ctx context.Context, g secret.Getter, store string) (*jose.JSONWebKey, error) {
	m, err := secret.Read(ctx, g, store, SigningKeySecret, SigningKeyField)
	if err != nil {
		return nil, err
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(m[SigningKeyField]), &k); err != nil {
		return nil, fmt.Errorf("secret %s: not a JWK: %w", SigningKeySecret, err)
	}
	if k.IsPublic() || k.KeyID == "" {
		return nil, fmt.Errorf("secret %s: want a private key with a key id", SigningKeySecret)
	}
	return &k, nil
}

// ReadPublicKeys reads the public key set from the secret store.
func ReadPublicKeys(ctx context.Context, g secret.Getter, store string) (*jose.JSONWebKeySet, error) {
	m, err := secret.Read(ctx, g, store, PublicKeysSecret, PublicKeysField)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(m[PublicKeysField]), &set); err != nil {
		return nil, fmt.Errorf("secret %s: not a JWKS: %w", PublicKeysSecret, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("secret %s holds a private key; it must hold public keys only", PublicKeysSecret)
		}
	}
	return &set, nil
}

// SecretKeys is the public key set read from a Dapr secret store, kept for TTL and read again at once when
// an assertion names a key id it does not hold (a rotation), but at most every MinRefresh.
type SecretKeys struct {
	Getter     secret.Getter
	Store      string
	TTL        time.Duration // 5 minutes when zero
	MinRefresh time.Duration // 5 seconds when zero

	mu   sync.Mutex
	set  *jose.JSONWebKeySet
	read time.Time
}

// Key implements Keys.
func (s *SecretKeys) Key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl, minRefresh := s.TTL, s.MinRefresh
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	if minRefresh == 0 {
		minRefresh = 5 * time.Second
	}
	if s.set != nil && time.Since(s.read) < ttl {
		if k := find(s.set, kid); k != nil {
			return k, nil
		}
		if time.Since(s.read) < minRefresh {
			return nil, ErrUnknownKey // do not let made-up key ids hammer the secret store
		}
	}
	set, err := ReadPublicKeys(ctx, s.Getter, s.Store)
	if err != nil {
		if s.set != nil {
			// The store is briefly unreachable: keep verifying with the keys we have.
			if k := find(s.set, kid); k != nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("assertion keys: %w", err)
	}
	s.set, s.read = set, time.Now()
	if k := find(set, kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func find(set *jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	if kid == "" {
		return nil
	}
	// Not set.Key, which copies every matching key into a new slice: this runs on every request, and the
	// sets are never changed once read (a new read makes a new set).
	for i := range set.Keys {
		if set.Keys[i].KeyID == kid {
			return &set.Keys[i]
		}
	}
	return nil
}

// StaticKeys is a fixed key set, for tests.
type StaticKeys jose.JSONWebKeySet

// Key implements Keys.
func (s *StaticKeys) Key(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k := find((*jose.JSONWebKeySet)(s), kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// EnsureLocal makes sure the local secrets files (the JSON files behind secretstores.local.file
// components) hold a signing key and its public key set, generating them on first use; with rotate it
// rotates them. The public set goes into publicFile, which every app's secret store reads; the signing key
// into signingFile, whose store only the gateway loads. Local runs and the end-to-end tests call it before
// any sidecar starts; on Kubernetes the secrets are made once by hand.
func EnsureLocal(publicFile, signingFile string, rotate bool) error {
	cur, err := secret.ReadFile(publicFile, PublicKeysSecret)
	if err != nil {
		return err
	}
	signingNow, err := secret.ReadFile(signingFile, SigningKeySecret)
	if err != nil {
		return err
	}
	var public *jose.JSONWebKeySet
	if raw := cur[PublicKeysField]; raw != "" {
		public = &jose.JSONWebKeySet{}
		if err := json.Unmarshal([]byte(raw), public); err != nil {
			return fmt.Errorf("%s in %s: %w", PublicKeysSecret, publicFile, err)
		}
		if !rotate && signingNow[SigningKeyField] != "" {
			return nil
		}
	}
	signing, public, err := Rotate(public)
	if err != nil {
		return err
	}
	priv, err := Encode(signing)
	if err != nil {
		return err
	}
	pub, err := Encode(public)
	if err != nil {
		return err
	}
	// The public half first: an app that sees the new key id before the key set reads the set again.
	if err := secret.WriteFile(publicFile, PublicKeysSecret, map[string]string{PublicKeysField: pub}); err != nil {
		return err
	}
	return secret.WriteFile(signingFile, SigningKeySecret, map[string]string{SigningKeyField: priv})
}

// ForApp returns the verifier of the app appID, reading the public keys from store through its sidecar. It
// remembers the assertions that verified (Verifier.Remember).
func ForApp(g secret.Getter, store, appID string) *Verifier {
	return &Verifier{Keys: &SecretKeys{Getter: g, Store: store}, Audience: appID, Remember: true}
}

// SecretSigner signs with the key in the secret store and picks up a rotated key without a restart.
type SecretSigner struct {
	Getter secret.Getter
	Store  string
	TTL    time.Duration
	// Reuse is how long an assertion is handed out again for the same caller and audience (Signer.Reuse).
	Reuse time.Duration

	cur atomic.Pointer[Signer]
	kid atomic.Pointer[string]
}

// Load reads the signing key; the gateway calls it once at start and refuses to start without a key.
func (s *SecretSigner) Load(ctx context.Context) error {
	key, err := ReadSigningKey(ctx, s.Getter, s.Store)
	if err != nil {
		return err
	}
	if cur := s.kid.Load(); cur != nil && *cur == key.KeyID {
		return nil
	}
	signer, err := NewSigner(key, s.TTL)
	if err != nil {
		return err
	}
	// A new key starts with nothing to reuse: assertions signed with the old one are not handed out again.
	s.cur.Store(signer.Reuse(s.Reuse))
	s.kid.Store(&key.KeyID)
	return nil
}

// Watch reads the key again every interval until ctx ends. A failed read keeps the current key.
func (s *SecretSigner) Watch(ctx context.Context, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			before := s.kid.Load()
			if err := s.Load(ctx); err != nil {
				log.WarnContext(ctx, "assertion signing key not read again; keeping the current one", "err", err)
			} else if after := s.kid.Load(); before == nil || *before != *after {
				log.InfoContext(ctx, "assertion signing key rotated", "kid", *after)
			}
		}
	}
}

// Sign signs with the current key; Load must have succeeded once.
func (s *SecretSigner) Sign(id identity.Identity, audience ...string) (string, error) {
	cur := s.cur.Load()
	if cur == nil {
		return "", errors.New("assertion signing key not loaded")
	}
	return cur.Sign(id, audience...)
}
