package runtimecontext_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimecontext"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

type fixture struct {
	state *memstate.Store
	reg   *registry.Registry
	defs  *label.Definitions
	rts   *runtimes.Service
	svc   *runtimecontext.Service
	admin context.Context
}

// newFixture wires the services as the Director's main does, over an in-memory store, with tenant t1's
// admin at hand.
func newFixture() *fixture {
	st := memstate.New()
	reg := registry.New(st, "registry")
	defs := label.NewDefinitions(reg)
	rts := runtimes.NewService(reg, defs)
	svc := runtimecontext.NewService(reg, defs)
	rts.SetParts(svc)
	return &fixture{state: st, reg: reg, defs: defs, rts: rts, svc: svc, admin: directortest.Tenant("t1")}
}

// runtime registers a runtime in the tenant of admin and returns a context calling as that runtime.
func (f *fixture) runtime(t *testing.T, admin context.Context, name string) (string, context.Context) {
	t.Helper()
	rt, err := f.rts.Register(admin, model.RuntimeInput{Name: name})
	if err != nil {
		t.Fatalf("register runtime %s: %v", name, err)
	}
	tenant, _ := identity.TenantFrom(admin)
	return rt.ID, directortest.Runtime(tenant, rt.ID)
}

func (f *fixture) add(t *testing.T, ctx context.Context, key, value string, labels map[string]any) *model.RuntimeContext {
	t.Helper()
	rc, err := f.svc.Register(ctx, model.RuntimeContextInput{Key: key, Value: value, Labels: labels})
	if err != nil {
		t.Fatalf("register context %s: %v", key, err)
	}
	return rc
}

func (f *fixture) list(t *testing.T, ctx context.Context, filters []*model.LabelFilter, first int, after string) *model.RuntimeContextPage {
	t.Helper()
	p, err := f.svc.List(ctx, filters, first, after)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return p
}

