package bundle_test

import (
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestBundleLifecycle(t *testing.T) {
	e := newEnv(t, bundle.Config{})
	appID := e.addApp(t)
	b := e.addBundle(t, appID, model.BundleCreateInput{
		Name: "orders", Description: ptr("order APIs"),
		InstanceAuthRequestInputSchema: ptr(`{"type":"object","required":["plan"]}`),
		APIDefinitions:                 []*model.APIDefinitionInput{api("a1"), api("a2")},
		EventDefinitions:               []*model.EventDefinitionInput{event("e1")},
		Documents:                      []*model.DocumentInput{doc("readme")},
	})

	page := e.bundles(t, e.ctx, appID)
	if page.TotalCount != 1 || page.Data[0].ID != b.ID || page.Data[0].Name != "orders" {
		t.Fatalf("bundles of the application: %+v", page)
	}
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 10}); p.TotalCount != 2 || p.Data[0].Name != "a1" || p.Data[1].Name != "a2" {
		t.Fatalf("API definitions: %+v", p)
	}
	evs, errs := e.svc.EventDefinitionPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 10}})
	mustOK(t, firstErr(errs))
	if evs[0].TotalCount != 1 || *evs[0].Data[0].Spec.Data != `{"asyncapi":"2.0.0"}` {
		t.Fatalf("event definitions: %+v", evs[0])
	}
	docs, errs := e.svc.DocumentPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 10}})
	mustOK(t, firstErr(errs))
	if docs[0].TotalCount != 1 || docs[0].Data[0].Title != "readme" {
		t.Fatalf("documents: %+v", docs[0])
	}

	up, err := e.svc.UpdateBundle(e.ctx, b.ID, &model.BundleUpdateInput{Name: "orders-v2", DefaultInstanceAuth: basicAuth("u", "p")})
	mustOK(t, err)
	if up.Name != "orders-v2" || up.Description != nil || up.InstanceAuthRequestInputSchema != nil || up.DefaultInstanceAuth == nil {
		t.Fatalf("update replaces the bundle's own fields: %+v", up)
	}
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 10}); p.TotalCount != 2 {
		t.Fatalf("update must leave the content alone, have %d APIs", p.TotalCount)
	}

	auth, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	apiID := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 10}).Data[0].ID

	del, err := e.svc.DeleteBundle(e.ctx, b.ID)
	mustOK(t, err)
	if del.Name != "orders-v2" {
		t.Fatalf("delete returns the bundle: %+v", del)
	}
	if p := e.bundles(t, e.ctx, appID); p.TotalCount != 0 {
		t.Fatalf("bundle still listed: %+v", p)
	}
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 10}); p.TotalCount != 0 {
		t.Fatalf("API definitions survived their bundle: %+v", p)
	}
	_, err = e.svc.DeleteAPIDefinition(e.ctx, apiID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = e.svc.InstanceAuth(e.ctx, auth.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = e.svc.DeleteBundle(e.ctx, b.ID)
	wantCode(t, err, apperr.CodeNotFound)
}

func TestDefinitionLifecycle(t *testing.T) {
	e := newEnv(t, bundle.Config{})
	b := e.addBundle(t, e.addApp(t), model.BundleCreateInput{Name: "b"})

	a, err := e.svc.AddAPIDefinition(e.ctx, b.ID, api("comments"))
	mustOK(t, err)
	if a.Spec.ID != a.ID || a.Spec.FetchRequest != nil {
		t.Fatalf("spec: %+v", a.Spec)
	}
	in := api("comments-v2")
	in.Group = ptr("comments")
	in.Version = &model.VersionInput{Value: "v2"}
	up, err := e.svc.UpdateAPIDefinition(e.ctx, a.ID, in)
	mustOK(t, err)
	if up.ID != a.ID || up.Name != "comments-v2" || *up.Group != "comments" || *up.Version.Deprecated {
		t.Fatalf("updated: %+v", up)
	}
	// The group index follows the update.
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, Group: "comments", First: 10}); p.TotalCount != 1 {
		t.Fatalf("group page: %+v", p)
	}
	got, errs := e.svc.APIDefinitionsByID(e.ctx, []bundle.ChildKey{{Parent: b.ID, ID: a.ID}, {Parent: "other", ID: a.ID}, {Parent: b.ID, ID: "nope"}})
	mustOK(t, firstErr(errs))
	if got[0] == nil || got[0].Name != "comments-v2" || got[1] != nil || got[2] != nil {
		t.Fatalf("by id within bundle: %+v", got)
	}
	_, err = e.svc.DeleteAPIDefinition(e.ctx, a.ID)
	mustOK(t, err)
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, Group: "comments", First: 10}); p.TotalCount != 0 {
		t.Fatalf("deleted API still in its group: %+v", p)
	}

	ev, err := e.svc.AddEventDefinition(e.ctx, b.ID, event("created"))
	mustOK(t, err)
	ev2 := event("created")
	ev2.Description = ptr("now described")
	upEv, err := e.svc.UpdateEventDefinition(e.ctx, ev.ID, ev2)
	mustOK(t, err)
	if *upEv.Description != "now described" {
		t.Fatalf("event update: %+v", upEv)
	}
	_, err = e.svc.DeleteEventDefinition(e.ctx, ev.ID)
	mustOK(t, err)

	d, err := e.svc.AddDocument(e.ctx, b.ID, doc("guide"))
	mustOK(t, err)
	ds, _ := e.svc.DocumentsByID(e.ctx, []bundle.ChildKey{{Parent: b.ID, ID: d.ID}})
	if ds[0] == nil || ds[0].Title != "guide" {
		t.Fatalf("document by id: %+v", ds)
	}
	_, err = e.svc.DeleteDocument(e.ctx, d.ID)
	mustOK(t, err)
	_, err = e.svc.DeleteDocument(e.ctx, d.ID)
	wantCode(t, err, apperr.CodeNotFound)

	_, err = e.svc.AddAPIDefinition(e.ctx, "no-such-bundle", api("x"))
	wantCode(t, err, apperr.CodeNotFound)
}

