package pairing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// TokenKind is the registry kind of the records of issued one-time tokens.
const TokenKind = "onetimetoken"

// Store keeps the records of issued one-time tokens; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// TokenRecord is what the Director keeps of a one-time token it had issued: not the token, which the
// Connector holds and shows once, but that it was issued, for whom and until when. In Compass every token
// request created a system auth of its owner, listed in its `auths`; these records are those entries.
type TokenRecord struct {
	ID           string    `json:"id"`
	ConsumerType string    `json:"consumerType"`
	ConsumerID   string    `json:"consumerID"`
	IssuedAt     time.Time `json:"issuedAt"`
	ExpiresAt    string    `json:"expiresAt,omitempty"`
}

// SystemAuth is one entry of a consumer's `auths`: client credentials, or the record of a one-time token
// (Client nil).
type SystemAuth struct {
	ID     string
	Client *Client
	Token  *TokenRecord
}

// ownerIndex holds the token records of one consumer.
func ownerIndex(consumerType, consumerID string) string {
	return "owner:" + consumerType + ":" + consumerID
}

// record stores the record of tok, just issued for consumerID of consumerType.
func (s *Service) record(ctx context.Context, consumerType, consumerID string, tok Token) error {
	sc, err := registry.TenantScope(ctx, TokenKind)
	if err != nil {
		return err
	}
	rec := TokenRecord{ID: uuid.NewString(), ConsumerType: consumerType, ConsumerID: consumerID,
		IssuedAt: s.now().UTC(), ExpiresAt: tok.ExpiresAt}
	err = s.store.Mutate(ctx, sc, rec.ID, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: rec, Indexes: []string{ownerIndex(consumerType, consumerID)}}, nil
	})
	if err != nil {
		return fmt.Errorf("record the one-time token of %s %s: %w", consumerType, consumerID, err)
	}
	return nil
}

// tokenRecords returns the token records of consumerID, oldest first.
func (s *Service) tokenRecords(ctx context.Context, consumerType, consumerID string) ([]*TokenRecord, error) {
	sc, err := registry.TenantScope(ctx, TokenKind)
	if err != nil {
		return nil, err
	}
	var out []*TokenRecord
	for after := ""; ; {
		recs, p, err := registry.ListAs[TokenRecord](ctx, s.store, sc, ownerIndex(consumerType, consumerID), 200, after)
		if err != nil {
			return nil, fmt.Errorf("one-time tokens of %s %s: %w", consumerType, consumerID, err)
		}
		out = append(out, recs...)
		if !p.HasNextPage {
			return out, nil
		}
		after = p.EndCursor
	}
}

// deleteTokenRecord removes the token record id when it belongs to a consumer of consumerType; found is
// false when there is no such record.
func (s *Service) deleteTokenRecord(ctx context.Context, consumerType, id string) (rec *TokenRecord, found bool, err error) {
	sc, err := registry.TenantScope(ctx, TokenKind)
	if err != nil {
		return nil, false, err
	}
	var r TokenRecord
	if err := s.store.Get(ctx, sc, id, &r); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read one-time token record %s: %w", id, err)
	}
	if r.ConsumerType != consumerType {
		return nil, false, nil
	}
	if err := s.store.Mutate(ctx, sc, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{}, nil
	}); err != nil {
		return nil, false, fmt.Errorf("delete one-time token record %s: %w", id, err)
	}
	return &r, true, nil
}

// forgetTokens removes every token record of consumerID: for its unregistration.
func (s *Service) forgetTokens(ctx context.Context, consumerType, consumerID string) error {
	recs, err := s.tokenRecords(ctx, consumerType, consumerID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, _, err := s.deleteTokenRecord(ctx, consumerType, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// SystemAuths returns the `auths` of each of consumerIDs (of consumerType, in the caller's tenant): their
// client credentials without secrets, from the Connector in one call, then the records of the one-time
// tokens issued for them, oldest first.
func (s *Service) SystemAuths(ctx context.Context, consumerType string, consumerIDs []string) (map[string][]SystemAuth, error) {
	clients, err := s.Clients(ctx, consumerType, consumerIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]SystemAuth, len(consumerIDs))
	for _, id := range consumerIDs {
		for _, c := range clients[id] {
			out[id] = append(out[id], SystemAuth{ID: c.ClientID, Client: &c})
		}
		if !tokensFor(consumerType) {
			continue
		}
		recs, err := s.tokenRecords(ctx, consumerType, id)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out[id] = append(out[id], SystemAuth{ID: r.ID, Token: r})
		}
	}
	return out, nil
}

// DeleteSystemAuth deletes the system auth authID of a consumer of consumerType in the caller's tenant:
// the record of a one-time token, or client credentials (see DeleteClient). Deleting a token's record does
// not withdraw the token: the Connector offers no way to, so it stays usable until it is used or expires.
func (s *Service) DeleteSystemAuth(ctx context.Context, consumerType, authID string) (SystemAuth, error) {
	if tokensFor(consumerType) {
		rec, found, err := s.deleteTokenRecord(ctx, consumerType, authID)
		if err != nil {
			return SystemAuth{}, err
		}
		if found {
			return SystemAuth{ID: rec.ID, Token: rec}, nil
		}
	}
	c, err := s.DeleteClient(ctx, consumerType, authID)
	if err != nil {
		return SystemAuth{}, err
	}
	return SystemAuth{ID: c.ClientID, Client: c}, nil
}

// tokensFor reports whether consumers of consumerType can have one-time tokens (and token records).
func tokensFor(consumerType string) bool {
	return consumerType == identity.ConsumerApplication || consumerType == identity.ConsumerRuntime
}
