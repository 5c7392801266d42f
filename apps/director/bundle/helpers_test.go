package bundle_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// env is a service over an in-memory state store, with a context per tenant.
type env struct {
	svc   *bundle.Service
	reg   *registry.Registry
	state *memstate.Store
	ctx   context.Context // tenant t1
	other context.Context // tenant t2
}

func newEnv(t *testing.T, cfg bundle.Config) *env {
	t.Helper()
	st := memstate.New()
	reg := registry.New(st, "registry")
	return &env{
		svc:   bundle.NewService(reg, &http.Client{}, cfg),
		reg:   reg,
		state: st,
		ctx:   tenantCtx("t1"),
		other: tenantCtx("t2"),
	}
}

func tenantCtx(tenant string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Tenant: tenant})
}

// addApp stores an application directly, as the application service would.
func (e *env) addApp(t *testing.T, webhooks ...*model.Webhook) string {
	t.Helper()
	return e.addAppIn(t, e.ctx, webhooks...)
}

func (e *env) addAppIn(t *testing.T, ctx context.Context, webhooks ...*model.Webhook) string {
	t.Helper()
	sc, err := registry.TenantScope(ctx, "application")
	if err != nil {
		t.Fatal(err)
	}
	app := &model.Application{ID: uuid.NewString(), Name: "app", Webhooks: webhooks, CreatedAt: time.Now()}
	for _, w := range webhooks {
		w.ApplicationID = app.ID
	}
	err = e.reg.Mutate(ctx, sc, app.ID, "", func([]byte) (registry.Change, error) { return registry.Change{Data: app}, nil })
	if err != nil {
		t.Fatal(err)
	}
	return app.ID
}

func (e *env) addBundle(t *testing.T, appID string, in model.BundleCreateInput) *model.Bundle {
	t.Helper()
	b, err := e.svc.AddBundle(e.ctx, appID, &in)
	if err != nil {
		t.Fatalf("addBundle: %v", err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got no error", code)
	}
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("want %s, got %s: %v", code, got, err)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func api(name string) *model.APIDefinitionInput {
	return &model.APIDefinitionInput{
		Name: name, TargetURL: "https://example.com/" + name,
		Spec: &model.APISpecInput{Data: ptr(`{"openapi":"3.0.2"}`), Type: model.APISpecTypeOpenAPI, Format: model.SpecFormatJSON},
	}
}

func event(name string) *model.EventDefinitionInput {
	return &model.EventDefinitionInput{
		Name: name,
		Spec: &model.EventSpecInput{Data: ptr(`{"asyncapi":"2.0.0"}`), Type: model.EventSpecTypeAsyncAPI, Format: model.SpecFormatYaml},
	}
}

func doc(title string) *model.DocumentInput {
	return &model.DocumentInput{Title: title, DisplayName: title, Description: "about " + title, Format: model.DocumentFormatMarkdown, Data: ptr("# " + title)}
}

func basicAuth(user, pass string) *model.AuthInput {
	return &model.AuthInput{Credential: &model.CredentialDataInput{Basic: &model.BasicCredentialDataInput{Username: user, Password: pass}}}
}

// One-key helpers over the batch API, as the loaders use it.
func (e *env) apis(t *testing.T, ctx context.Context, k bundle.ListKey) *model.APIDefinitionPage {
	t.Helper()
	ps, errs := e.svc.APIDefinitionPages(ctx, []bundle.ListKey{k})
	mustOK(t, firstErr(errs))
	return ps[0]
}

func (e *env) bundles(t *testing.T, ctx context.Context, appID string) *model.BundlePage {
	t.Helper()
	ps, errs := e.svc.BundlePages(ctx, []bundle.ListKey{{Parent: appID, First: bundle.MaxPageSize}})
	mustOK(t, firstErr(errs))
	return ps[0]
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
