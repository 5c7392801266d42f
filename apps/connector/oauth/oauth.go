// Package oauth gives applications, runtimes and integration systems OAuth 2.0 client credentials (the
// Compass requestClientCredentialsFor* mutations) and trades them for short-lived access tokens with the
// client credentials grant (RFC 6749 §4.4). Access tokens are JWTs (ES256) signed with the Connector's
// own key; the gateway verifies them against the key set this package publishes and asks, on every
// request, whether the client still exists, so deleting the credentials takes effect at once, as revoking
// a certificate does.
//
// Only a hash of each client secret is stored: the secret is shown once, when the credentials are created.
package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Clients are looked up by client id alone at the token endpoint, where the tenant is not known yet.
var clientScope = registry.GlobalScope("oauthclient")

// ownerIndex lists the clients of one consumer across tenants: an integration system is global, and its
// clients go with it whichever tenant they were created in. Consumer types and ids cannot contain ':'.
func ownerIndex(consumerType, consumerID string) string {
	return "owner:" + consumerType + ":" + consumerID
}

// consumerTypes may hold client credentials.
var consumerTypes = []string{identity.ConsumerApplication, identity.ConsumerRuntime, identity.ConsumerIntegrationSystem}

// Config is the token policy.
type Config struct {
	// Issuer is the iss claim of access tokens; the gateway accepts client-credential tokens by it.
	Issuer string
	// TokenURL is where clients exchange their credentials (the gateway's /oauth/token), handed out with them.
	TokenURL string
	TokenTTL time.Duration
}

// Store is the part of the Registry the service needs.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Client is a set of client credentials without its secret.
type Client struct {
	ClientID  string      `json:"clientId"`
	Owner     trust.Owner `json:"owner"`
	URL       string      `json:"url"`
	CreatedAt time.Time   `json:"createdAt"`
}

// Credentials are a new client with its secret, which is never shown again.
type Credentials struct {
	Client
	ClientSecret string `json:"clientSecret"`
}

type record struct {
	ClientID   string      `json:"clientId"`
	Owner      trust.Owner `json:"owner"`
	SecretHash string      `json:"secretHash"` // hex SHA-256 of the secret; it has 256 random bits, so no slow hash is needed
	CreatedAt  time.Time   `json:"createdAt"`
}

// AccessToken is the token endpoint's answer (RFC 6749 §5.1).
type AccessToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// ErrInvalidClient is the one answer for an unknown client or a wrong secret (RFC 6749 "invalid_client").
var ErrInvalidClient = apperr.New(apperr.CodeUnauthenticated, "invalid client credentials")

// Service manages client credentials and issues access tokens.
type Service struct {
	log    *slog.Logger
	store  Store
	cfg    Config
	signer jose.Signer
	jwk    jose.JSONWebKey
	now    func() time.Time
}

// NewService returns the service signing with key. now is the clock (time.Now outside tests).
func NewService(log *slog.Logger, store Store, key *ecdsa.PrivateKey, cfg Config, now func() time.Time) (*Service, error) {
	jwk, err := publicJWK(key)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), jwk.KeyID))
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	return &Service{log: log, store: store, cfg: cfg, signer: signer, jwk: jwk, now: now}, nil
}