func TestPagination(t *testing.T) {
	e := newEnv(t, bundle.Config{})
	b := e.addBundle(t, e.addApp(t), model.BundleCreateInput{Name: "b"})
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		in := api(name)
		if i%2 == 0 {
			in.Group = ptr("even")
		}
		_, err := e.svc.AddAPIDefinition(e.ctx, b.ID, in)
		mustOK(t, err)
	}
	tests := []struct {
		name  string
		group string
		pages [][]string
	}{
		{"all", "", [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{"one group", "even", [][]string{{"a", "c"}, {"e"}}},
		{"empty group", "odd", [][]string{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := ""
			for i, want := range tt.pages {
				p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, Group: tt.group, First: 2, After: after})
				var names []string
				for _, a := range p.Data {
					names = append(names, a.Name)
				}
				if strings.Join(names, ",") != strings.Join(want, ",") {
					t.Fatalf("page %d: got %v, want %v", i, names, want)
				}
				if last := i == len(tt.pages)-1; p.PageInfo.HasNextPage == last {
					t.Fatalf("page %d: hasNextPage %v", i, p.PageInfo.HasNextPage)
				}
				after = p.PageInfo.EndCursor
			}
		})
	}
	_, errs := e.svc.APIDefinitionPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 201}, {Parent: b.ID, First: 1, After: "bogus"}, {Parent: b.ID, First: 1}})
	wantCode(t, errs[0], apperr.CodeInvalidInput)
	wantCode(t, errs[1], apperr.CodeInvalidInput)
	mustOK(t, errs[2])
}

