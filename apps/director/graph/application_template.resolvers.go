package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) CreateApplicationTemplate(ctx context.Context, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	return r.AppTemplateSvc.Create(ctx, in)
}

func (r *mutationResolver) RegisterApplicationFromTemplate(ctx context.Context, in model.ApplicationFromTemplateInput) (*model.Application, error) {
	return r.AppTemplateSvc.RegisterApplication(ctx, in)
}

func (r *mutationResolver) UpdateApplicationTemplate(ctx context.Context, id string, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	return r.AppTemplateSvc.Update(ctx, id, in)
}

func (r *mutationResolver) DeleteApplicationTemplate(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	return r.AppTemplateSvc.Delete(ctx, id)
}

func (r *queryResolver) ApplicationTemplates(ctx context.Context, first *int, after *string) (*model.ApplicationTemplatePage, error) {
	return r.AppTemplateSvc.List(ctx, pageSize(first), deref(after))
}

func (r *queryResolver) ApplicationTemplate(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	return nullIfNotFound(r.AppTemplateSvc.Get(ctx, id))
}