// JWKS is the key set access tokens verify against.
func (s *Service) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.jwk}}
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create makes new client credentials for o. The caller (the Director) has checked that o exists.
func (s *Service) Create(ctx context.Context, o trust.Owner) (*Credentials, error) {
	if err := o.ValidateAs(consumerTypes...); err != nil {
		return nil, err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("client secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(buf)
	rec := record{ClientID: uuid.NewString(), Owner: o, SecretHash: hashSecret(secret), CreatedAt: s.now().UTC()}
	err := s.store.Mutate(ctx, clientScope, rec.ClientID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("client %s: %w", rec.ClientID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: rec, Indexes: []string{ownerIndex(o.ConsumerType, o.ConsumerID)}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store client for %s %s: %w", o.ConsumerType, o.ConsumerID, err)
	}
	s.log.InfoContext(ctx, "client credentials created", "tenant", o.Tenant, "consumer_type", o.ConsumerType,
		"consumer_id", o.ConsumerID, "client_id", rec.ClientID)
	return &Credentials{Client: s.client(rec), ClientSecret: secret}, nil
}

func (s *Service) client(r record) Client {
	return Client{ClientID: r.ClientID, Owner: r.Owner, URL: s.cfg.TokenURL, CreatedAt: r.CreatedAt}
}

// List returns the clients of each owner, only those created in the owner's tenant, oldest first.
func (s *Service) List(ctx context.Context, owners []trust.Owner) ([]Client, error) {
	var out []Client
	for _, o := range owners {
		if err := o.ValidateAs(consumerTypes...); err != nil {
			return nil, err
		}
		recs, err := s.ofConsumer(ctx, o.ConsumerType, o.ConsumerID)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Owner == o {
				out = append(out, s.client(*r))
			}
		}
	}
	return out, nil
}

// ofConsumer reads every client of a consumer, in all tenants.
func (s *Service) ofConsumer(ctx context.Context, consumerType, consumerID string) ([]*record, error) {
	var (
		out   []*record
		after string
	)
	for {
		recs, p, err := registry.ListAs[record](ctx, s.store, clientScope, ownerIndex(consumerType, consumerID), 200, after)
		if err != nil {
			return nil, fmt.Errorf("clients of %s %s: %w", consumerType, consumerID, err)
		}
		out = append(out, recs...)
		if !p.HasNextPage {
			return out, nil
		}
		after = p.EndCursor
	}
}

// Delete removes the client clientID of a consumer of consumerType in tenant; any other client is
// NOT_FOUND, so that one tenant cannot learn of another's clients.
func (s *Service) Delete(ctx context.Context, tenant, consumerType, clientID string) (*Client, error) {
	if _, err := uuid.Parse(clientID); err != nil {
		return nil, apperr.NotFound("system auth", clientID)
	}
	var deleted record
	err := s.store.Mutate(ctx, clientScope, clientID, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("system auth", clientID)
		}
		if err := json.Unmarshal(cur, &deleted); err != nil {
			return registry.Change{}, fmt.Errorf("decode client: %w", err)
		}
		if deleted.Owner.Tenant != tenant || deleted.Owner.ConsumerType != consumerType {
			return registry.Change{}, apperr.NotFound("system auth", clientID)
		}
		return registry.Change{}, nil // delete
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "client credentials deleted", "tenant", tenant, "consumer_type", consumerType,
		"consumer_id", deleted.Owner.ConsumerID, "client_id", clientID)
	c := s.client(deleted)
	return &c, nil
}

// DeleteConsumer removes every client of a consumer, in all tenants, for an application, runtime or
// integration system that was unregistered, and returns how many it removed.
func (s *Service) DeleteConsumer(ctx context.Context, consumerType, consumerID string) (int, error) {
	recs, err := s.ofConsumer(ctx, consumerType, consumerID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if _, err := s.Delete(ctx, r.Owner.Tenant, consumerType, r.ClientID); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return n, err
		}
		n++
	}
	return n, nil
}

// Known reports whether client clientID exists; the gateway asks for every access token it is shown.
func (s *Service) Known(ctx context.Context, clientID string) (bool, error) {
	if _, err := uuid.Parse(clientID); err != nil {
		return false, nil
	}
	var rec record
	if err := s.store.Get(ctx, clientScope, clientID, &rec); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("client %s: %w", clientID, err)
	}
	return true, nil
}

// Authenticate checks a client's id and secret and returns whose credentials they are; ErrInvalidClient
// when the client is unknown or the secret wrong.
func (s *Service) Authenticate(ctx context.Context, clientID, secret string) (trust.Owner, error) {
	rec, err := s.authenticate(ctx, clientID, secret)
	if err != nil {
		return trust.Owner{}, err
	}
	return rec.Owner, nil
}

func (s *Service) authenticate(ctx context.Context, clientID, secret string) (*record, error) {
	if _, err := uuid.Parse(clientID); err != nil || secret == "" || len(secret) > 256 {
		return nil, ErrInvalidClient
	}
	var rec record
	if err := s.store.Get(ctx, clientScope, clientID, &rec); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, ErrInvalidClient
		}
		return nil, fmt.Errorf("client %s: %w", clientID, err)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(rec.SecretHash)) != 1 {
		s.log.WarnContext(ctx, "wrong client secret", "client_id", clientID, "tenant", rec.Owner.Tenant)
		return nil, ErrInvalidClient
	}
	return &rec, nil
}

// Exchange checks a client's credentials and issues an access token for its owner.
func (s *Service) Exchange(ctx context.Context, clientID, secret string) (*AccessToken, error) {
	rec, err := s.authenticate(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	now := s.now()
	claims := devtoken.Claims{
		Claims: jwt.Claims{
			Issuer: s.cfg.Issuer, Subject: rec.Owner.ConsumerID, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(s.cfg.TokenTTL)),
		},
		Tenant: rec.Owner.Tenant, ConsumerType: rec.Owner.ConsumerType, ClientID: rec.ClientID,
	}
	raw, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &AccessToken{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int(s.cfg.TokenTTL / time.Second)}, nil
}