func keys(p *model.RuntimeContextPage) []string {
	var out []string
	for _, c := range p.Data {
		out = append(out, c.Key)
	}
	return out
}

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if apperr.CodeOf(err) != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func TestLifecycle(t *testing.T) {
	f := newFixture()
	_, asRT := f.runtime(t, f.admin, "rt")

	rc := f.add(t, asRT, "ns-default", "default", map[string]any{"env": "prod", "tier": 1})
	if rc.ID == "" || rc.Key != "ns-default" || rc.Value != "default" || rc.Labels["env"] != "prod" || rc.Labels["tier"] != 1.0 {
		t.Fatalf("registered %+v", rc)
	}
	got, err := f.svc.Get(asRT, rc.ID)
	if err != nil || got.Key != "ns-default" || got.Labels["env"] != "prod" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if p := f.list(t, asRT, nil, 10, ""); p.TotalCount != 1 || !slices.Equal(keys(p), []string{"ns-default"}) {
		t.Fatalf("list: %+v", p)
	}

	up, err := f.svc.Update(asRT, rc.ID, model.RuntimeContextInput{Key: "ns-renamed", Value: "other", Labels: map[string]any{"team": "blue"}})
	if err != nil || up.ID != rc.ID || up.Key != "ns-renamed" || up.Value != "other" || len(up.Labels) != 1 || up.Labels["team"] != "blue" {
		t.Fatalf("update: %+v %v", up, err)
	}
	// The labels were replaced, indexes with them.
	if p := f.list(t, asRT, []*model.LabelFilter{{Key: "env"}}, 10, ""); p.TotalCount != 0 || len(p.Data) != 0 {
		t.Fatalf("old label still indexed: %+v", p)
	}
	if p := f.list(t, asRT, []*model.LabelFilter{{Key: "team"}}, 10, ""); len(p.Data) != 1 {
		t.Fatalf("new label not indexed: %+v", p)
	}
	// The old key is free again, the new one is taken.
	f.add(t, asRT, "ns-default", "again", nil)
	_, err = f.svc.Register(asRT, model.RuntimeContextInput{Key: "ns-renamed", Value: "v"})
	wantCode(t, err, apperr.CodeAlreadyExists)

	gone, err := f.svc.Unregister(asRT, rc.ID)
	if err != nil || gone.ID != rc.ID || gone.Key != "ns-renamed" {
		t.Fatalf("unregister: %+v %v", gone, err)
	}
	_, err = f.svc.Get(asRT, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = f.svc.Unregister(asRT, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = f.svc.Update(asRT, rc.ID, model.RuntimeContextInput{Key: "k", Value: "v"})
	wantCode(t, err, apperr.CodeNotFound)
	if p := f.list(t, asRT, nil, 10, ""); !slices.Equal(keys(p), []string{"ns-default"}) || p.TotalCount != 1 {
		t.Fatalf("after unregister: %+v", p)
	}
	f.add(t, asRT, "ns-renamed", "free again", nil)
}

func TestDuplicateKey(t *testing.T) {
	f := newFixture()
	_, asRT := f.runtime(t, f.admin, "rt")
	_, asOther := f.runtime(t, f.admin, "other")
	f.add(t, asRT, "shared", "1", nil)
	second := f.add(t, asRT, "second", "2", nil)

	before := f.state.Txns
	_, err := f.svc.Register(asRT, model.RuntimeContextInput{Key: "shared", Value: "x", Labels: map[string]any{"brand-new": "x"}})
	wantCode(t, err, apperr.CodeAlreadyExists)
	if !strings.Contains(err.Error(), `"shared"`) {
		t.Fatalf("the message should name the key: %v", err)
	}
	_, err = f.svc.Update(asRT, second.ID, model.RuntimeContextInput{Key: "shared", Value: "x"})
	wantCode(t, err, apperr.CodeAlreadyExists)
	if f.state.Txns != before {
		t.Fatal("a duplicate key wrote something (a label definition, say)")
	}
	if _, err := f.defs.Get(f.admin, "brand-new"); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("a refused context created a label definition: %v", err)
	}
	// Updating a context to its own key is no duplicate.
	if _, err := f.svc.Update(asRT, second.ID, model.RuntimeContextInput{Key: "second", Value: "changed"}); err != nil {
		t.Fatal(err)
	}
	// Keys are unique per runtime, not per tenant.
	f.add(t, asOther, "shared", "mine", nil)
}

func TestInvalidInputChangesNothing(t *testing.T) {
	f := newFixture()
	_, asRT := f.runtime(t, f.admin, "rt")
	existing := f.add(t, asRT, "existing", "v", nil)
	schema := `{"type":"string","enum":["prod","dev"]}`
	if _, err := f.defs.Create(f.admin, model.LabelDefinitionInput{Key: "env", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   model.RuntimeContextInput
	}{
		{"empty key", model.RuntimeContextInput{Key: "", Value: "v"}},
		{"key with a slash", model.RuntimeContextInput{Key: "a/b", Value: "v"}},
		{"key with a space", model.RuntimeContextInput{Key: "a b", Value: "v"}},
		{"key of 513 characters", model.RuntimeContextInput{Key: strings.Repeat("k", 513), Value: "v"}},
		{"empty value", model.RuntimeContextInput{Key: "k", Value: ""}},
		{"value of 513 characters", model.RuntimeContextInput{Key: "k", Value: strings.Repeat("é", 513)}},
		{"null label", model.RuntimeContextInput{Key: "k", Value: "v", Labels: map[string]any{"x": nil}}},
		{"bad label key", model.RuntimeContextInput{Key: "k", Value: "v", Labels: map[string]any{"a b": "x"}}},
		{"label against its schema", model.RuntimeContextInput{Key: "k", Value: "v", Labels: map[string]any{"env": "qa"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state.Txns
			_, err := f.svc.Register(asRT, tc.in)
			wantCode(t, err, apperr.CodeInvalidInput)
			_, err = f.svc.Update(asRT, existing.ID, tc.in)
			wantCode(t, err, apperr.CodeInvalidInput)
			if f.state.Txns != before {
				t.Fatal("invalid input wrote something")
			}
		})
	}
	if p := f.list(t, asRT, nil, 10, ""); p.TotalCount != 1 || p.Data[0].Key != "existing" || p.Data[0].Value != "v" {
		t.Fatalf("after the refused inputs: %+v", p.Data)
	}
	// The limits themselves are fine.
	f.add(t, asRT, strings.Repeat("k", 512), strings.Repeat("é", 512), map[string]any{"env": "prod"})
}

func TestOnlyTheRuntimeItselfMayUseItsContexts(t *testing.T) {
	f := newFixture()
	rtID, asRT := f.runtime(t, f.admin, "rt")
	rc := f.add(t, asRT, "ns", "v", nil)
	in := model.RuntimeContextInput{Key: "other", Value: "v"}

	others := map[string]context.Context{
		"user":                  f.admin,
		"user with every scope": identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: rtID, ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}),
		"application":           identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: rtID, ConsumerType: identity.ConsumerApplication}),
		"integration system":    identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: rtID, ConsumerType: identity.ConsumerIntegrationSystem}),
		"runtime without id":    directortest.Runtime("t1", ""),
		"runtime with a bad id": directortest.Runtime("t1", "../"+rtID),
	}
	for name, ctx := range others {
		t.Run(name, func(t *testing.T) {
			before := f.state.Txns
			_, err := f.svc.Register(ctx, in)
			wantCode(t, err, apperr.CodeForbidden)
			if !strings.Contains(err.Error(), "belong to the calling runtime") {
				t.Fatalf("the message should say why: %v", err)
			}
			_, err = f.svc.Update(ctx, rc.ID, in)
			wantCode(t, err, apperr.CodeForbidden)
			_, err = f.svc.Unregister(ctx, rc.ID)
			wantCode(t, err, apperr.CodeForbidden)
			_, err = f.svc.Get(ctx, rc.ID)
			wantCode(t, err, apperr.CodeForbidden)
			_, err = f.svc.List(ctx, nil, 10, "")
			wantCode(t, err, apperr.CodeForbidden)
			if f.state.Txns != before {
				t.Fatal("a refused caller wrote something")
			}
		})
	}
	if _, err := f.svc.Get(asRT, rc.ID); err != nil {
		t.Fatalf("the context is gone: %v", err)
	}
}

