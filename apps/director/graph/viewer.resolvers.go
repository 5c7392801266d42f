package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *queryResolver) Viewer(ctx context.Context) (*model.Viewer, error) {
	id, ok := identity.FromContext(ctx)
	if !ok || id.Subject == "" {
		return nil, apperr.New(apperr.CodeUnauthenticated, "the request carries no caller identity")
	}
	// The gateway names consumer types as the schema does; anything else is treated as a user.
	t := model.ViewerType(id.ConsumerType)
	if !t.IsValid() {
		t = model.ViewerTypeUser
	}
	return &model.Viewer{ID: id.Subject, Type: t}, nil
}
