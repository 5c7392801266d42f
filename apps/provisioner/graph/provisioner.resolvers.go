package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph/model"
)

func (r *mutationResolver) ProvisionRuntime(ctx context.Context, config model.ProvisionRuntimeInput) (*model.OperationStatus, error) {
	in, err := fromProvisionInput(config)
	if err != nil {
		return nil, err
	}
	op, err := r.Provisioner.Provision(ctx, in)
	if err != nil {
		return nil, err
	}
	return toOperationStatus(op), nil
}

func (r *mutationResolver) UpgradeShoot(ctx context.Context, id string, config model.UpgradeShootInput) (*model.OperationStatus, error) {
	in, err := fromUpgradeShootInput(config)
	if err != nil {
		return nil, err
	}
	op, err := r.Provisioner.UpgradeShoot(ctx, id, in)
	if err != nil {
		return nil, err
	}
	return toOperationStatus(op), nil
}

func (r *mutationResolver) DeprovisionRuntime(ctx context.Context, id string) (string, error) {
	op, err := r.Provisioner.Deprovision(ctx, id)
	if err != nil {
		return "", err
	}
	return op.ID, nil
}

func (r *mutationResolver) HibernateRuntime(ctx context.Context, id string) (*model.OperationStatus, error) {
	op, err := r.Provisioner.Hibernate(ctx, id)
	if err != nil {
		return nil, err
	}
	return toOperationStatus(op), nil
}

func (r *mutationResolver) ReconnectRuntimeAgent(ctx context.Context, id string) (string, error) {
	op, err := r.Provisioner.ReconnectAgent(ctx, id)
	if err != nil {
		return "", err
	}
	return op.ID, nil
}

func (r *queryResolver) RuntimeStatus(ctx context.Context, id string) (*model.RuntimeStatus, error) {
	s, err := r.Provisioner.RuntimeStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return toRuntimeStatus(s)
}

func (r *queryResolver) RuntimeOperationStatus(ctx context.Context, id string) (*model.OperationStatus, error) {
	op, err := r.Provisioner.OperationStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return toOperationStatus(op), nil
}

func (r *queryResolver) RuntimeOperations(ctx context.Context, runtimeID string) ([]*model.OperationStatus, error) {
	ops, err := r.Provisioner.Operations(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	return toOperationStatuses(ops), nil
}

func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

type mutationResolver struct{ *Resolver }
type queryResolver struct{ *Resolver }
