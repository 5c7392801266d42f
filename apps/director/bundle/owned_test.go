package bundle_test

import (
	"context"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// fetchedEvent is an event definition whose specification is downloaded from url.
func fetchedEvent(url string) *model.EventDefinitionInput {
	return &model.EventDefinitionInput{Name: "fetched", Spec: &model.EventSpecInput{
		Type: model.EventSpecTypeAsyncAPI, Format: model.SpecFormatYaml, FetchRequest: &model.FetchRequestInput{URL: url},
	}}
}

// An application changes its own bundles, their definitions and documents, whoever created them, as
// Compass's application:write let it (the "application" and "proxy" integration levels); another
// application's, reached directly or through a definition's id, is "The operation is not allowed",
// answers nothing and writes nothing. Runtimes change nothing.
func TestApplicationsChangeOnlyTheirOwnBundles(t *testing.T) {
	c := newConsumers(t)
	specs := specServer(t, &atomic.Bool{})
	mine, other := asApplication(c.blueApp), asApplication(c.otherApp)

	// The blue application's bundle, with content an administrator added.
	target := c.blueBundle.ID
	apiDef, err := c.svc.AddAPIDefinition(c.admin, target, fetched(specs.URL+"/open", nil))
	mustOK(t, err)
	eventDef, err := c.svc.AddEventDefinition(c.admin, target, fetchedEvent(specs.URL+"/open"))
	mustOK(t, err)
	document, err := c.svc.AddDocument(c.admin, target, doc("guide"))
	mustOK(t, err)

	ops := []struct {
		name string
		call func(ctx context.Context) (any, error)
	}{
		{"addBundle", func(ctx context.Context) (any, error) {
			return c.svc.AddBundle(ctx, c.blueApp, &model.BundleCreateInput{Name: "x"})
		}},
		{"updateBundle", func(ctx context.Context) (any, error) {
			return c.svc.UpdateBundle(ctx, target, &model.BundleUpdateInput{Name: "x"})
		}},
		{"addAPIDefinitionToBundle", func(ctx context.Context) (any, error) { return c.svc.AddAPIDefinition(ctx, target, api("x")) }},
		{"refetchAPISpec", func(ctx context.Context) (any, error) { return c.svc.RefetchAPISpec(ctx, apiDef.ID) }},
		{"updateAPIDefinition", func(ctx context.Context) (any, error) { return c.svc.UpdateAPIDefinition(ctx, apiDef.ID, api("x")) }},
		{"deleteAPIDefinition", func(ctx context.Context) (any, error) { return c.svc.DeleteAPIDefinition(ctx, apiDef.ID) }},
		{"addEventDefinitionToBundle", func(ctx context.Context) (any, error) { return c.svc.AddEventDefinition(ctx, target, event("x")) }},
		{"refetchEventDefinitionSpec", func(ctx context.Context) (any, error) { return c.svc.RefetchEventSpec(ctx, eventDef.ID) }},
		{"updateEventDefinition", func(ctx context.Context) (any, error) {
			return c.svc.UpdateEventDefinition(ctx, eventDef.ID, event("x"))
		}},
		{"deleteEventDefinition", func(ctx context.Context) (any, error) { return c.svc.DeleteEventDefinition(ctx, eventDef.ID) }},
		{"addDocumentToBundle", func(ctx context.Context) (any, error) { return c.svc.AddDocument(ctx, target, doc("x")) }},
		{"deleteDocument", func(ctx context.Context) (any, error) { return c.svc.DeleteDocument(ctx, document.ID) }},
		{"deleteBundle", func(ctx context.Context) (any, error) { return c.svc.DeleteBundle(ctx, target) }},
	}
	for _, caller := range []struct {
		name string
		ctx  context.Context
	}{{"another application", other}, {"a runtime of its scenario", c.blueRt}} {
		for _, op := range ops {
			t.Run(caller.name+" "+op.name, func(t *testing.T) {
				before := c.state.Txns
				got, err := op.call(caller.ctx)
				wantNotAllowed(t, err)
				if v := reflect.ValueOf(got); v.IsValid() && !v.IsNil() {
					t.Fatalf("refused, yet answered %+v", got)
				}
				if c.state.Txns != before {
					t.Fatal("a refused call wrote")
				}
			})
		}
	}

	// Invalid input to another application's bundle is refused too: the caller learns nothing of it.
	_, err = c.svc.AddAPIDefinition(other, target, &model.APIDefinitionInput{})
	wantNotAllowed(t, err)
	// An id that does not exist is not found, for every caller.
	_, err = c.svc.UpdateAPIDefinition(mine, "no-such-api", api("x"))
	wantCode(t, err, apperr.CodeNotFound)
	_, err = c.svc.AddBundle(other, "no-such-app", &model.BundleCreateInput{Name: "x"})
	wantNotAllowed(t, err) // not its own, whether it exists or not

	// The application itself may do each of them, in this order (its bundle goes last).
	t.Run("its own", func(t *testing.T) {
		for _, op := range ops {
			got, err := op.call(mine)
			if err != nil {
				t.Fatalf("%s: %v", op.name, err)
			}
			if v := reflect.ValueOf(got); !v.IsValid() || v.IsNil() {
				t.Fatalf("%s answered nothing", op.name)
			}
		}
	})
	// A bundle of its own, from scratch.
	b, err := c.svc.AddBundle(mine, c.blueApp, &model.BundleCreateInput{Name: "self-described", APIDefinitions: []*model.APIDefinitionInput{api("orders")}})
	mustOK(t, err)
	_, err = c.svc.AddEventDefinition(mine, b.ID, event("order-created"))
	mustOK(t, err)
	pages, errs := c.svc.BundlePages(c.admin, []bundle.ListKey{{Parent: c.blueApp, First: bundle.MaxPageSize}})
	mustOK(t, firstErr(errs))
	if !slices.ContainsFunc(pages[0].Data, func(x *model.Bundle) bool { return x.ID == b.ID }) {
		t.Fatalf("the blue application's bundles: %+v", pages[0].Data)
	}
}
