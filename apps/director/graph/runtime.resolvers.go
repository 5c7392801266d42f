package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *mutationResolver) RegisterRuntime(ctx context.Context, in model.RuntimeInput) (*model.Runtime, error) {
	if err := r.TenantSvc.Ensure(ctx); err != nil {
		return nil, err
	}
	return r.RuntimeSvc.Register(ctx, in)
}

func (r *mutationResolver) UpdateRuntime(ctx context.Context, id string, in model.RuntimeInput) (*model.Runtime, error) {
	return r.RuntimeSvc.Update(ctx, id, in)
}

func (r *mutationResolver) UnregisterRuntime(ctx context.Context, id string) (*model.Runtime, error) {
	if _, err := r.RuntimeSvc.Get(ctx, id); err != nil {
		return nil, err
	}
	// As for applications: revoke first, so that a failure leaves the runtime registered, not its
	// certificates working.
	if err := r.Pairing.RevokeAll(ctx, identity.ConsumerRuntime, id); err != nil {
		return nil, err
	}
	return r.RuntimeSvc.Unregister(ctx, id)
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
	return r.RuntimeSvc.SetLabel(ctx, runtimeID, key, value)
}

func (r *mutationResolver) DeleteRuntimeLabel(ctx context.Context, runtimeID string, key string) (*model.Label, error) {
	return r.RuntimeSvc.DeleteLabel(ctx, runtimeID, key)
}

func (r *mutationResolver) Heartbeat(ctx context.Context, runtimeID string) (*model.Runtime, error) {
	return r.RuntimeSvc.Heartbeat(ctx, runtimeID)
}

func (r *queryResolver) Runtimes(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.RuntimePage, error) {
	return r.RuntimeSvc.List(ctx, filter, pageSize(first), deref(after))
}

func (r *queryResolver) Runtime(ctx context.Context, id string) (*model.Runtime, error) {
	return nullIfNotFound(r.RuntimeSvc.Get(ctx, id))
}

func (r *queryResolver) RuntimeContexts(ctx context.Context, filter []*model.LabelFilter, first *int, after *string) (*model.RuntimeContextPage, error) {
	return nil, notImplemented("runtimeContexts")
}

func (r *queryResolver) RuntimeContext(ctx context.Context, id string) (*model.RuntimeContext, error) {
	return nil, notImplemented("runtimeContext")
}

func (r *runtimeResolver) Labels(ctx context.Context, obj *model.Runtime, key *string) (map[string]any, error) {
	return labelsOf(obj.Labels, key), nil
}

func (r *runtimeResolver) Auths(ctx context.Context, obj *model.Runtime) ([]*model.SystemAuth, error) {
	return r.systemAuths(ctx, identity.ConsumerRuntime, obj.ID)
}

func (r *runtimeResolver) EventingConfiguration(ctx context.Context, obj *model.Runtime) (*model.RuntimeEventingConfiguration, error) {
	return nil, nil
}

func (r *Resolver) Runtime() generated.RuntimeResolver { return &runtimeResolver{r} }

type runtimeResolver struct{ *Resolver }
