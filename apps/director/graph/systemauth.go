package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

// systemAuths lists the credentials of one application, runtime or integration system.
func (r *Resolver) systemAuths(ctx context.Context, consumerType, consumerID string) ([]*model.SystemAuth, error) {
	return []*model.SystemAuth{}, nil
}
