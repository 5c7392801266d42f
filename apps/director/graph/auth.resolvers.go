package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *mutationResolver) RequestOneTimeTokenForRuntime(ctx context.Context, id string) (*model.OneTimeTokenForRuntime, error) {
	if _, err := r.RuntimeSvc.Get(ctx, id); err != nil {
		return nil, err
	}
	tok, err := r.Pairing.Issue(ctx, identity.ConsumerRuntime, id)
	if err != nil {
		return nil, err
	}
	raw, enc := tok.Raw()
	return &model.OneTimeTokenForRuntime{Token: tok.Token, ConnectorURL: tok.ConnectorURL, Raw: &raw, RawEncoded: &enc}, nil
}

func (r *mutationResolver) RequestOneTimeTokenForApplication(ctx context.Context, id string) (*model.OneTimeTokenForApplication, error) {
	if _, err := r.Apps.Get(ctx, id); err != nil {
		return nil, err
	}
	tok, err := r.Pairing.Issue(ctx, identity.ConsumerApplication, id)
	if err != nil {
		return nil, err
	}
	raw, enc := tok.Raw()
	return &model.OneTimeTokenForApplication{Token: tok.Token, ConnectorURL: tok.ConnectorURL, LegacyConnectorURL: tok.ConnectorURL, Raw: &raw, RawEncoded: &enc}, nil
}

func (r *mutationResolver) RequestClientCredentialsForRuntime(ctx context.Context, id string) (*model.SystemAuth, error) {
	return r.requestClientCredentials(ctx, identity.ConsumerRuntime, id, func() error {
		_, err := r.RuntimeSvc.Get(ctx, id)
		return err
	})
}

func (r *mutationResolver) RequestClientCredentialsForApplication(ctx context.Context, id string) (*model.SystemAuth, error) {
	return r.requestClientCredentials(ctx, identity.ConsumerApplication, id, func() error {
		_, err := r.Apps.Get(ctx, id)
		return err
	})
}

func (r *mutationResolver) RequestClientCredentialsForIntegrationSystem(ctx context.Context, id string) (*model.SystemAuth, error) {
	return r.requestClientCredentials(ctx, identity.ConsumerIntegrationSystem, id, func() error {
		_, err := r.IntegrationSystemSvc.Get(ctx, id)
		return err
	})
}

func (r *mutationResolver) DeleteSystemAuthForRuntime(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return r.deleteSystemAuth(ctx, identity.ConsumerRuntime, authID)
}

func (r *mutationResolver) DeleteSystemAuthForApplication(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return r.deleteSystemAuth(ctx, identity.ConsumerApplication, authID)
}

func (r *mutationResolver) DeleteSystemAuthForIntegrationSystem(ctx context.Context, authID string) (*model.SystemAuth, error) {
	return r.deleteSystemAuth(ctx, identity.ConsumerIntegrationSystem, authID)
}
