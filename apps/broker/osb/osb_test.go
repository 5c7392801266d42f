package osb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// fakeDirector holds one application with an immediate and a waiting bundle, and instance auths by id.
type fakeDirector struct {
	apps      []director.Application
	immediate map[string]bool // bundle id -> has a default auth
	auths     map[string]*director.InstanceAuth
	requests  int
	failNext  error
}

func newFakeDirector() *fakeDirector {
	return &fakeDirector{
		apps:      []director.Application{{ID: "app-1", Name: "orders", Bundles: director.Application{}.Bundles}},
		immediate: map[string]bool{"b-sync": true, "b-async": false},
		auths:     map[string]*director.InstanceAuth{},
	}
}

func (f *fakeDirector) Applications(context.Context) ([]director.Application, error) {
	return f.apps, nil
}

func (f *fakeDirector) Plan(_ context.Context, appID, bundleID string) (*director.Plan, error) {
	imm, ok := f.immediate[bundleID]
	if appID != "app-1" || !ok {
		return nil, director.ErrNoPlan
	}
	return &director.Plan{ApplicationID: appID, BundleID: bundleID, Immediate: imm}, nil
}

func (f *fakeDirector) RequestInstanceAuth(_ context.Context, bundleID, id string, _, params json.RawMessage) (*director.InstanceAuth, error) {
	f.requests++
	if err := f.failNext; err != nil {
		f.failNext = nil
		return nil, err
	}
	if _, ok := f.auths[id]; ok {
		return nil, apperr.New(apperr.CodeAlreadyExists, "exists")
	}
	ia := &director.InstanceAuth{ID: id}
	ia.Status.Condition = director.Pending
	if f.immediate[bundleID] {
		ia.Status.Condition = director.Succeeded
		ia.Auth = &director.Auth{Credential: &director.Credential{Typename: "BasicCredentialData", Username: "u", Password: "p"}}
	}
	f.auths[id] = ia
	return ia, nil
}

func (f *fakeDirector) InstanceAuth(_ context.Context, id string) (*director.Binding, error) {
	ia, ok := f.auths[id]
	if !ok {
		return nil, nil
	}
	return &director.Binding{InstanceAuth: *ia, TargetURLs: map[string]string{"api": "https://x"}}, nil
}

func (f *fakeDirector) RequestInstanceAuthDeletion(_ context.Context, id string) error {
	ia, ok := f.auths[id]
	if !ok {
		return apperr.NotFound("instance auth", id)
	}
	if ia.Status.Condition == director.Succeeded && ia.Auth != nil && ia.Auth.Credential.Username == "u" {
		delete(f.auths, id) // the bundle's default auth: gone at once
		return nil
	}
	ia.Status.Condition = director.Unused
	return nil
}

func (f *fakeDirector) Specification(context.Context, string, string, string, bool) (*director.Specification, error) {
	return nil, nil
}

func newBroker(t *testing.T) (*Broker, *fakeDirector, context.Context) {
	t.Helper()
	d := newFakeDirector()
	b := New(d, registry.New(memstate.New(), "store"), slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config{SpecURL: func(a, b, k, d string) string { return "https://gw/" + a + "/" + b + "/" + k + "/" + d }})
	ctx := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime})
	return b, d, ctx
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("%s: want an OSB %d, got %v", what, status, err)
	}
}

func TestOnlyRuntimesUseTheBroker(t *testing.T) {
	b, _, _ := newBroker(t)
	user := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "u", ConsumerType: identity.ConsumerUser})
	_, err := b.Catalog(user)
	wantStatus(t, "a user", err, http.StatusForbidden)
	_, err = b.Provision(context.Background(), "i", ProvisionRequest{ServiceID: "app-1", PlanID: "b-sync"})
	wantStatus(t, "nobody", err, http.StatusForbidden)
}

