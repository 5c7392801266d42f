package eventing_test

import (
	"context"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/eventing"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

func as(t string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Tenant: t})
}

// put stores v as entity id of kind in tenant, the way the owning packages do.
func put(t *testing.T, reg *registry.Registry, tenant, kind, id string, v any) {
	t.Helper()
	err := reg.Mutate(context.Background(), registry.Scope{Tenant: tenant, Kind: kind}, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: v}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func runtime(labels map[string]any) map[string]any {
	return map[string]any{"name": "rt", "labels": labels}
}

func setup(t *testing.T) *eventing.Service {
	reg := registry.New(memstate.New(), "registry")
	put(t, reg, "t1", "application", "app-1", model.Application{ID: "app-1", Name: "shop",
		Labels: map[string]any{"scenarios": []any{"DEFAULT", "blue"}}})
	put(t, reg, "t1", "application", "app-2", model.Application{ID: "app-2", Name: "plain"})
	put(t, reg, "t1", "runtime", "rt-1", runtime(map[string]any{
		"scenarios": []any{"blue"}, eventing.EventServiceURLLabel: "https://events.rt1.example.com/",
	}))
	put(t, reg, "t1", "runtime", "rt-none", runtime(map[string]any{"scenarios": []any{"blue"}}))
	put(t, reg, "t1", "runtime", "rt-red", runtime(map[string]any{
		"scenarios": []any{"red"}, eventing.EventServiceURLLabel: "https://events.red.example.com",
	}))
	put(t, reg, "t1", "runtime", "rt-bare", runtime(map[string]any{eventing.EventServiceURLLabel: "https://bare.example.com"}))
	put(t, reg, "t2", "runtime", "rt-2", runtime(map[string]any{eventing.EventServiceURLLabel: "https://t2.example.com"}))
	lookup := eventing.NewLookup(reg)
	return eventing.NewService(reg, lookup, lookup)
}

func TestSetDefault(t *testing.T) {
	tests := []struct {
		name    string
		ctx     context.Context
		app, rt string
		want    string
		errCode apperr.Code
	}{
		// rt-1 has no isNormalized label, so it sees the name normalized, as in Compass.
		{"shared scenario", as("t1"), "app-1", "rt-1", "https://events.rt1.example.com/mp-shop/v1/events", ""},
		{"runtime without endpoint", as("t1"), "app-1", "rt-none", "", ""},
		{"without scenarios nothing is shared", as("t1"), "app-2", "rt-bare", "", apperr.CodeInvalidInput},
		{"runtime without scenarios", as("t1"), "app-1", "rt-bare", "", apperr.CodeInvalidInput},
		{"no shared scenario", as("t1"), "app-1", "rt-red", "", apperr.CodeInvalidInput},
		{"unknown application", as("t1"), "nope", "rt-1", "", apperr.CodeNotFound},
		{"unknown runtime", as("t1"), "app-1", "nope", "", apperr.CodeNotFound},
		{"runtime of another tenant", as("t1"), "app-1", "rt-2", "", apperr.CodeNotFound},
		{"application of another tenant", as("t2"), "app-1", "rt-2", "", apperr.CodeNotFound},
		{"empty app id", as("t1"), "", "rt-1", "", apperr.CodeInvalidInput},
		{"empty runtime id", as("t1"), "app-1", "", "", apperr.CodeInvalidInput},
		{"no tenant", context.Background(), "app-1", "rt-1", "", apperr.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			cfg, err := s.SetDefault(tt.ctx, tt.app, tt.rt)
			if tt.errCode != "" {
				if apperr.CodeOf(err) != tt.errCode {
					t.Fatalf("err = %v, want %s", err, tt.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DefaultURL != tt.want {
				t.Fatalf("defaultURL = %q, want %q", cfg.DefaultURL, tt.want)
			}
			got, err := s.ForApplication(tt.ctx, &model.Application{ID: tt.app, Name: "shop", Labels: map[string]any{"scenarios": []any{"DEFAULT", "blue"}}})
			if err != nil || got.DefaultURL != tt.want {
				t.Fatalf("ForApplication = %+v, %v", got, err)
			}
		})
	}
}

func TestDeleteDefault(t *testing.T) {
	s := setup(t)
	ctx := as("t1")
	shop := &model.Application{ID: "app-1", Name: "shop"}

	if cfg, err := s.ForApplication(ctx, shop); err != nil || cfg.DefaultURL != "" {
		t.Fatalf("before any setting: %+v, %v", cfg, err)
	}
	if _, err := s.SetDefault(ctx, "app-1", "rt-1"); err != nil {
		t.Fatal(err)
	}
	// Another tenant does not see the setting.
	if cfg, err := s.ForApplication(as("t2"), shop); err != nil || cfg.DefaultURL != "" {
		t.Fatalf("other tenant: %+v, %v", cfg, err)
	}

	steps := []struct {
		name    string
		app     string
		want    string
		errCode apperr.Code
	}{
		{"returns the setting in place", "app-1", "https://events.rt1.example.com/mp-shop/v1/events", ""},
		{"then nothing is left", "app-1", "", ""},
		{"unknown application", "nope", "", apperr.CodeNotFound},
		{"empty id", "", "", apperr.CodeInvalidInput},
	}
	for _, st := range steps {
		cfg, err := s.DeleteDefault(ctx, st.app)
		if st.errCode != "" {
			if apperr.CodeOf(err) != st.errCode {
				t.Fatalf("%s: err = %v, want %s", st.name, err, st.errCode)
			}
			continue
		}
		if err != nil || cfg.DefaultURL != st.want {
			t.Fatalf("%s: %+v, %v", st.name, cfg, err)
		}
	}
	if cfg, err := s.ForApplication(ctx, shop); err != nil || cfg.DefaultURL != "" {
		t.Fatalf("after delete: %+v, %v", cfg, err)
	}
}

func TestDefaultRuntimeGone(t *testing.T) {
	reg := registry.New(memstate.New(), "registry")
	put(t, reg, "t1", "application", "app-1", model.Application{ID: "app-1", Name: "shop", Labels: map[string]any{"scenarios": []string{"DEFAULT"}}})
	put(t, reg, "t1", "runtime", "rt-1", runtime(map[string]any{"scenarios": []any{"DEFAULT"}, eventing.EventServiceURLLabel: "https://e.example.com"}))
	lookup := eventing.NewLookup(reg)
	s := eventing.NewService(reg, lookup, lookup)
	if _, err := s.SetDefault(as("t1"), "app-1", "rt-1"); err != nil {
		t.Fatal(err)
	}
	err := reg.Mutate(context.Background(), registry.Scope{Tenant: "t1", Kind: "runtime"}, "rt-1", "", func([]byte) (registry.Change, error) {
		return registry.Change{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.ForApplication(as("t1"), &model.Application{ID: "app-1", Name: "shop"})
	if err != nil || cfg.DefaultURL != "" {
		t.Fatalf("runtime gone: %+v, %v", cfg, err)
	}
}

func TestForRuntime(t *testing.T) {
	svc := setup(t)
	tests := []struct {
		name   string
		labels map[string]any
		want   string
	}{
		// The endpoint as the label gives it: unlike an application's URL nothing is appended.
		{"label set", map[string]any{eventing.EventServiceURLLabel: "https://events.rt1.example.com/"}, "https://events.rt1.example.com/"},
		{"no label", map[string]any{"scenarios": []any{"DEFAULT"}}, ""},
		{"no labels at all", nil, ""},
		{"label not a string", map[string]any{eventing.EventServiceURLLabel: []any{"https://x"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := svc.ForRuntime(&model.Runtime{ID: "rt", Labels: tc.labels})
			if got == nil || got.DefaultURL != tc.want {
				t.Fatalf("got %+v, want %q", got, tc.want)
			}
		})
	}
}

// Without a default runtime, or while the default shares no scenario with the application, its events go
// to the oldest runtime sharing a scenario with it, as in Compass; the name in the URL is the one that
// runtime sees (issue 9, missing behaviours 2 and 4).
func TestFallbackToOldestRuntime(t *testing.T) {
	reg := directortest.Registry()
	defs := label.NewDefinitions(reg)
	apps, rts := application.NewService(reg, defs), runtimes.NewService(reg, defs)
	lookup := eventing.NewLookup(reg)
	s := eventing.NewService(reg, lookup, lookup)
	ctx := directortest.Tenant("t1")
	schema := `{"type":"array","items":{"type":"string","enum":["DEFAULT","blue","green","empty"]}}`
	if _, err := defs.Update(ctx, model.LabelDefinitionInput{Key: "scenarios", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	app, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: "Shop@v1", Labels: map[string]any{"scenarios": []any{"blue"}}})
	if err != nil {
		t.Fatal(err)
	}
	register := func(name string, labels map[string]any) *model.Runtime {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // registration times tell the runtimes apart
		rt, err := rts.Register(ctx, model.RuntimeInput{Name: name, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	register("rt-old", map[string]any{"scenarios": []any{"green"}, eventing.EventServiceURLLabel: "https://old"})
	rtA := register("rt-a", map[string]any{"scenarios": []any{"blue"}, eventing.EventServiceURLLabel: "https://a"})
	rtB := register("rt-b", map[string]any{"scenarios": []any{"blue"}, eventing.EventServiceURLLabel: "https://b", "isNormalized": "false"})

	const viaA, viaB = "https://a/mp-shop-v1/v1/events", "https://b/Shop@v1/v1/events"
	check := func(step, want string) {
		t.Helper()
		cur, err := apps.Get(ctx, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := s.ForApplication(ctx, cur)
		if err != nil || cfg.DefaultURL != want {
			t.Fatalf("%s: %+v, %v; want %q", step, cfg, err, want)
		}
	}
	check("no default: the oldest runtime sharing a scenario", viaA)
	if cfg, err := s.SetDefault(ctx, app.ID, rtB.ID); err != nil || cfg.DefaultURL != viaB {
		t.Fatalf("set default: %+v, %v", cfg, err)
	}
	check("the default, which sees the name as registered", viaB)
	if _, err := rts.SetLabel(ctx, rtB.ID, "scenarios", []any{"green"}); err != nil {
		t.Fatal(err)
	}
	check("the default left the scenario", viaA)
	if _, err := rts.SetLabel(ctx, rtB.ID, "scenarios", []any{"blue"}); err != nil {
		t.Fatal(err)
	}
	check("the default is back in the scenario (reading wrote nothing)", viaB)
	if cfg, err := s.DeleteDefault(ctx, app.ID); err != nil || cfg.DefaultURL != viaB {
		t.Fatalf("delete default returns the default it removed: %+v, %v", cfg, err)
	}
	check("default deleted", viaA)
	if _, err := rts.Unregister(ctx, rtA.ID); err != nil {
		t.Fatal(err)
	}
	check("the oldest is gone: the next one", viaB)
	if _, err := apps.SetLabel(ctx, app.ID, "scenarios", []any{"empty"}); err != nil {
		t.Fatal(err)
	}
	check("no runtime in the application's scenarios", "")
	if cfg, err := s.DeleteDefault(ctx, app.ID); err != nil || cfg.DefaultURL != "" {
		t.Fatalf("delete without a default: %+v, %v", cfg, err)
	}
}