func TestRuntimesAreIsolated(t *testing.T) {
	f := newFixture()
	rtID, asRT := f.runtime(t, f.admin, "rt")
	_, asOther := f.runtime(t, f.admin, "other")
	rc := f.add(t, asRT, "ns", "v", map[string]any{"env": "prod"})
	f.add(t, asOther, "theirs", "v", map[string]any{"env": "prod"})

	_, err := f.svc.Get(asOther, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = f.svc.Update(asOther, rc.ID, model.RuntimeContextInput{Key: "stolen", Value: "x"})
	wantCode(t, err, apperr.CodeNotFound)
	_, err = f.svc.Unregister(asOther, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
	for _, filters := range [][]*model.LabelFilter{nil, {{Key: "env"}}} {
		if p := f.list(t, asOther, filters, 10, ""); p.TotalCount != 1 || !slices.Equal(keys(p), []string{"theirs"}) {
			t.Fatalf("the other runtime lists %v (total %d) with filters %v", keys(p), p.TotalCount, filters)
		}
	}
	if got, err := f.svc.Get(asRT, rc.ID); err != nil || got.Key != "ns" || got.Value != "v" {
		t.Fatalf("the context was changed by another runtime: %+v %v", got, err)
	}

	// Another tenant sees nothing, even as a runtime with the same id; it cannot add contexts to a runtime
	// it does not have either.
	asStranger := directortest.Runtime("t2", rtID)
	_, err = f.svc.Get(asStranger, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
	if p := f.list(t, asStranger, nil, 10, ""); p.TotalCount != 0 || len(p.Data) != 0 {
		t.Fatalf("another tenant lists %+v", p)
	}
	_, err = f.svc.Register(asStranger, model.RuntimeContextInput{Key: "ns", Value: "v"})
	wantCode(t, err, apperr.CodeNotFound)
	_, err = f.svc.Unregister(asStranger, rc.ID)
	wantCode(t, err, apperr.CodeNotFound)
}

func TestUnregisteringTheRuntimeRemovesItsContexts(t *testing.T) {
	f := newFixture()
	rtID, asRT := f.runtime(t, f.admin, "rt")
	_, asOther := f.runtime(t, f.admin, "other")
	// More than one page of the cascade's walk.
	for i := range runtimecontext.MaxPageSize + 5 {
		f.add(t, asRT, "ns-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "v", map[string]any{"env": "prod"})
	}
	kept := f.add(t, asOther, "kept", "v", map[string]any{"env": "prod"})

	if _, err := f.rts.Unregister(f.admin, rtID); err != nil {
		t.Fatal(err)
	}
	sc := registry.Scope{Tenant: "t1", Kind: runtimecontext.Kind(rtID)}
	for _, index := range []string{registry.IndexAll, "lk:env"} {
		if p, err := f.reg.List(context.Background(), sc, index, 10, ""); err != nil || p.TotalCount != 0 || len(p.IDs) != 0 {
			t.Fatalf("index %s of the unregistered runtime's contexts: %+v %v", index, p, err)
		}
	}
	if _, err := f.reg.Owner(context.Background(), sc, "key:ns-a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("the key of a removed context is still held: %v", err)
	}
	// The runtime is gone, so it can have no new contexts.
	_, err := f.svc.Register(asRT, model.RuntimeContextInput{Key: "late", Value: "v"})
	wantCode(t, err, apperr.CodeNotFound)
	if got, err := f.svc.Get(asOther, kept.ID); err != nil || got.Key != "kept" {
		t.Fatalf("another runtime's context went too: %v", err)
	}
}

func TestFiltersAndPagination(t *testing.T) {
	f := newFixture()
	_, asRT := f.runtime(t, f.admin, "rt")
	_, asOther := f.runtime(t, f.admin, "other")
	envs := []string{"prod", "dev", "prod", "dev", "prod"}
	for i, env := range envs {
		f.add(t, asRT, "ns-"+string(rune('a'+i)), "v", map[string]any{"env": env, "zones": []any{"z" + env}})
	}
	f.add(t, asOther, "noise", "v", map[string]any{"env": "prod", "zones": []any{"zprod"}})

	// Pages of two, in registration order, with a stable total.
	var all []string
	after := ""
	for {
		p := f.list(t, asRT, nil, 2, after)
		if p.TotalCount != 5 {
			t.Fatalf("totalCount %d", p.TotalCount)
		}
		all = append(all, keys(p)...)
		if !p.PageInfo.HasNextPage {
			break
		}
		after = p.PageInfo.EndCursor
	}
	if !slices.Equal(all, []string{"ns-a", "ns-b", "ns-c", "ns-d", "ns-e"}) {
		t.Fatalf("paged through %v", all)
	}
	if p := f.list(t, asRT, nil, 0, ""); p.TotalCount != 5 || len(p.Data) != 0 {
		t.Fatalf("first: 0 gives %+v", p)
	}

	prod := `$ ? (@ == "prod")`
	zdev := `$[*] ? (@ == "zdev")`
	tests := []struct {
		name    string
		filters []*model.LabelFilter
		want    []string
	}{
		{"has the label", []*model.LabelFilter{{Key: "env"}}, []string{"ns-a", "ns-b", "ns-c", "ns-d", "ns-e"}},
		{"value equals", []*model.LabelFilter{{Key: "env", Query: &prod}}, []string{"ns-a", "ns-c", "ns-e"}},
		{"list contains", []*model.LabelFilter{{Key: "zones", Query: &zdev}}, []string{"ns-b", "ns-d"}},
		{"all must match", []*model.LabelFilter{{Key: "env", Query: &prod}, {Key: "zones", Query: &zdev}}, nil},
		{"unknown label", []*model.LabelFilter{{Key: "nope"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := f.list(t, asRT, tc.filters, 10, "")
			if !slices.Equal(keys(p), tc.want) || p.TotalCount != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v", keys(p), p.TotalCount, tc.want)
			}
		})
	}
	// A filtered page of one, then the rest.
	p := f.list(t, asRT, []*model.LabelFilter{{Key: "env", Query: &prod}}, 1, "")
	if !slices.Equal(keys(p), []string{"ns-a"}) || !p.PageInfo.HasNextPage || p.TotalCount != 3 {
		t.Fatalf("first filtered page %+v", p)
	}
	p = f.list(t, asRT, []*model.LabelFilter{{Key: "env", Query: &prod}}, 10, p.PageInfo.EndCursor)
	if !slices.Equal(keys(p), []string{"ns-c", "ns-e"}) || p.PageInfo.HasNextPage {
		t.Fatalf("second filtered page %+v", p)
	}

	bad := `$.env`
	_, err := f.svc.List(asRT, []*model.LabelFilter{{Key: "env", Query: &bad}}, 10, "")
	wantCode(t, err, apperr.CodeInvalidLabelQuery)
	_, err = f.svc.List(asRT, nil, 10, "not-a-cursor")
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = f.svc.List(asRT, nil, runtimecontext.MaxPageSize+1, "")
	wantCode(t, err, apperr.CodeInvalidInput)
}

// Label definitions see contexts' labels: a schema they violate is refused, and deleting a definition
// finds them.
func TestLabelDefinitionsSeeContextLabels(t *testing.T) {
	f := newFixture()
	_, asRT := f.runtime(t, f.admin, "rt")
	rc := f.add(t, asRT, "ns", "v", map[string]any{"size": "big"})

	number := `{"type":"number"}`
	_, err := f.defs.Update(f.admin, model.LabelDefinitionInput{Key: "size", Schema: &number})
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = f.defs.Delete(f.admin, "size", false)
	wantCode(t, err, apperr.CodeConflict)
	if _, err := f.defs.Delete(f.admin, "size", true); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(asRT, rc.ID)
	if err != nil || len(got.Labels) != 0 {
		t.Fatalf("label left after deleting its definition with deleteRelatedLabels: %+v %v", got, err)
	}
	if p := f.list(t, asRT, []*model.LabelFilter{{Key: "size"}}, 10, ""); p.TotalCount != 0 {
		t.Fatalf("label still indexed: %+v", p)
	}
}

type recordingPublisher struct {
	mu     sync.Mutex
	events []string // topic + " " + payload
}

func (p *recordingPublisher) Publish(_ context.Context, topic, _ string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, topic+" "+string(data))
	return nil
}

func (p *recordingPublisher) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

func TestChangesAreAnnounced(t *testing.T) {
	f := newFixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	go f.reg.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)

	rtID, asRT := f.runtime(t, f.admin, "rt")
	rc := f.add(t, asRT, "ns", "v", nil)
	if _, err := f.svc.Update(asRT, rc.ID, model.RuntimeContextInput{Key: "ns", Value: "w"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Unregister(asRT, rc.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"runtimecontext.created", "runtimecontext.updated", "runtimecontext.deleted"}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = got[:0]
		for _, e := range pub.seen() {
			topic, payload, _ := strings.Cut(e, " ")
			if strings.HasPrefix(topic, "runtimecontext.") {
				if !strings.Contains(payload, rc.ID) || !strings.Contains(payload, `"runtimeID":"`+rtID+`"`) {
					t.Fatalf("%s names neither the context nor its runtime: %s", topic, payload)
				}
				got = append(got, topic)
			}
		}
		if len(got) == len(want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}
