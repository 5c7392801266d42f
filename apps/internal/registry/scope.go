package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// globalTenant owns objects that belong to no tenant (integration systems, for example). It cannot clash
// with a real tenant: tenant ids must start with a letter or digit.
const globalTenant = "_global"

// TenantScope returns the scope of kind for the tenant of the caller in ctx, or an UNAUTHENTICATED error.
func TenantScope(ctx context.Context, kind string) (Scope, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return Scope{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	return Scope{Tenant: tenant, Kind: kind}, nil
}

// GlobalScope returns the scope of kind for objects shared by all tenants.
func GlobalScope(kind string) Scope { return Scope{Tenant: globalTenant, Kind: kind} }

// Lister is the part of the Registry that ListAs needs.
type Lister interface {
	List(ctx context.Context, s Scope, index string, first int, after string) (Page, error)
	GetMany(ctx context.Context, s Scope, ids []string, decode func(id string, data []byte) error) error
}

// ListAs returns one page of an index with the entities decoded as T.
func ListAs[T any](ctx context.Context, r Lister, s Scope, index string, first int, after string) ([]*T, Page, error) {
	p, err := r.List(ctx, s, index, first, after)
	if err != nil {
		return nil, Page{}, err
	}
	out := make([]*T, 0, len(p.IDs))
	err = r.GetMany(ctx, s, p.IDs, func(id string, data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("decode %s %s: %w", s.Kind, id, err)
		}
		out = append(out, v)
		return nil
	})
	return out, p, err
}