func TestProvisionIsIdempotentAndConflicts(t *testing.T) {
	b, _, ctx := newBroker(t)
	req := ProvisionRequest{ServiceID: "app-1", PlanID: "b-sync", Parameters: json.RawMessage(`{"a":1,"b":2}`)}
	if created, err := b.Provision(ctx, "i1", req); err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	// Same values, other key order and spacing: identical.
	same := req
	same.Parameters = json.RawMessage(`{ "b":2, "a":1 }`)
	if created, err := b.Provision(ctx, "i1", same); err != nil || created {
		t.Fatalf("identical: %v %v", created, err)
	}
	other := req
	other.Parameters = json.RawMessage(`{"a":2}`)
	_, err := b.Provision(ctx, "i1", other)
	wantStatus(t, "other attributes", err, http.StatusConflict)
	_, err = b.Provision(ctx, "i2", ProvisionRequest{ServiceID: "app-1", PlanID: "not-a-bundle"})
	wantStatus(t, "unknown plan", err, http.StatusBadRequest)
	_, err = b.Provision(ctx, "i3", ProvisionRequest{ServiceID: "app-1", PlanID: "b-sync", Parameters: json.RawMessage(`[1]`)})
	wantStatus(t, "parameters not an object", err, http.StatusBadRequest)
	_, err = b.Provision(ctx, "../x", req)
	wantStatus(t, "bad id", err, http.StatusBadRequest)

	// Another runtime of the tenant chose the same instance id: its own instance, not ours.
	other2 := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "rt-2", ConsumerType: identity.ConsumerRuntime})
	_, err = b.Instance(other2, "i1")
	wantStatus(t, "another runtime's instance", err, http.StatusNotFound)
	if created, err := b.Provision(other2, "i1", other); err != nil || !created {
		t.Fatalf("another runtime, same id: %v %v", created, err)
	}
}

func TestBindDecidesSyncOrAsyncFromTheBundle(t *testing.T) {
	b, d, ctx := newBroker(t)
	for _, in := range []struct{ id, plan string }{{"sync", "b-sync"}, {"async", "b-async"}} {
		if _, err := b.Provision(ctx, in.id, ProvisionRequest{ServiceID: "app-1", PlanID: in.plan}); err != nil {
			t.Fatal(err)
		}
	}

	res, err := b.Bind(ctx, "sync", "bs", BindRequest{ServiceID: "app-1", PlanID: "b-sync"}, false)
	if err != nil || res.Status != http.StatusCreated || res.Credentials.CredentialsType != CredentialsBasic ||
		res.Credentials.AuthDetails.Auth["password"] != "p" || res.Credentials.TargetURLs["api"] != "https://x" {
		t.Fatalf("sync bind: %+v %v", res, err)
	}
	res, err = b.Bind(ctx, "sync", "bs", BindRequest{ServiceID: "app-1", PlanID: "b-sync"}, false)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("identical bind: %+v %v", res, err)
	}

	before := d.requests
	_, err = b.Bind(ctx, "async", "ba", BindRequest{ServiceID: "app-1", PlanID: "b-async"}, false)
	wantStatus(t, "async bind without accepts_incomplete", err, http.StatusUnprocessableEntity)
	if d.requests != before {
		t.Fatal("a refused bind asked the Director")
	}
	if v, _ := b.Instance(ctx, "async"); v == nil {
		t.Fatal("instance gone")
	}
	res, err = b.Bind(ctx, "async", "ba", BindRequest{ServiceID: "app-1", PlanID: "b-async"}, true)
	if err != nil || res.Status != http.StatusAccepted || res.Operation != OperationBind || res.Credentials != nil {
		t.Fatalf("async bind: %+v %v", res, err)
	}
	lo, err := b.BindingLastOperation(ctx, "async", "ba", OperationBind)
	if err != nil || lo.State != InProgress {
		t.Fatalf("pending: %+v %v", lo, err)
	}
	_, err = b.Binding(ctx, "async", "ba")
	wantStatus(t, "GET while pending", err, http.StatusNotFound)
	d.auths["ba"].Status.Condition, d.auths["ba"].Status.Reason = director.Failed, "Refused"
	lo, _ = b.BindingLastOperation(ctx, "async", "ba", OperationBind)
	if lo.State != Failed || lo.Description == "" {
		t.Fatalf("failed: %+v", lo)
	}

	_, err = b.Bind(ctx, "async", "bx", BindRequest{ServiceID: "app-1", PlanID: "b-sync"}, true)
	wantStatus(t, "plan of another instance", err, http.StatusBadRequest)
	_, err = b.Bind(ctx, "nope", "by", BindRequest{ServiceID: "app-1", PlanID: "b-sync"}, true)
	wantStatus(t, "unknown instance", err, http.StatusNotFound)
}

