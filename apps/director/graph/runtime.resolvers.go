package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) RegisterRuntime(ctx context.Context, in model.RuntimeInput) (*model.Runtime, error) {
	return nil, notImplemented("registerRuntime")
}

func (r *mutationResolver) UpdateRuntime(ctx context.Context, id string, in model.RuntimeInput) (*model.Runtime, error) {
	return nil, notImplemented("updateRuntime")
}

func (r *mutationResolver) UnregisterRuntime(ctx context.Context, id string) (*model.Runtime, error) {
	return nil, notImplemented("unregisterRuntime")
}

func (r *mutationResolver) RegisterRuntimeContext(ctx context.Context, in model.RuntimeContextInput) (*model.RuntimeContext, error) {
	return nil, notImplemented("registerRuntimeContext")
}

func (r *mutationResolver) UpdateRuntimeContext(ctx context.Context, id string, in model.RuntimeContextInput) (*model.RuntimeContext, error) {
	return nil, notImplemented("updateRuntimeContext")
}

func (r *mutationResolver) UnregisterRuntimeContext(ctx context.Context, id string) (*model.RuntimeContext, error) {
	return nil, notImplemented("unregisterRuntimeContext")
}

func (r *mutationResolver) SetRuntimeLabel(ctx context.Context, runtimeID string, key string, value any) (*model.Label, error) {
	return nil, notImplemented("setRuntimeLabel")
}

func (r *mutationResolver) DeleteRuntimeLabel(ctx context.Context, runtimeID string, key string) (*model.Label, error) {
	return nil, notImplemented("deleteRuntimeLabel")
}

func (r *queryResolver) Runtimes(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.RuntimePage, error) {
	return nil, notImplemented("runtimes")
}

func (r *queryResolver) Runtime(ctx context.Context, id string) (*model.Runtime, error) {
	return nil, notImplemented("runtime")
}

func (r *queryResolver) RuntimeContexts(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.RuntimeContextPage, error) {
	return nil, notImplemented("runtimeContexts")
}

func (r *queryResolver) RuntimeContext(ctx context.Context, id string) (*model.RuntimeContext, error) {
	return nil, notImplemented("runtimeContext")
}

func (r *runtimeResolver) Labels(ctx context.Context, obj *model.Runtime, key *string) (map[string]any, error) {
	return nil, notImplemented("labels")
}

func (r *Resolver) Runtime() generated.RuntimeResolver { return &runtimeResolver{r} }

type runtimeResolver struct{ *Resolver }
