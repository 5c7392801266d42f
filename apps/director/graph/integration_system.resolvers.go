package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *integrationSystemResolver) Auths(ctx context.Context, obj *model.IntegrationSystem) ([]*model.SystemAuth, error) {
	return r.systemAuths(ctx, identity.ConsumerIntegrationSystem, obj.ID)
}

func (r *mutationResolver) RegisterIntegrationSystem(ctx context.Context, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	return r.IntegrationSystemSvc.Register(ctx, in)
}

func (r *mutationResolver) UpdateIntegrationSystem(ctx context.Context, id string, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	return r.IntegrationSystemSvc.Update(ctx, id, in)
}

func (r *mutationResolver) UnregisterIntegrationSystem(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	if _, err := r.IntegrationSystemSvc.Get(ctx, id); err != nil {
		return nil, err
	}
	// As for applications: delete its credentials first, so that a failure leaves it registered rather
	// than its credentials working. Integration systems are global; so is the deletion.
	if err := r.Pairing.RevokeAll(ctx, identity.ConsumerIntegrationSystem, id); err != nil {
		return nil, err
	}
	return r.IntegrationSystemSvc.Unregister(ctx, id)
}

func (r *queryResolver) IntegrationSystems(ctx context.Context, first *int, after *string) (*model.IntegrationSystemPage, error) {
	return r.IntegrationSystemSvc.List(ctx, pageSize(first), deref(after))
}

func (r *queryResolver) IntegrationSystem(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	return nullIfNotFound(r.IntegrationSystemSvc.Get(ctx, id))
}

func (r *Resolver) IntegrationSystem() generated.IntegrationSystemResolver {
	return &integrationSystemResolver{r}
}

type integrationSystemResolver struct{ *Resolver }
