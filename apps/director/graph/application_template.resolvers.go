package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) CreateApplicationTemplate(ctx context.Context, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	return nil, notImplemented("createApplicationTemplate")
}

func (r *mutationResolver) RegisterApplicationFromTemplate(ctx context.Context, in model.ApplicationFromTemplateInput) (*model.Application, error) {
	return nil, notImplemented("registerApplicationFromTemplate")
}

func (r *mutationResolver) UpdateApplicationTemplate(ctx context.Context, id string, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	return nil, notImplemented("updateApplicationTemplate")
}

func (r *mutationResolver) DeleteApplicationTemplate(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	return nil, notImplemented("deleteApplicationTemplate")
}

func (r *queryResolver) ApplicationTemplates(ctx context.Context, first *int, after *string) (*model.ApplicationTemplatePage, error) {
	return nil, notImplemented("applicationTemplates")
}

func (r *queryResolver) ApplicationTemplate(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	return nil, notImplemented("applicationTemplate")
}
