package trust

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Tokens are 256 random bits, base64url without padding: 43 characters, safe in URLs and headers.
const (
	tokenBytes = 32
	tokenLen   = 43
)

// Only the presenter of a token knows its owner's tenant, so tokens live outside tenant scopes.
var tokenScope = registry.GlobalScope("onetimetoken")

// ErrInvalidToken is the one answer for a token that is malformed, unknown, used or expired: telling them
// apart would only help someone guessing tokens.
var ErrInvalidToken = apperr.New(apperr.CodeUnauthenticated, "invalid, used or expired one-time token")

var errTokenClash = errors.New("token clash")

// tokenRecord is what is stored for a token, under the hash of the token.
type tokenRecord struct {
	Owner
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// tokenKey returns the storage id of a token: the SHA-256 of its value, so that a copy of the store holds
// nothing a client could present. Anything that is not a well-formed token is refused before any lookup.
func tokenKey(token string) (string, error) {
	if len(token) != tokenLen {
		return "", ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return "", ErrInvalidToken
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

func (s *Service) tokenTTL(consumerType string) time.Duration {
	if consumerType == identity.ConsumerRuntime {
		return s.cfg.TokenTTLRuntime
	}
	return s.cfg.TokenTTLApplication
}

// IssueToken creates a one-time token for o. It expires after the TTL configured for o's consumer type;
// the store forgets it then too.
func (s *Service) IssueToken(ctx context.Context, o Owner) (*Token, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	buf := make([]byte, tokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(buf)
	key, err := tokenKey(value)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	now := s.now().UTC()
	ttl := s.tokenTTL(o.ConsumerType)
	rec := tokenRecord{Owner: o, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.store.Mutate(ctx, tokenScope, key, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, errTokenClash // 2^-256; never silently hand out someone else's token
		}
		return registry.Change{Data: rec, TTL: ttl}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store token for %s %s: %w", o.ConsumerType, o.ConsumerID, err)
	}
	s.log.InfoContext(ctx, "one-time token issued", "tenant", o.Tenant, "consumer_type", o.ConsumerType,
		"consumer_id", o.ConsumerID, "expires_at", rec.ExpiresAt)
	return &Token{Token: value, ConnectorURL: s.cfg.ConnectorURL, ExpiresAt: rec.ExpiresAt}, nil
}

// peekToken returns the owner of a valid token without using it up.
func (s *Service) peekToken(ctx context.Context, token string) (Owner, error) {
	key, err := tokenKey(token)
	if err != nil {
		return Owner{}, err
	}
	var rec tokenRecord
	if err := s.store.Get(ctx, tokenScope, key, &rec); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return Owner{}, ErrInvalidToken
		}
		return Owner{}, fmt.Errorf("read token: %w", err)
	}
	// The store deletes expired tokens lazily, if at all; the expiry time is the authority.
	if !s.now().Before(rec.ExpiresAt) {
		return Owner{}, ErrInvalidToken
	}
	return rec.Owner, nil
}

// consumeToken uses a token up and returns its owner. The token is deleted in a write guarded by its
// ETag, so of two concurrent uses exactly one succeeds. An expired token is deleted and refused.
func (s *Service) consumeToken(ctx context.Context, token string) (Owner, error) {
	key, err := tokenKey(token)
	if err != nil {
		return Owner{}, err
	}
	var (
		owner   Owner
		expired bool
	)
	err = s.store.Mutate(ctx, tokenScope, key, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, ErrInvalidToken
		}
		var rec tokenRecord
		if err := json.Unmarshal(cur, &rec); err != nil {
			return registry.Change{}, fmt.Errorf("decode token: %w", err)
		}
		owner, expired = rec.Owner, !s.now().Before(rec.ExpiresAt)
		return registry.Change{}, nil // delete
	})
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Owner{}, ErrInvalidToken
		}
		return Owner{}, fmt.Errorf("use token: %w", err)
	}
	if expired {
		return Owner{}, ErrInvalidToken
	}
	return owner, nil
}
