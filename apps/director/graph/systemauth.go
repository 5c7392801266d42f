package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
)

// systemAuths lists the system auths of one application, runtime or integration system: client
// credentials without their secrets, which are shown only once, when created; then, as in Compass, one
// entry per one-time token issued for it, without an auth (the token is shown only to whom asked for it).
func (r *Resolver) systemAuths(ctx context.Context, consumerType, consumerID string) ([]*model.SystemAuth, error) {
	as, err := loaders.For(ctx).SystemAuthsOf(ctx, consumerType, consumerID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.SystemAuth, 0, len(as))
	for _, a := range as {
		out = append(out, toSystemAuth(a))
	}
	return out, nil
}

// toSystemAuth is a system auth as Compass showed it: client credentials are an OAuth credential whose URL
// is the token endpoint; a one-time token's entry has no auth (Compass's had none either).
func toSystemAuth(a pairing.SystemAuth) *model.SystemAuth {
	if a.Client == nil {
		return &model.SystemAuth{ID: a.ID}
	}
	return systemAuth(a.Client)
}

func systemAuth(c *pairing.Client) *model.SystemAuth {
	return &model.SystemAuth{ID: c.ClientID, Auth: &model.Auth{
		Credential: model.OAuthCredentialData{ClientID: c.ClientID, ClientSecret: c.ClientSecret, URL: c.URL},
	}}
}

// requestClientCredentials creates client credentials for a consumer once exists has confirmed that the
// caller's tenant has it.
func (r *Resolver) requestClientCredentials(ctx context.Context, consumerType, id string, exists func() error) (*model.SystemAuth, error) {
	if err := exists(); err != nil {
		return nil, err
	}
	c, err := r.Pairing.CreateClient(ctx, consumerType, id)
	if err != nil {
		return nil, err
	}
	return systemAuth(c), nil
}

func (r *Resolver) deleteSystemAuth(ctx context.Context, consumerType, authID string) (*model.SystemAuth, error) {
	a, err := r.Pairing.DeleteSystemAuth(ctx, consumerType, authID)
	if err != nil {
		return nil, err
	}
	return toSystemAuth(a), nil
}
