package bundle_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// consumers is a tenant with the services wired as in main: an application in scenario blue with a bundle
// (blueApp, blueBundle), an application outside it (otherApp), two runtimes in blue (blueRt, blueRt2) and
// one in no scenario (outRt).
type consumers struct {
	svc   *bundle.Service
	state *memstate.Store
	admin context.Context

	blueApp, otherApp      string
	blueBundle             *model.Bundle
	blueRt, blueRt2, outRt context.Context
}

func newConsumers(t *testing.T) *consumers {
	t.Helper()
	st := memstate.New()
	reg := registry.New(st, "registry")
	defs := label.NewDefinitions(reg)
	apps := application.NewService(reg, defs)
	rts := runtimes.NewService(reg, defs)
	apps.SetRuntimeScenarios(rts.Scenarios)
	svc := bundle.NewService(reg, &http.Client{}, hookConfig)
	apps.SetParts(svc)
	svc.SetRuntimeScenarios(rts.Scenarios)

	c := &consumers{svc: svc, state: st, admin: directortest.Tenant("t1")}
	if _, err := defs.Scenarios(c.admin); err != nil {
		t.Fatal(err)
	}
	schema := `{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","enum":["DEFAULT","blue"]}}`
	if _, err := defs.Update(c.admin, model.LabelDefinitionInput{Key: "scenarios", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	register := func(name string, labels map[string]any) string {
		a, err := apps.Register(c.admin, model.ApplicationRegisterInput{Name: name, Labels: labels})
		mustOK(t, err)
		return a.ID
	}
	c.blueApp = register("blue-app", map[string]any{"scenarios": []any{"blue"}})
	c.otherApp = register("other-app", nil)
	b, err := svc.AddBundle(c.admin, c.blueApp, &model.BundleCreateInput{Name: "b"})
	mustOK(t, err)
	c.blueBundle = b
	runtime := func(name string, labels map[string]any) context.Context {
		rt, err := rts.Register(c.admin, model.RuntimeInput{Name: name, Labels: labels})
		mustOK(t, err)
		return directortest.Runtime("t1", rt.ID)
	}
	c.blueRt = runtime("blue-rt", map[string]any{"scenarios": []any{"blue"}})
	c.blueRt2 = runtime("blue-rt-2", map[string]any{"scenarios": []any{"blue"}})
	c.outRt = runtime("out-rt", nil)
	return c
}

func asApplication(id string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Tenant: "t1", Subject: id, ConsumerType: identity.ConsumerApplication,
		Scopes: []string{identity.ScopeApplicationRead, identity.ScopeApplicationWrite},
	})
}

func wantNotAllowed(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, apperr.CodeForbidden)
	if err.Error() != "The operation is not allowed" {
		t.Fatalf("message %q", err)
	}
}

