package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) SetDefaultEventingForApplication(ctx context.Context, appID string, runtimeID string) (*model.ApplicationEventingConfiguration, error) {
	return r.EventingSvc.SetDefault(ctx, appID, runtimeID)
}

func (r *mutationResolver) DeleteDefaultEventingForApplication(ctx context.Context, appID string) (*model.ApplicationEventingConfiguration, error) {
	return r.EventingSvc.DeleteDefault(ctx, appID)
}
