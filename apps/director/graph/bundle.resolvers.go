package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *bundleResolver) InstanceAuth(ctx context.Context, obj *model.Bundle, id string) (*model.BundleInstanceAuth, error) {
	return loaders.For(ctx).InstanceAuthOf(ctx, obj.ID, id)
}

func (r *bundleResolver) InstanceAuths(ctx context.Context, obj *model.Bundle) ([]*model.BundleInstanceAuth, error) {
	return loaders.For(ctx).InstanceAuthsOf(ctx, obj.ID)
}

func (r *bundleResolver) APIDefinitions(ctx context.Context, obj *model.Bundle, group *string, first *int, after *string) (*model.APIDefinitionPage, error) {
	return loaders.For(ctx).APIDefinitionsOf(ctx, obj.ID, deref(group), pageSize(first), deref(after))
}

func (r *bundleResolver) EventDefinitions(ctx context.Context, obj *model.Bundle, group *string, first *int, after *string) (*model.EventDefinitionPage, error) {
	return loaders.For(ctx).EventDefinitionsOf(ctx, obj.ID, deref(group), pageSize(first), deref(after))
}

func (r *bundleResolver) Documents(ctx context.Context, obj *model.Bundle, first *int, after *string) (*model.DocumentPage, error) {
	return loaders.For(ctx).DocumentsOf(ctx, obj.ID, pageSize(first), deref(after))
}

func (r *bundleResolver) APIDefinition(ctx context.Context, obj *model.Bundle, id string) (*model.APIDefinition, error) {
	return loaders.For(ctx).APIDefinitionOf(ctx, obj.ID, id)
}

func (r *bundleResolver) EventDefinition(ctx context.Context, obj *model.Bundle, id string) (*model.EventDefinition, error) {
	return loaders.For(ctx).EventDefinitionOf(ctx, obj.ID, id)
}

func (r *bundleResolver) Document(ctx context.Context, obj *model.Bundle, id string) (*model.Document, error) {
	return loaders.For(ctx).DocumentOf(ctx, obj.ID, id)
}

func (r *mutationResolver) AddBundle(ctx context.Context, applicationID string, in model.BundleCreateInput) (*model.Bundle, error) {
	return r.Bundles.AddBundle(ctx, applicationID, &in)
}

func (r *mutationResolver) UpdateBundle(ctx context.Context, id string, in model.BundleUpdateInput) (*model.Bundle, error) {
	return r.Bundles.UpdateBundle(ctx, id, &in)
}

func (r *mutationResolver) DeleteBundle(ctx context.Context, id string) (*model.Bundle, error) {
	return r.Bundles.DeleteBundle(ctx, id)
}

func (r *mutationResolver) AddAPIDefinitionToBundle(ctx context.Context, bundleID string, in model.APIDefinitionInput) (*model.APIDefinition, error) {
	return r.Bundles.AddAPIDefinition(ctx, bundleID, &in)
}

func (r *mutationResolver) UpdateAPIDefinition(ctx context.Context, id string, in model.APIDefinitionInput) (*model.APIDefinition, error) {
	return r.Bundles.UpdateAPIDefinition(ctx, id, &in)
}

func (r *mutationResolver) DeleteAPIDefinition(ctx context.Context, id string) (*model.APIDefinition, error) {
	return r.Bundles.DeleteAPIDefinition(ctx, id)
}

func (r *mutationResolver) RefetchAPISpec(ctx context.Context, apiID string) (*model.APISpec, error) {
	return r.Bundles.RefetchAPISpec(ctx, apiID)
}

func (r *mutationResolver) AddEventDefinitionToBundle(ctx context.Context, bundleID string, in model.EventDefinitionInput) (*model.EventDefinition, error) {
	return r.Bundles.AddEventDefinition(ctx, bundleID, &in)
}

func (r *mutationResolver) UpdateEventDefinition(ctx context.Context, id string, in model.EventDefinitionInput) (*model.EventDefinition, error) {
	return r.Bundles.UpdateEventDefinition(ctx, id, &in)
}

func (r *mutationResolver) DeleteEventDefinition(ctx context.Context, id string) (*model.EventDefinition, error) {
	return r.Bundles.DeleteEventDefinition(ctx, id)
}

func (r *mutationResolver) RefetchEventDefinitionSpec(ctx context.Context, eventID string) (*model.EventSpec, error) {
	return r.Bundles.RefetchEventSpec(ctx, eventID)
}

func (r *mutationResolver) AddDocumentToBundle(ctx context.Context, bundleID string, in model.DocumentInput) (*model.Document, error) {
	return r.Bundles.AddDocument(ctx, bundleID, &in)
}

func (r *mutationResolver) DeleteDocument(ctx context.Context, id string) (*model.Document, error) {
	return r.Bundles.DeleteDocument(ctx, id)
}

func (r *mutationResolver) RequestBundleInstanceAuthCreation(ctx context.Context, bundleID string, in model.BundleInstanceAuthRequestInput) (*model.BundleInstanceAuth, error) {
	return r.Bundles.RequestInstanceAuth(ctx, bundleID, &in)
}

func (r *mutationResolver) RequestBundleInstanceAuthDeletion(ctx context.Context, authID string) (*model.BundleInstanceAuth, error) {
	return r.Bundles.RequestInstanceAuthDeletion(ctx, authID)
}

func (r *mutationResolver) SetBundleInstanceAuth(ctx context.Context, authID string, in model.BundleInstanceAuthSetInput) (*model.BundleInstanceAuth, error) {
	return r.Bundles.SetInstanceAuth(ctx, authID, &in)
}

func (r *mutationResolver) DeleteBundleInstanceAuth(ctx context.Context, authID string) (*model.BundleInstanceAuth, error) {
	return r.Bundles.DeleteInstanceAuth(ctx, authID)
}

func (r *queryResolver) BundleByInstanceAuth(ctx context.Context, authID string) (*model.Bundle, error) {
	return nullIfNotFound(r.Bundles.BundleByInstanceAuth(ctx, authID))
}

func (r *queryResolver) BundleInstanceAuth(ctx context.Context, id string) (*model.BundleInstanceAuth, error) {
	return nullIfNotFound(r.Bundles.InstanceAuth(ctx, id))
}

func (r *queryResolver) BundleInstanceAuthsByCondition(ctx context.Context, condition model.BundleInstanceAuthStatusCondition, first *int, after *string) (*model.BundleInstanceAuthRefPage, error) {
	p, err := r.Bundles.InstanceAuthsByCondition(ctx, condition, pageSize(first), deref(after))
	if err != nil {
		return nil, err
	}
	out := &model.BundleInstanceAuthRefPage{Data: make([]*model.BundleInstanceAuthRef, 0, len(p.Items)), PageInfo: p.PageInfo, TotalCount: p.Total}
	for _, it := range p.Items {
		out.Data = append(out.Data, &model.BundleInstanceAuthRef{ApplicationID: it.ApplicationID, BundleID: it.BundleID, InstanceAuth: it.Auth})
	}
	return out, nil
}

func (r *Resolver) Bundle() generated.BundleResolver { return &bundleResolver{r} }

type bundleResolver struct{ *Resolver }