// Issue 9, defect 2: a runtime reaches only instance auths of applications sharing one of its scenarios,
// and of those only its own; an application only those of its own bundles. Every refusal changes nothing
// and returns nothing.
func TestInstanceAuthsOnlyForTheirConsumers(t *testing.T) {
	c := newConsumers(t)
	mine, err := c.svc.RequestInstanceAuth(c.blueRt, c.blueBundle.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	byUser, err := c.svc.RequestInstanceAuth(c.admin, c.blueBundle.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	set := &model.BundleInstanceAuthSetInput{Auth: basicAuth("issued", "secret")}

	refused := []struct {
		name string
		call func() (any, error)
	}{
		{"runtime outside the scenario requests", func() (any, error) {
			return c.svc.RequestInstanceAuth(c.outRt, c.blueBundle.ID, &model.BundleInstanceAuthRequestInput{})
		}},
		{"runtime outside the scenario requests deletion", func() (any, error) { return c.svc.RequestInstanceAuthDeletion(c.outRt, mine.ID) }},
		{"another runtime requests deletion", func() (any, error) { return c.svc.RequestInstanceAuthDeletion(c.blueRt2, mine.ID) }},
		{"runtime requests deletion of a user's", func() (any, error) { return c.svc.RequestInstanceAuthDeletion(c.blueRt, byUser.ID) }},
		{"runtime outside the scenario reads", func() (any, error) { return c.svc.InstanceAuth(c.outRt, mine.ID) }},
		{"another runtime reads", func() (any, error) { return c.svc.InstanceAuth(c.blueRt2, mine.ID) }},
		{"runtime outside the scenario reads the bundle", func() (any, error) { return c.svc.BundleByInstanceAuth(c.outRt, mine.ID) }},
		{"another runtime reads the bundle", func() (any, error) { return c.svc.BundleByInstanceAuth(c.blueRt2, mine.ID) }},
		{"another runtime reads it in its bundle", func() (any, error) {
			got, errs := c.svc.InstanceAuthsByID(c.blueRt2, []bundle.ChildKey{{Parent: c.blueBundle.ID, ID: mine.ID}})
			return got[0], firstErr(errs)
		}},
		{"another application reads", func() (any, error) { return c.svc.InstanceAuth(asApplication(c.otherApp), mine.ID) }},
		{"another application sets", func() (any, error) { return c.svc.SetInstanceAuth(asApplication(c.otherApp), mine.ID, set) }},
		{"another application deletes", func() (any, error) { return c.svc.DeleteInstanceAuth(asApplication(c.otherApp), mine.ID) }},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := c.state.Txns
			got, err := tt.call()
			wantNotAllowed(t, err)
			if !isNilPtr(got) {
				t.Fatalf("refused, yet answered %+v", got)
			}
			if c.state.Txns != before {
				t.Fatal("a refused call wrote")
			}
		})
	}

	// The bundle's list of instance auths shows a runtime only its own.
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"asking runtime", c.blueRt, []string{mine.ID}},
		{"another runtime", c.blueRt2, nil},
		{"the application", asApplication(c.blueApp), []string{mine.ID, byUser.ID}},
	} {
		lists, errs := c.svc.InstanceAuthLists(tc.ctx, []string{c.blueBundle.ID})
		mustOK(t, firstErr(errs))
		var ids []string
		for _, a := range lists[0] {
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		slices.Sort(tc.want)
		if !slices.Equal(ids, tc.want) {
			t.Fatalf("%s lists %v, want %v", tc.name, ids, tc.want)
		}
	}

	// What is allowed still works: the application answers, the runtime reads its credentials and gives
	// them up.
	_, err = c.svc.SetInstanceAuth(asApplication(c.blueApp), mine.ID, set)
	mustOK(t, err)
	got, err := c.svc.InstanceAuth(c.blueRt, mine.ID)
	mustOK(t, err)
	if username(got.Auth) != "issued" {
		t.Fatalf("runtime reads %+v", got)
	}
	b, err := c.svc.BundleByInstanceAuth(c.blueRt, mine.ID)
	mustOK(t, err)
	if b.ID != c.blueBundle.ID {
		t.Fatalf("bundle %+v", b)
	}
	got, err = c.svc.RequestInstanceAuthDeletion(c.blueRt, mine.ID)
	mustOK(t, err)
	if got.Status.Condition != model.BundleInstanceAuthStatusConditionUnused {
		t.Fatalf("after the deletion request: %+v", got.Status)
	}
	_, err = c.svc.DeleteInstanceAuth(asApplication(c.blueApp), mine.ID)
	mustOK(t, err)
	// A bundle that does not exist is not found, for every caller.
	_, err = c.svc.RequestInstanceAuth(c.outRt, "no-such-bundle", &model.BundleInstanceAuthRequestInput{})
	wantCode(t, err, apperr.CodeNotFound)
}

// isNilPtr reports whether v holds a nil pointer (the refused calls return typed nils).
func isNilPtr(v any) bool {
	switch p := v.(type) {
	case *model.BundleInstanceAuth:
		return p == nil
	case *model.Bundle:
		return p == nil
	}
	return v == nil
}
