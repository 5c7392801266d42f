package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *bundleResolver) InstanceAuth(ctx context.Context, obj *model.Bundle, id string) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("instanceAuth")
}

func (r *bundleResolver) InstanceAuths(ctx context.Context, obj *model.Bundle) ([]*model.BundleInstanceAuth, error) {
	return nil, notImplemented("instanceAuths")
}

func (r *bundleResolver) APIDefinitions(ctx context.Context, obj *model.Bundle, group *string, first *int, after *string) (*model.APIDefinitionPage, error) {
	return nil, notImplemented("apiDefinitions")
}

func (r *bundleResolver) EventDefinitions(ctx context.Context, obj *model.Bundle, group *string, first *int, after *string) (*model.EventDefinitionPage, error) {
	return nil, notImplemented("eventDefinitions")
}

func (r *bundleResolver) Documents(ctx context.Context, obj *model.Bundle, first *int, after *string) (*model.DocumentPage, error) {
	return nil, notImplemented("documents")
}

func (r *bundleResolver) APIDefinition(ctx context.Context, obj *model.Bundle, id string) (*model.APIDefinition, error) {
	return nil, notImplemented("apiDefinition")
}

func (r *bundleResolver) EventDefinition(ctx context.Context, obj *model.Bundle, id string) (*model.EventDefinition, error) {
	return nil, notImplemented("eventDefinition")
}

func (r *bundleResolver) Document(ctx context.Context, obj *model.Bundle, id string) (*model.Document, error) {
	return nil, notImplemented("document")
}

func (r *mutationResolver) AddBundle(ctx context.Context, applicationID string, in model.BundleCreateInput) (*model.Bundle, error) {
	return nil, notImplemented("addBundle")
}

func (r *mutationResolver) UpdateBundle(ctx context.Context, id string, in model.BundleUpdateInput) (*model.Bundle, error) {
	return nil, notImplemented("updateBundle")
}

func (r *mutationResolver) DeleteBundle(ctx context.Context, id string) (*model.Bundle, error) {
	return nil, notImplemented("deleteBundle")
}

func (r *mutationResolver) AddAPIDefinitionToBundle(ctx context.Context, bundleID string, in model.APIDefinitionInput) (*model.APIDefinition, error) {
	return nil, notImplemented("addAPIDefinitionToBundle")
}

func (r *mutationResolver) UpdateAPIDefinition(ctx context.Context, id string, in model.APIDefinitionInput) (*model.APIDefinition, error) {
	return nil, notImplemented("updateAPIDefinition")
}

func (r *mutationResolver) DeleteAPIDefinition(ctx context.Context, id string) (*model.APIDefinition, error) {
	return nil, notImplemented("deleteAPIDefinition")
}

func (r *mutationResolver) RefetchAPISpec(ctx context.Context, apiID string) (*model.APISpec, error) {
	return nil, notImplemented("refetchAPISpec")
}

func (r *mutationResolver) AddEventDefinitionToBundle(ctx context.Context, bundleID string, in model.EventDefinitionInput) (*model.EventDefinition, error) {
	return nil, notImplemented("addEventDefinitionToBundle")
}

func (r *mutationResolver) UpdateEventDefinition(ctx context.Context, id string, in model.EventDefinitionInput) (*model.EventDefinition, error) {
	return nil, notImplemented("updateEventDefinition")
}

func (r *mutationResolver) DeleteEventDefinition(ctx context.Context, id string) (*model.EventDefinition, error) {
	return nil, notImplemented("deleteEventDefinition")
}

func (r *mutationResolver) RefetchEventDefinitionSpec(ctx context.Context, eventID string) (*model.EventSpec, error) {
	return nil, notImplemented("refetchEventDefinitionSpec")
}

func (r *mutationResolver) AddDocumentToBundle(ctx context.Context, bundleID string, in model.DocumentInput) (*model.Document, error) {
	return nil, notImplemented("addDocumentToBundle")
}

func (r *mutationResolver) DeleteDocument(ctx context.Context, id string) (*model.Document, error) {
	return nil, notImplemented("deleteDocument")
}

func (r *mutationResolver) RequestBundleInstanceAuthCreation(ctx context.Context, bundleID string, in model.BundleInstanceAuthRequestInput) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("requestBundleInstanceAuthCreation")
}

func (r *mutationResolver) RequestBundleInstanceAuthDeletion(ctx context.Context, authID string) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("requestBundleInstanceAuthDeletion")
}

func (r *mutationResolver) SetBundleInstanceAuth(ctx context.Context, authID string, in model.BundleInstanceAuthSetInput) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("setBundleInstanceAuth")
}

func (r *mutationResolver) DeleteBundleInstanceAuth(ctx context.Context, authID string) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("deleteBundleInstanceAuth")
}

func (r *queryResolver) BundleByInstanceAuth(ctx context.Context, authID string) (*model.Bundle, error) {
	return nil, notImplemented("bundleByInstanceAuth")
}

func (r *queryResolver) BundleInstanceAuth(ctx context.Context, id string) (*model.BundleInstanceAuth, error) {
	return nil, notImplemented("bundleInstanceAuth")
}

func (r *Resolver) Bundle() generated.BundleResolver { return &bundleResolver{r} }

type bundleResolver struct{ *Resolver }
