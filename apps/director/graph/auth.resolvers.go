package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) RequestOneTimeTokenForRuntime(ctx context.Context, id string) (*model.OneTimeTokenForRuntime, error) {
	return nil, notImplemented("requestOneTimeTokenForRuntime")
}

func (r *mutationResolver) RequestOneTimeTokenForApplication(ctx context.Context, id string) (*model.OneTimeTokenForApplication, error) {
	return nil, notImplemented("requestOneTimeTokenForApplication")
}

func (r *mutationResolver) RequestClientCredentialsForRuntime(ctx context.Context, id string) (*model.SystemAuth, error) {
	return nil, notImplemented("requestClientCredentialsForRuntime")
}

func (r *mutationResolver) RequestClientCredentialsForApplication(ctx context.Context, id string) (*model.SystemAuth, error) {
	return nil, notImplemented("requestClientCredentialsForApplication")
}

func (r *mutationResolver) RequestClientCredentialsForIntegrationSystem(ctx context.Context, id string) (*model.SystemAuth, error) {
	return nil, notImplemented("requestClientCredentialsForIntegrationSystem")
}

func (r *mutationResolver) DeleteSystemAuthForRuntime(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return nil, notImplemented("deleteSystemAuthForRuntime")
}

func (r *mutationResolver) DeleteSystemAuthForApplication(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return nil, notImplemented("deleteSystemAuthForApplication")
}

func (r *mutationResolver) DeleteSystemAuthForIntegrationSystem(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return nil, notImplemented("deleteSystemAuthForIntegrationSystem")
}