func TestRefusedParametersLeaveNoBinding(t *testing.T) {
	b, d, ctx := newBroker(t)
	if _, err := b.Provision(ctx, "i", ProvisionRequest{ServiceID: "app-1", PlanID: "b-async"}); err != nil {
		t.Fatal(err)
	}
	d.failNext = apperr.Invalid("inputParams: missing property team")
	_, err := b.Bind(ctx, "i", "bad", BindRequest{ServiceID: "app-1", PlanID: "b-async", Parameters: json.RawMessage(`{}`)}, true)
	wantStatus(t, "schema", err, http.StatusBadRequest)
	if err := b.Deprovision(ctx, "i", "app-1", "b-async"); err != nil {
		t.Fatalf("the refused binding was kept: %v", err)
	}
}

func TestADirectorFailureIsNotTheCallersFault(t *testing.T) {
	b, d, ctx := newBroker(t)
	if _, err := b.Provision(ctx, "i", ProvisionRequest{ServiceID: "app-1", PlanID: "b-async"}); err != nil {
		t.Fatal(err)
	}
	d.failNext = errors.New("dial tcp 10.0.0.7:50001: connection refused")
	_, err := b.Bind(ctx, "i", "b1", BindRequest{ServiceID: "app-1", PlanID: "b-async"}, true)
	if refusal := new(Error); err == nil || errors.As(err, &refusal) {
		t.Fatalf("want an internal error (the edge answers 500), got %v", err)
	}
	// The binding stays recorded, so that the platform's orphan mitigation (an unbind) finds and ends it.
	accepted, err := b.Unbind(ctx, "i", "b1", "app-1", "b-async", true)
	if err != nil || accepted {
		t.Fatalf("orphan mitigation: %v %v", accepted, err)
	}
	_, err = b.Unbind(ctx, "i", "b1", "app-1", "b-async", true)
	wantStatus(t, "unbind again", err, http.StatusGone)
}

