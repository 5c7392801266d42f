package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *queryResolver) Viewer(ctx context.Context) (*model.Viewer, error) {
	return nil, notImplemented("viewer")
}