func TestValidation(t *testing.T) {
	e := newEnv(t, bundle.Config{MaxSpecSize: 16})
	appID := e.addApp(t)
	withAPI := func(f func(*model.APIDefinitionInput)) model.BundleCreateInput {
		a := api("x")
		a.Spec.Data = ptr("{}")
		f(a)
		return model.BundleCreateInput{Name: "b", APIDefinitions: []*model.APIDefinitionInput{a}}
	}
	tests := []struct {
		name string
		in   model.BundleCreateInput
		want string
	}{
		{"no name", model.BundleCreateInput{Name: " "}, "in.name: required"},
		{"long name", model.BundleCreateInput{Name: strings.Repeat("n", 101)}, "at most 100"},
		{"non-ASCII name", model.BundleCreateInput{Name: "bündel"}, "printable ASCII"},
		{"long description", model.BundleCreateInput{Name: "b", Description: ptr(strings.Repeat("d", 2001))}, "at most 2000"},
		{"schema not JSON", model.BundleCreateInput{Name: "b", InstanceAuthRequestInputSchema: ptr("{")}, "instanceAuthRequestInputSchema: not valid JSON"},
		{"schema invalid", model.BundleCreateInput{Name: "b", InstanceAuthRequestInputSchema: ptr(`{"type":5}`)}, "not a valid JSON schema"},
		{"schema refers to a file", model.BundleCreateInput{Name: "b", InstanceAuthRequestInputSchema: ptr(`{"$ref":"file:///etc/passwd"}`)}, "not a valid JSON schema"},
		{"default auth without credential", model.BundleCreateInput{Name: "b", DefaultInstanceAuth: &model.AuthInput{}}, "defaultInstanceAuth.credential: required"},
		{"target URL", withAPI(func(a *model.APIDefinitionInput) { a.TargetURL = "ftp://x" }), "apiDefinitions[0].targetURL"},
		{"format of type", withAPI(func(a *model.APIDefinitionInput) { a.Spec.Format = model.SpecFormatXML }), "spec.format: OPEN_API"},
		{"spec without content", withAPI(func(a *model.APIDefinitionInput) { a.Spec.Data = nil }), "give data or a fetchRequest"},
		{"spec too large", withAPI(func(a *model.APIDefinitionInput) { a.Spec.Data = ptr(strings.Repeat("x", 17)) }), "larger than 16 bytes"},
		{"fetch URL", withAPI(func(a *model.APIDefinitionInput) {
			a.Spec.Data, a.Spec.FetchRequest = nil, &model.FetchRequestInput{URL: "ftp://kyma-project.io"}
		}), "fetchRequest.url"},
		{"group too long", withAPI(func(a *model.APIDefinitionInput) { a.Group = ptr(strings.Repeat("g", 37)) }), "group: at most 36"},
		{"version without value", withAPI(func(a *model.APIDefinitionInput) { a.Version = &model.VersionInput{} }), "version.value: required"},
		{"event format", model.BundleCreateInput{Name: "b", EventDefinitions: []*model.EventDefinitionInput{{
			Name: "e", Spec: &model.EventSpecInput{Data: ptr("{}"), Type: model.EventSpecTypeAsyncAPI, Format: model.SpecFormatXML},
		}}}, "eventDefinitions[0].spec.format"},
		{"document without title", model.BundleCreateInput{Name: "b", Documents: []*model.DocumentInput{{
			DisplayName: "d", Description: "d", Format: model.DocumentFormatMarkdown, Data: ptr("x"),
		}}}, "documents[0].title: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.state.Txns
			_, err := e.svc.AddBundle(e.ctx, appID, &tt.in)
			wantCode(t, err, apperr.CodeInvalidInput)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("message %q does not mention %q", err, tt.want)
			}
			if e.state.Txns != before {
				t.Fatal("bad input wrote to the store")
			}
		})
	}
	_, err := e.svc.AddBundle(e.ctx, "no-such-app", &model.BundleCreateInput{Name: "b"})
	wantCode(t, err, apperr.CodeNotFound)
}

func TestCreateAndDeleteForApplication(t *testing.T) {
	e := newEnv(t, bundle.Config{})
	appID := e.addApp(t)
	good := &model.BundleCreateInput{Name: "good", APIDefinitions: []*model.APIDefinitionInput{api("a")}}
	bad := &model.BundleCreateInput{Name: "bad", Documents: []*model.DocumentInput{{Title: "t"}}}

	before := e.state.Txns
	err := e.svc.CreateForApplication(e.ctx, appID, []*model.BundleCreateInput{good, bad})
	wantCode(t, err, apperr.CodeInvalidInput)
	if !strings.Contains(err.Error(), "bundles[1].documents[0]") || e.state.Txns != before {
		t.Fatalf("the second bundle is invalid, so nothing may be written: %v", err)
	}
	mustOK(t, e.svc.ValidateForApplication([]*model.BundleCreateInput{good}))
	wantCode(t, e.svc.ValidateForApplication([]*model.BundleCreateInput{bad}), apperr.CodeInvalidInput)

	mustOK(t, e.svc.CreateForApplication(e.ctx, appID, []*model.BundleCreateInput{good, {Name: "second"}}))
	page := e.bundles(t, e.ctx, appID)
	if page.TotalCount != 2 {
		t.Fatalf("want 2 bundles, have %+v", page)
	}
	first := page.Data[0].ID
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: first, First: 10}); p.TotalCount != 1 {
		t.Fatalf("inline API definition missing: %+v", p)
	}

	mustOK(t, e.svc.DeleteForApplication(e.ctx, appID))
	if p := e.bundles(t, e.ctx, appID); p.TotalCount != 0 {
		t.Fatalf("bundles left after the cascade: %+v", p)
	}
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: first, First: 10}); p.TotalCount != 0 {
		t.Fatalf("API definitions left after the cascade: %+v", p)
	}
	mustOK(t, e.svc.DeleteForApplication(e.ctx, appID)) // nothing left: still fine
}

