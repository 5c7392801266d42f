package graph

import (
	"context"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func (r *mutationResolver) CreateConfiguration(ctx context.Context, in model.ConfigurationInput) (*model.Configuration, error) {
	c, err := r.ConfigurationSvc.Create(ctx, fromInput(in))
	return toConfiguration(c), err
}

func (r *mutationResolver) UpdateConfiguration(ctx context.Context, id string, in model.ConfigurationInput) (*model.Configuration, error) {
	c, err := r.ConfigurationSvc.Update(ctx, id, fromInput(in))
	return toConfiguration(c), err
}

func (r *mutationResolver) DeleteConfiguration(ctx context.Context, id string) (*model.Configuration, error) {
	c, err := r.ConfigurationSvc.Delete(ctx, id)
	return toConfiguration(c), err
}

func (r *mutationResolver) RollbackConfiguration(ctx context.Context, id string, revision int) (*model.Configuration, error) {
	c, err := r.ConfigurationSvc.Rollback(ctx, id, revision)
	return toConfiguration(c), err
}

func (r *mutationResolver) ReportConfigurationStatus(ctx context.Context, runtimeID string, revision int, status model.ConfigurationApplyStatus, reason *string, drift []*model.DriftItemInput, driftCorrected *bool) (*model.RuntimeConfigurationStatus, error) {
	s, err := r.ConfigurationSvc.Report(ctx, configuration.Report{
		RuntimeID: runtimeID, Revision: revision, Status: string(status), Reason: deref(reason),
		Drift: fromDriftItems(drift), DriftCorrected: driftCorrected != nil && *driftCorrected,
	})
	return toStatus(s), err
}

func (r *mutationResolver) PauseRollout(ctx context.Context, configurationID string) (*model.Rollout, error) {
	ro, err := r.ConfigurationSvc.OperateRollout(ctx, configurationID, configuration.OpPause)
	return toRollout(ro), err
}

func (r *mutationResolver) ResumeRollout(ctx context.Context, configurationID string) (*model.Rollout, error) {
	ro, err := r.ConfigurationSvc.OperateRollout(ctx, configurationID, configuration.OpResume)
	return toRollout(ro), err
}

func (r *mutationResolver) PromoteRollout(ctx context.Context, configurationID string) (*model.Rollout, error) {
	ro, err := r.ConfigurationSvc.OperateRollout(ctx, configurationID, configuration.OpPromote)
	return toRollout(ro), err
}

func (r *mutationResolver) AbortRollout(ctx context.Context, configurationID string) (*model.Rollout, error) {
	ro, err := r.ConfigurationSvc.OperateRollout(ctx, configurationID, configuration.OpAbort)
	return toRollout(ro), err
}

func (r *queryResolver) Configurations(ctx context.Context, first *int, after *string) (*model.ConfigurationPage, error) {
	p, err := r.ConfigurationSvc.List(ctx, intOr(first, configuration.MaxPageSize), deref(after))
	if err != nil {
		return nil, err
	}
	return toPage(p), nil
}

func (r *queryResolver) Configuration(ctx context.Context, id string) (*model.Configuration, error) {
	c, err := r.ConfigurationSvc.Get(ctx, id)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, nil
	}
	return toConfiguration(c), err
}

func (r *queryResolver) ConfigurationRevisions(ctx context.Context, id string, first *int, after *string) (*model.ConfigurationPage, error) {
	p, err := r.ConfigurationSvc.Revisions(ctx, id, intOr(first, configuration.MaxPageSize), deref(after))
	if err != nil {
		return nil, err
	}
	return toPage(p), nil
}

func (r *queryResolver) RuntimeConfiguration(ctx context.Context, runtimeID string, afterRevision *int, waitSeconds *int) (*model.RuntimeConfiguration, error) {
	wait := time.Duration(intOr(waitSeconds, 0)) * time.Second
	e, err := r.ConfigurationSvc.Watch(ctx, runtimeID, intOr(afterRevision, 0), wait)
	if err != nil {
		return nil, err
	}
	return toRuntimeConfiguration(e), nil
}

func (r *queryResolver) RuntimeConfigurationStatus(ctx context.Context, runtimeID string) (*model.RuntimeConfigurationStatus, error) {
	s, err := r.ConfigurationSvc.Status(ctx, runtimeID)
	return toStatus(s), err
}

func (r *queryResolver) RuntimeConfigurationState(ctx context.Context, runtimeID string) (*model.RuntimeConfigurationState, error) {
	st, err := r.ConfigurationSvc.State(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	return toState(st), nil
}

func (r *queryResolver) RuntimeConfigurationStatuses(ctx context.Context, status model.ConfigurationApplyStatus, first *int, after *string) (*model.RuntimeConfigurationStatusPage, error) {
	p, err := r.ConfigurationSvc.Statuses(ctx, string(status), intOr(first, configuration.MaxPageSize), deref(after))
	if err != nil {
		return nil, err
	}
	out := &model.RuntimeConfigurationStatusPage{Data: make([]*model.RuntimeConfigurationStatus, 0, len(p.Items)),
		PageInfo:   &model.PageInfo{StartCursor: p.StartCursor, EndCursor: p.EndCursor, HasNextPage: p.HasNextPage},
		TotalCount: p.TotalCount}
	for _, st := range p.Items {
		out.Data = append(out.Data, toStatus(st))
	}
	return out, nil
}

func (r *queryResolver) BindingTypes(ctx context.Context) ([]*model.BindingType, error) {
	return toBindingTypes(configuration.BindingTypes()), nil
}

func (r *queryResolver) Rollout(ctx context.Context, configurationID string) (*model.Rollout, error) {
	ro, err := r.ConfigurationSvc.RolloutOf(ctx, configurationID)
	return toRollout(ro), err
}

func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

type mutationResolver struct{ *Resolver }
type queryResolver struct{ *Resolver }
