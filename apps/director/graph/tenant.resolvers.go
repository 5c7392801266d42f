package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *queryResolver) Tenants(ctx context.Context) ([]*model.Tenant, error) {
	return r.TenantSvc.List(ctx)
}
