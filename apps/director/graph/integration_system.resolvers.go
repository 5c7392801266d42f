package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) RegisterIntegrationSystem(ctx context.Context, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	return nil, notImplemented("registerIntegrationSystem")
}

func (r *mutationResolver) UpdateIntegrationSystem(ctx context.Context, id string, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	return nil, notImplemented("updateIntegrationSystem")
}

func (r *mutationResolver) UnregisterIntegrationSystem(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	return nil, notImplemented("unregisterIntegrationSystem")
}

func (r *queryResolver) IntegrationSystems(ctx context.Context, first *int, after *string) (*model.IntegrationSystemPage, error) {
	return nil, notImplemented("integrationSystems")
}

func (r *queryResolver) IntegrationSystem(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	return nil, notImplemented("integrationSystem")
}