// Every operation that takes an id answers NOT_FOUND (or null) for an id of another tenant, and changes
// nothing there.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, bundle.Config{})
	appID := e.addApp(t)
	b := e.addBundle(t, appID, model.BundleCreateInput{
		Name: "b", APIDefinitions: []*model.APIDefinitionInput{api("a")},
		EventDefinitions: []*model.EventDefinitionInput{event("e")}, Documents: []*model.DocumentInput{doc("d")},
	})
	apiID := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 1}).Data[0].ID
	evs, _ := e.svc.EventDefinitionPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 1}})
	evID := evs[0].Data[0].ID
	docs, _ := e.svc.DocumentPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 1}})
	docID := docs[0].Data[0].ID
	auth, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)

	o := e.other
	// The other tenant has data of its own, so the registry already knows it: its first write of a tenant
	// does bookkeeping that is no business of this test.
	otherApp := e.addAppIn(t, o)
	_, err = e.svc.AddBundle(o, otherApp, &model.BundleCreateInput{Name: "theirs"})
	mustOK(t, err)
	ops := map[string]func() error{
		"addBundle":             func() error { _, err := e.svc.AddBundle(o, appID, &model.BundleCreateInput{Name: "x"}); return err },
		"updateBundle":          func() error { _, err := e.svc.UpdateBundle(o, b.ID, &model.BundleUpdateInput{Name: "x"}); return err },
		"deleteBundle":          func() error { _, err := e.svc.DeleteBundle(o, b.ID); return err },
		"addAPIDefinition":      func() error { _, err := e.svc.AddAPIDefinition(o, b.ID, api("x")); return err },
		"updateAPIDefinition":   func() error { _, err := e.svc.UpdateAPIDefinition(o, apiID, api("x")); return err },
		"deleteAPIDefinition":   func() error { _, err := e.svc.DeleteAPIDefinition(o, apiID); return err },
		"refetchAPISpec":        func() error { _, err := e.svc.RefetchAPISpec(o, apiID); return err },
		"addEventDefinition":    func() error { _, err := e.svc.AddEventDefinition(o, b.ID, event("x")); return err },
		"updateEventDefinition": func() error { _, err := e.svc.UpdateEventDefinition(o, evID, event("x")); return err },
		"deleteEventDefinition": func() error { _, err := e.svc.DeleteEventDefinition(o, evID); return err },
		"refetchEventSpec":      func() error { _, err := e.svc.RefetchEventSpec(o, evID); return err },
		"addDocument":           func() error { _, err := e.svc.AddDocument(o, b.ID, doc("x")); return err },
		"deleteDocument":        func() error { _, err := e.svc.DeleteDocument(o, docID); return err },
		"requestInstanceAuth": func() error {
			_, err := e.svc.RequestInstanceAuth(o, b.ID, &model.BundleInstanceAuthRequestInput{})
			return err
		},
		"requestInstanceAuthDeletion": func() error { _, err := e.svc.RequestInstanceAuthDeletion(o, auth.ID); return err },
		"setInstanceAuth": func() error {
			_, err := e.svc.SetInstanceAuth(o, auth.ID, &model.BundleInstanceAuthSetInput{Auth: basicAuth("u", "p")})
			return err
		},
		"deleteInstanceAuth":   func() error { _, err := e.svc.DeleteInstanceAuth(o, auth.ID); return err },
		"instanceAuth":         func() error { _, err := e.svc.InstanceAuth(o, auth.ID); return err },
		"bundleByInstanceAuth": func() error { _, err := e.svc.BundleByInstanceAuth(o, auth.ID); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			before := e.state.Txns
			wantCode(t, op(), apperr.CodeNotFound)
			if e.state.Txns != before {
				t.Fatal("wrote to the store")
			}
		})
	}

	t.Run("batched reads", func(t *testing.T) {
		if p := e.bundles(t, o, appID); p.TotalCount != 0 {
			t.Fatalf("bundles: %+v", p)
		}
		if p := e.apis(t, o, bundle.ListKey{Parent: b.ID, First: 10}); p.TotalCount != 0 {
			t.Fatalf("APIs: %+v", p)
		}
		bs, _ := e.svc.BundlesByID(o, []bundle.ChildKey{{Parent: appID, ID: b.ID}})
		as, _ := e.svc.APIDefinitionsByID(o, []bundle.ChildKey{{Parent: b.ID, ID: apiID}})
		ias, _ := e.svc.InstanceAuthsByID(o, []bundle.ChildKey{{Parent: b.ID, ID: auth.ID}})
		lists, _ := e.svc.InstanceAuthLists(o, []string{b.ID})
		if bs[0] != nil || as[0] != nil || ias[0] != nil || len(lists[0]) != 0 {
			t.Fatalf("another tenant's data leaked: %v %v %v %v", bs[0], as[0], ias[0], lists[0])
		}
	})

	// The owner still has everything.
	if p := e.bundles(t, e.ctx, appID); p.TotalCount != 1 || p.Data[0].Name != "b" {
		t.Fatalf("owner's bundles changed: %+v", p)
	}
	_, err = e.svc.InstanceAuth(e.ctx, auth.ID)
	mustOK(t, err)
}
