package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) CreateLabelDefinition(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	return nil, notImplemented("createLabelDefinition")
}

func (r *mutationResolver) UpdateLabelDefinition(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	return nil, notImplemented("updateLabelDefinition")
}

func (r *mutationResolver) DeleteLabelDefinition(ctx context.Context, key string, deleteRelatedLabels *bool) (*model.LabelDefinition, error) {
	return nil, notImplemented("deleteLabelDefinition")
}

func (r *mutationResolver) CreateAutomaticScenarioAssignment(ctx context.Context, in model.AutomaticScenarioAssignmentSetInput) (*model.AutomaticScenarioAssignment, error) {
	return nil, notImplemented("createAutomaticScenarioAssignment")
}

func (r *mutationResolver) DeleteAutomaticScenarioAssignmentForScenario(ctx context.Context, scenarioName string) (*model.AutomaticScenarioAssignment, error) {
	return nil, notImplemented("deleteAutomaticScenarioAssignmentForScenario")
}

func (r *mutationResolver) DeleteAutomaticScenarioAssignmentsForSelector(ctx context.Context, selector model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	return nil, notImplemented("deleteAutomaticScenarioAssignmentsForSelector")
}

func (r *queryResolver) LabelDefinitions(ctx context.Context) ([]*model.LabelDefinition, error) {
	return nil, notImplemented("labelDefinitions")
}

func (r *queryResolver) LabelDefinition(ctx context.Context, key string) (*model.LabelDefinition, error) {
	return nil, notImplemented("labelDefinition")
}

func (r *queryResolver) AutomaticScenarioAssignmentForScenario(ctx context.Context, scenarioName string) (*model.AutomaticScenarioAssignment, error) {
	return nil, notImplemented("automaticScenarioAssignmentForScenario")
}

func (r *queryResolver) AutomaticScenarioAssignmentsForSelector(ctx context.Context, selector model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	return nil, notImplemented("automaticScenarioAssignmentsForSelector")
}

func (r *queryResolver) AutomaticScenarioAssignments(ctx context.Context, first *int, after *string) (*model.AutomaticScenarioAssignmentPage, error) {
	return nil, notImplemented("automaticScenarioAssignments")
}
