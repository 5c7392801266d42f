// Package tenant keeps the list of tenants the management plane has seen. Tenants are not created through
// the API: a tenant becomes known the first time it stores something, when the registration paths call
// Ensure.
package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of tenants; the id is the tenant id.
const Kind = "tenant"

// listPage is how many tenants one registry read returns while listing them all.
const listPage = 200

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// record is what is stored per tenant.
type record struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
}

// Service records and lists tenants. It is safe for concurrent use.
type Service struct {
	store Store
	now   func() time.Time

	mu    sync.Mutex
	known map[string]bool // tenants already stored, so that Ensure costs no write after the first call
}

// NewService returns a service keeping tenants in store.
func NewService(store Store) *Service {
	return &Service{store: store, now: time.Now, known: map[string]bool{}}
}

var scope = registry.GlobalScope(Kind)

// Ensure records the caller's tenant unless it is already known.
func (s *Service) Ensure(ctx context.Context) error {
	id, err := identity.TenantFrom(ctx)
	if err != nil {
		return apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	s.mu.Lock()
	known := s.known[id]
	s.mu.Unlock()
	if known {
		return nil
	}
	// Another replica may have stored it already: read before writing.
	var cur record
	err = s.store.Get(ctx, scope, id, &cur)
	if errors.Is(err, registry.ErrNotFound) {
		rec := record{ID: id, CreatedAt: s.now().UTC()}
		// The write id is the same for every writer, so concurrent first calls (here or in another replica)
		// leave the first record in place instead of rewriting it.
		err = s.store.Mutate(ctx, scope, id, "ensure:"+id, func(cur []byte) (registry.Change, error) {
			if cur != nil {
				return registry.Change{Data: json.RawMessage(cur)}, nil
			}
			return registry.Change{Data: rec}, nil
		})
	}
	if err != nil {
		return fmt.Errorf("record tenant %s: %w", id, err)
	}
	s.mu.Lock()
	s.known[id] = true
	s.mu.Unlock()
	return nil
}

// List returns every known tenant, in the order they were first seen.
func (s *Service) List(ctx context.Context) ([]*model.Tenant, error) {
	var out []*model.Tenant
	for after := ""; ; {
		recs, p, err := registry.ListAs[record](ctx, s.store, scope, registry.IndexAll, listPage, after)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, r := range recs {
			out = append(out, toTenant(r.ID))
		}
		if !p.HasNextPage {
			break
		}
		after = p.EndCursor
	}
	if out == nil {
		out = []*model.Tenant{}
	}
	return out, nil
}

// toTenant describes a tenant. The management plane uses the caller's tenant id as it is, so the external
// and internal ids are the same and there is no separate name. A tenant is recorded when it first stores
// data, so every listed tenant is initialized.
func toTenant(id string) *model.Tenant {
	initialized := true
	return &model.Tenant{ID: id, InternalID: id, Name: &id, Initialized: &initialized}
}
