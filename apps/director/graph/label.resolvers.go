package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) CreateLabelDefinition(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	return r.Labels.Create(ctx, in)
}

func (r *mutationResolver) UpdateLabelDefinition(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	return r.Labels.Update(ctx, in)
}

func (r *mutationResolver) DeleteLabelDefinition(ctx context.Context, key string, deleteRelatedLabels *bool) (*model.LabelDefinition, error) {
	return r.Labels.Delete(ctx, key, deleteRelatedLabels != nil && *deleteRelatedLabels)
}

func (r *mutationResolver) CreateAutomaticScenarioAssignment(ctx context.Context, in model.AutomaticScenarioAssignmentSetInput) (*model.AutomaticScenarioAssignment, error) {
	return r.RuntimeSvc.CreateAssignment(ctx, in)
}

func (r *mutationResolver) DeleteAutomaticScenarioAssignmentForScenario(ctx context.Context, scenarioName string) (*model.AutomaticScenarioAssignment, error) {
	return r.RuntimeSvc.DeleteAssignmentForScenario(ctx, scenarioName)
}

func (r *mutationResolver) DeleteAutomaticScenarioAssignmentsForSelector(ctx context.Context, selector model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	return r.RuntimeSvc.DeleteAssignmentsForSelector(ctx, selector)
}

func (r *queryResolver) LabelDefinitions(ctx context.Context) ([]*model.LabelDefinition, error) {
	return r.Labels.List(ctx)
}

func (r *queryResolver) LabelDefinition(ctx context.Context, key string) (*model.LabelDefinition, error) {
	return nullIfNotFound(r.Labels.Get(ctx, key))
}

func (r *queryResolver) AutomaticScenarioAssignmentForScenario(ctx context.Context, scenarioName string) (*model.AutomaticScenarioAssignment, error) {
	return nullIfNotFound(r.RuntimeSvc.AssignmentForScenario(ctx, scenarioName))
}

func (r *queryResolver) AutomaticScenarioAssignmentsForSelector(ctx context.Context, selector model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	return r.RuntimeSvc.AssignmentsForSelector(ctx, selector)
}

func (r *queryResolver) AutomaticScenarioAssignments(ctx context.Context, first *int, after *string) (*model.AutomaticScenarioAssignmentPage, error) {
	return r.RuntimeSvc.Assignments(ctx, pageSize(first), deref(after))
}
