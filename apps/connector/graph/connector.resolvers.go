package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/connector/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (r *mutationResolver) SignCertificateSigningRequest(ctx context.Context, csr string) (*trust.CertificationResult, error) {
	id, _ := identity.FromContext(ctx)
	return r.Trust.SignCSR(ctx, id, csr)
}

func (r *mutationResolver) RevokeCertificate(ctx context.Context) (bool, error) {
	id, _ := identity.FromContext(ctx)
	if err := r.Trust.Revoke(ctx, id); err != nil {
		return false, err
	}
	return true, nil
}

func (r *queryResolver) Configuration(ctx context.Context) (*trust.Configuration, error) {
	id, _ := identity.FromContext(ctx)
	return r.Trust.Configuration(ctx, id)
}

func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

type mutationResolver struct{ *Resolver }
type queryResolver struct{ *Resolver }
