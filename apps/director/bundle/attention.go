package bundle

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// InstanceAuthRef is an instance auth with the bundle and application it belongs to, so that a list
// across the tenant can say where to answer it.
type InstanceAuthRef struct {
	ApplicationID, BundleID string
	Auth                    *model.BundleInstanceAuth
}

// InstanceAuthPage is one page of instance auths across the tenant.
type InstanceAuthPage struct {
	Items    []InstanceAuthRef
	PageInfo *model.PageInfo
	Total    int
}

// InstanceAuthsByCondition pages through the tenant's instance auths in one condition, in the order they
// came to it: the FAILED ones are what an operator looks at first. It reads only those, from the index
// each write keeps. Applications and runtimes see their own instance auths where they always did; this
// list is for the people who run the tenant.
func (s *Service) InstanceAuthsByCondition(ctx context.Context, cond model.BundleInstanceAuthStatusCondition, first int, after string) (*InstanceAuthPage, error) {
	switch access.Caller(ctx).ConsumerType {
	case identity.ConsumerApplication, identity.ConsumerRuntime:
		return nil, access.NotAllowed()
	}
	if !cond.IsValid() {
		return nil, apperr.Invalid("condition %q is not valid", cond)
	}
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	if registry.CheckCursor(after) != nil {
		return nil, apperr.Invalid("after: not a cursor this API handed out")
	}
	sc, err := registry.TenantScope(ctx, KindInstanceAuth)
	if err != nil {
		return nil, err
	}
	recs, p, err := registry.ListAs[authRecord](ctx, s.store, sc, conditionIndex(cond), first, after)
	if err != nil {
		return nil, fmt.Errorf("list %s instance auths: %w", cond, err)
	}
	// One more read for the applications of the bundles on the page.
	bundles := map[string]string{}
	var ids []string
	for _, r := range recs {
		if _, ok := bundles[r.BundleID]; !ok {
			bundles[r.BundleID] = ""
			ids = append(ids, r.BundleID)
		}
	}
	bsc, err := registry.TenantScope(ctx, KindBundle)
	if err != nil {
		return nil, err
	}
	err = s.store.GetMany(ctx, bsc, ids, func(id string, data []byte) error {
		var b bundleRecord
		if err := json.Unmarshal(data, &b); err != nil {
			return fmt.Errorf("decode bundle %s: %w", id, err)
		}
		bundles[id] = b.ApplicationID
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &InstanceAuthPage{Items: make([]InstanceAuthRef, 0, len(recs)), Total: int(p.TotalCount),
		PageInfo: model.NewPageInfo(after, p.EndCursor, p.HasNextPage)}
	for _, r := range recs {
		out.Items = append(out.Items, InstanceAuthRef{ApplicationID: bundles[r.BundleID], BundleID: r.BundleID, Auth: r.model()})
	}
	return out, nil
}
