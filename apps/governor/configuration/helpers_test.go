package configuration_test

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// fakeDirector knows runtime labels per tenant, like the Director answers them to a caller of the tenant.
type fakeDirector struct {
	mu       sync.Mutex
	runtimes map[string]map[string]map[string]any // tenant -> runtime -> labels
	// refuse, when set, is the answer to every labels request (the caller's assertion expired, say).
	refuse error
}

func (f *fakeDirector) RuntimeLabels(ctx context.Context, runtimeID string) (map[string]any, error) {
	id, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	labels, ok := f.runtimes[id.Tenant][runtimeID]
	if !ok {
		return nil, apperr.NotFound("runtime", runtimeID)
	}
	return maps.Clone(labels), nil
}

func (f *fakeDirector) Runtimes(ctx context.Context) ([]configuration.PlannedRuntime, error) {
	id, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []configuration.PlannedRuntime
	for rid, labels := range f.runtimes[id.Tenant] {
		out = append(out, configuration.PlannedRuntime{ID: rid, Labels: maps.Clone(labels)})
	}
	return out, nil
}

func (f *fakeDirector) set(tenant, runtimeID string, labels map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runtimes == nil {
		f.runtimes = map[string]map[string]map[string]any{}
	}
	if f.runtimes[tenant] == nil {
		f.runtimes[tenant] = map[string]map[string]any{}
	}
	f.runtimes[tenant][runtimeID] = labels
}

type env struct {
	store    *memstate.Store
	reg      *registry.Registry
	hub      *notify.Hub
	director *fakeDirector
	svc      *configuration.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{store: memstate.New(), hub: notify.NewHub(), director: &fakeDirector{}}
	e.reg = registry.New(e.store, "governorstore")
	e.svc = configuration.NewService(e.reg, e.director, e.hub, slog.New(slog.DiscardHandler))
	return e
}

// replica returns another governor over the same store, with a hub of its own: another process.
func (e *env) replica() *configuration.Service {
	return configuration.NewService(e.reg, e.director, notify.NewHub(), slog.New(slog.DiscardHandler))
}

func asUser(tenant string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Tenant: tenant, Subject: "alice", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes,
	})
}

func asRuntime(tenant, runtimeID string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Tenant: tenant, Subject: runtimeID, ConsumerType: identity.ConsumerRuntime,
	})
}

func str(s string) *string { return &s }

func nv(name, value string) configuration.NameValue {
	return configuration.NameValue{Name: name, Value: value}
}

func httpBinding(name, url string) configuration.BindingInput {
	return configuration.BindingInput{Name: name, Type: "bindings.http", Metadata: []configuration.NameValue{nv("url", url)}}
}

func storageBinding(name, root string) configuration.BindingInput {
	return configuration.BindingInput{Name: name, Type: "bindings.localstorage", Metadata: []configuration.NameValue{nv("rootPath", root)}}
}

// withToken is an http binding whose securityToken is a secret.
func withToken(name, url string, token *string) configuration.BindingInput {
	b := httpBinding(name, url)
	b.SecretMetadata = []configuration.SecretInput{{Name: "securityToken", Value: token}}
	return b
}

func forRuntime(runtimeID string, bs ...configuration.BindingInput) configuration.Input {
	return configuration.Input{RuntimeID: runtimeID, Bindings: bs}
}

func forLabels(sel map[string]string, bs ...configuration.BindingInput) configuration.Input {
	in := configuration.Input{Bindings: bs}
	for k, v := range sel {
		in.LabelSelector = append(in.LabelSelector, configuration.LabelMatch{Key: k, Value: v})
	}
	return in
}

func mustCreate(t *testing.T, ctx context.Context, svc *configuration.Service, in configuration.Input) *configuration.Configuration {
	t.Helper()
	c, err := svc.Create(ctx, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return c
}

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

// binding returns the effective binding called name, or fails.
func binding(t *testing.T, eff *configuration.Effective, name string) configuration.EffectiveBinding {
	t.Helper()
	for _, b := range eff.Bindings {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no binding %q in %+v", name, eff.Bindings)
	return configuration.EffectiveBinding{}
}

func metadata(b configuration.Binding, name string) string {
	for _, m := range b.Metadata {
		if m.Name == name {
			return m.Value
		}
	}
	return ""
}

func silent() *slog.Logger { return slog.New(slog.DiscardHandler) }
