package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *applicationResolver) Labels(ctx context.Context, obj *model.Application, key *string) (map[string]any, error) {
	if key == nil {
		return obj.Labels, nil
	}
	v, ok := obj.Labels[*key]
	if !ok {
		return map[string]any{}, nil
	}
	return map[string]any{*key: v}, nil
}

func (r *applicationResolver) Bundles(ctx context.Context, obj *model.Application, first *int, after *string) (*model.BundlePage, error) {
	// Bundles cannot be created yet (addBundle answers NOT_IMPLEMENTED), so every application has none.
	return &model.BundlePage{Data: []*model.Bundle{}, PageInfo: &model.PageInfo{StartCursor: deref(after)}}, nil
}

func (r *applicationResolver) Bundle(ctx context.Context, obj *model.Application, id string) (*model.Bundle, error) {
	return nil, nil
}

func (r *applicationResolver) Auths(ctx context.Context, obj *model.Application) ([]*model.SystemAuth, error) {
	// System auths are issued by the Connector, which does not exist yet; so there are none.
	return []*model.SystemAuth{}, nil
}

func (r *applicationResolver) EventingConfiguration(ctx context.Context, obj *model.Application) (*model.ApplicationEventingConfiguration, error) {
	return nil, nil
}

func (r *mutationResolver) RegisterApplication(ctx context.Context, in model.ApplicationRegisterInput) (*model.Application, error) {
	return r.Apps.Register(ctx, in)
}

func (r *mutationResolver) UpdateApplication(ctx context.Context, id string, in model.ApplicationUpdateInput) (*model.Application, error) {
	return nil, notImplemented("updateApplication")
}

func (r *mutationResolver) UnregisterApplication(ctx context.Context, id string) (*model.Application, error) {
	return nil, notImplemented("unregisterApplication")
}

func (r *mutationResolver) SetApplicationLabel(ctx context.Context, applicationID string, key string, value any) (*model.Label, error) {
	return nil, notImplemented("setApplicationLabel")
}

func (r *mutationResolver) DeleteApplicationLabel(ctx context.Context, applicationID string, key string) (*model.Label, error) {
	return nil, notImplemented("deleteApplicationLabel")
}

func (r *queryResolver) Applications(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.ApplicationPage, error) {
	if len(filter) > 0 {
		return nil, notImplemented("applications(filter)")
	}
	return r.Resolver.Apps.List(ctx, pageSize(first), deref(after))
}

func (r *queryResolver) Application(ctx context.Context, id string) (*model.Application, error) {
	return nullIfNotFound(r.Apps.Get(ctx, id))
}

func (r *queryResolver) ApplicationsForRuntime(ctx context.Context, runtimeID string, first *int, after *string) (*model.ApplicationPage, error) {
	return nil, notImplemented("applicationsForRuntime")
}

func (r *Resolver) Application() generated.ApplicationResolver { return &applicationResolver{r} }

type applicationResolver struct{ *Resolver }
