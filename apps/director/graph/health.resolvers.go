package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *queryResolver) HealthChecks(ctx context.Context, types []model.HealthCheckType, origin *string, first *int, after *string) (*model.HealthCheckPage, error) {
	return r.HealthSvc.List(ctx, types, origin, pageSize(first), deref(after))
}