func TestUnbindWaitsForTheApplication(t *testing.T) {
	b, d, ctx := newBroker(t)
	if _, err := b.Provision(ctx, "i", ProvisionRequest{ServiceID: "app-1", PlanID: "b-async"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bind(ctx, "i", "b1", BindRequest{ServiceID: "app-1", PlanID: "b-async"}, true); err != nil {
		t.Fatal(err)
	}
	err := b.Deprovision(ctx, "i", "app-1", "b-async")
	wantStatus(t, "deprovision with bindings", err, http.StatusBadRequest)
	_, err = b.Unbind(ctx, "i", "b1", "app-1", "b-async", false)
	wantStatus(t, "unbind without accepts_incomplete", err, http.StatusUnprocessableEntity)
	if d.auths["b1"].Status.Condition == director.Unused {
		t.Fatal("a refused unbind gave the instance auth up")
	}
	accepted, err := b.Unbind(ctx, "i", "b1", "app-1", "b-async", true)
	if err != nil || !accepted {
		t.Fatalf("unbind: %v %v", accepted, err)
	}
	_, err = b.Bind(ctx, "i", "b1", BindRequest{ServiceID: "app-1", PlanID: "b-async"}, true)
	wantStatus(t, "bind while unbinding", err, http.StatusUnprocessableEntity)
	lo, _ := b.BindingLastOperation(ctx, "i", "b1", OperationUnbind)
	if lo.State != InProgress {
		t.Fatalf("before the application deleted it: %+v", lo)
	}
	delete(d.auths, "b1") // the application deletes the instance auth
	lo, _ = b.BindingLastOperation(ctx, "i", "b1", OperationUnbind)
	if lo.State != Succeeded {
		t.Fatalf("after: %+v", lo)
	}
	_, err = b.BindingLastOperation(ctx, "i", "b1", OperationUnbind)
	wantStatus(t, "poll after it ended", err, http.StatusGone)
	if err := b.Deprovision(ctx, "i", "app-1", "b-async"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "deprovision again", b.Deprovision(ctx, "i", "app-1", "b-async"), http.StatusGone)
}

func TestCatalogLeavesOutApplicationsWithoutBundles(t *testing.T) {
	b, d, ctx := newBroker(t)
	bundle := director.Bundle{ID: "b1", Name: "api", InstanceAuthRequestInputSchema: json.RawMessage(`"{\"type\":\"object\"}"`)}
	bundle.APIDefinitions.Data = []director.Definition{{ID: "d1", Name: "orders", TargetURL: "https://o", Spec: &director.Spec{Type: "OPEN_API", Format: "YAML"}}}
	twin := director.Bundle{ID: "b2", Name: "api"}
	withBundles := director.Application{ID: "a1", Name: "orders"}
	withBundles.Bundles.Data = []director.Bundle{bundle, twin}
	d.apps = []director.Application{withBundles, {ID: "a2", Name: "empty"}}
	c, err := b.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 1 || c.Services[0].ID != "a1" || c.Services[0].Description == "" {
		t.Fatalf("services %+v", c.Services)
	}
	plans := c.Services[0].Plans
	if len(plans) != 2 || plans[0].Name == plans[1].Name {
		t.Fatalf("plan names must be unique within a service: %+v", plans)
	}
	if plans[0].Schemas == nil || string(plans[0].Schemas.ServiceBinding.Create.Parameters) != `{"type":"object"}` {
		t.Fatalf("bind schema %+v", plans[0].Schemas)
	}
	apis := plans[0].Metadata["api_specs"].([]DefinitionMetadata)
	if len(apis) != 1 || apis[0].Specification.URL != "https://gw/a1/b1/apis/d1" || apis[0].Specification.MediaType != "text/yaml" {
		t.Fatalf("api specs %+v", apis)
	}
}

func TestCredentialsOfEachKind(t *testing.T) {
	b := &director.Binding{TargetURLs: map[string]string{"a": "https://a"}}
	b.InstanceAuth.ID = "x"
	if c := credentialsOf(b); c.CredentialsType != CredentialsNoAuth || c.TargetURLs["a"] != "https://a" {
		t.Fatalf("no auth: %+v", c)
	}
	b.InstanceAuth.Auth = &director.Auth{
		Credential:            &director.Credential{Typename: "OAuthCredentialData", ClientID: "c", ClientSecret: "s", URL: "https://t"},
		AdditionalQueryParams: map[string][]string{"q": {"1"}},
	}
	c := credentialsOf(b)
	if c.CredentialsType != CredentialsOAuth || c.AuthDetails.Auth["tokenUrl"] != "https://t" || c.AuthDetails.RequestParameters.QueryParameters["q"][0] != "1" {
		t.Fatalf("oauth: %+v", c)
	}
}

func TestOriginatingIdentityIsDecoded(t *testing.T) {
	got, _ := json.Marshal(decodeOriginatingIdentity("kubernetes eyJ1c2VybmFtZSI6ImFsaWNlIn0="))
	if string(got) != `{"platform":"kubernetes","value":{"username":"alice"}}` {
		t.Fatalf("got %s", got)
	}
	if decodeOriginatingIdentity("garbage") != "garbage" {
		t.Fatal("undecodable values are kept as sent")
	}
}
