package graph

import (
	"context"
	"time"

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
	return r.RuntimeContextSvc.Register(ctx, in)
}

func (r *mutationResolver) UpdateRuntimeContext(ctx context.Context, id string, in model.RuntimeContextInput) (*model.RuntimeContext, error) {
	return r.RuntimeContextSvc.Update(ctx, id, in)
}

func (r *mutationResolver) UnregisterRuntimeContext(ctx context.Context, id string) (*model.RuntimeContext, error) {
	return r.RuntimeContextSvc.Unregister(ctx, id)
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
	return r.RuntimeContextSvc.List(ctx, filter, pageSize(first), deref(after))
}

func (r *queryResolver) RuntimeContext(ctx context.Context, id string) (*model.RuntimeContext, error) {
	return nullIfNotFound(r.RuntimeContextSvc.Get(ctx, id))
}

func (r *runtimeResolver) Labels(ctx context.Context, obj *model.Runtime, key *string) (map[string]any, error) {
	return labelsOf(obj.Labels, key), nil
}

func (r *runtimeResolver) Auths(ctx context.Context, obj *model.Runtime) ([]*model.SystemAuth, error) {
	return r.systemAuths(ctx, identity.ConsumerRuntime, obj.ID)
}

func (r *runtimeResolver) EventingConfiguration(ctx context.Context, obj *model.Runtime) (*model.RuntimeEventingConfiguration, error) {
	return r.EventingSvc.ForRuntime(obj), nil
}

func (r *runtimeResolver) LastHeartbeat(ctx context.Context, obj *model.Runtime) (*time.Time, error) {
	return r.RuntimeSvc.LastHeartbeat(ctx, obj.ID)
}

func (r *runtimeContextResolver) Labels(ctx context.Context, obj *model.RuntimeContext, key *string) (map[string]any, error) {
	return labelsOf(obj.Labels, key), nil
}

func (r *Resolver) Runtime() generated.RuntimeResolver { return &runtimeResolver{r} }

func (r *Resolver) RuntimeContext() generated.RuntimeContextResolver {
	return &runtimeContextResolver{r}
}

type runtimeResolver struct{ *Resolver }
type runtimeContextResolver struct{ *Resolver }
