package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *applicationResolver) Labels(ctx context.Context, obj *model.Application, key *string) (map[string]any, error) {
	return labelsOf(obj.Labels, key), nil
}

func (r *applicationResolver) Bundles(ctx context.Context, obj *model.Application, first *int, after *string) (*model.BundlePage, error) {
	return loaders.For(ctx).BundlesOf(ctx, obj.ID, pageSize(first), deref(after))
}

func (r *applicationResolver) Bundle(ctx context.Context, obj *model.Application, id string) (*model.Bundle, error) {
	return loaders.For(ctx).BundleOf(ctx, obj.ID, id)
}

func (r *applicationResolver) Auths(ctx context.Context, obj *model.Application) ([]*model.SystemAuth, error) {
	if isRuntime(ctx) {
		return nil, access.NotAllowed()
	}
	return r.systemAuths(ctx, identity.ConsumerApplication, obj.ID)
}

func (r *applicationResolver) EventingConfiguration(ctx context.Context, obj *model.Application) (*model.ApplicationEventingConfiguration, error) {
	return r.EventingSvc.ForApplication(ctx, obj)
}

func (r *mutationResolver) RegisterApplication(ctx context.Context, in model.ApplicationRegisterInput) (*model.Application, error) {
	if err := r.TenantSvc.Ensure(ctx); err != nil {
		return nil, err
	}
	return r.Apps.Register(ctx, in)
}

func (r *mutationResolver) UpdateApplication(ctx context.Context, id string, in model.ApplicationUpdateInput) (*model.Application, error) {
	return r.Apps.Update(ctx, id, in)
}

func (r *mutationResolver) UnregisterApplication(ctx context.Context, id string) (*model.Application, error) {
	if _, err := r.Apps.Get(ctx, id); err != nil {
		return nil, err
	}
	// Its certificates go first: if the Connector cannot be reached, nothing is removed and the caller
	// tries again, rather than leaving working certificates of a gone application.
	if err := r.Pairing.RevokeAll(ctx, identity.ConsumerApplication, id); err != nil {
		return nil, err
	}
	app, err := r.Apps.Unregister(ctx, id)
	if err != nil {
		return nil, err
	}
	// The default-eventing setting has no meaning without the application.
	return app, r.EventingSvc.Forget(ctx, id)
}

func (r *mutationResolver) SetApplicationLabel(ctx context.Context, applicationID string, key string, value any) (*model.Label, error) {
	return r.Apps.SetLabel(ctx, applicationID, key, value)
}

func (r *mutationResolver) DeleteApplicationLabel(ctx context.Context, applicationID string, key string) (*model.Label, error) {
	return r.Apps.DeleteLabel(ctx, applicationID, key)
}

func (r *queryResolver) Applications(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.ApplicationPage, error) {
	p, err := r.Apps.List(ctx, filter, pageSize(first), deref(after))
	return pageForCaller(ctx, p), err
}

func (r *queryResolver) Application(ctx context.Context, id string) (*model.Application, error) {
	app, err := nullIfNotFound(r.Apps.Get(ctx, id))
	return forCaller(ctx, app), err
}

func (r *queryResolver) ApplicationByName(ctx context.Context, name string) (*model.Application, error) {
	app, err := nullIfNotFound(r.Apps.ByName(ctx, name))
	return forCaller(ctx, app), err
}

func (r *queryResolver) ApplicationsForRuntime(ctx context.Context, runtimeID string, first *int, after *string) (*model.ApplicationPage, error) {
	rt, err := r.RuntimeSvc.Get(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	p, err := r.Apps.ForRuntime(ctx, rt, pageSize(first), deref(after))
	return pageForCaller(ctx, p), err
}

func (r *Resolver) Application() generated.ApplicationResolver { return &applicationResolver{r} }

type applicationResolver struct{ *Resolver }
