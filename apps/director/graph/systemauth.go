package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
)

// systemAuths lists the client credentials of one application, runtime or integration system, without
// their secrets, which are shown only once, when created.
func (r *Resolver) systemAuths(ctx context.Context, consumerType, consumerID string) ([]*model.SystemAuth, error) {
	cs, err := loaders.For(ctx).ClientsOf(ctx, consumerType, consumerID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.SystemAuth, 0, len(cs))
	for _, c := range cs {
		out = append(out, systemAuth(&c))
	}
	return out, nil
}

// systemAuth is client credentials as Compass shows them: an OAuth credential whose URL is the token
// endpoint.
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
	c, err := r.Pairing.DeleteClient(ctx, consumerType, authID)
	if err != nil {
		return nil, err
	}
	return systemAuth(c), nil
}
