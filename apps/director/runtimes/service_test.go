package runtimes_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type fixture struct {
	apps *application.Service
	rts  *runtimes.Service
	defs *label.Definitions
}

func newFixture() fixture {
	reg := directortest.Registry()
	defs := label.NewDefinitions(reg)
	return fixture{apps: application.NewService(reg, defs), rts: runtimes.NewService(reg, defs), defs: defs}
}

func (f fixture) defineScenarios(t *testing.T, ctx context.Context, names ...string) {
	t.Helper()
	enum := `"DEFAULT"`
	for _, n := range names {
		enum += `,"` + n + `"`
	}
	schema := `{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","enum":[` + enum + `]}}`
	if _, err := f.defs.Update(ctx, model.LabelDefinitionInput{Key: "scenarios", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) app(t *testing.T, ctx context.Context, name string, labels map[string]any) *model.Application {
	t.Helper()
	a, err := f.apps.Register(ctx, model.ApplicationRegisterInput{Name: name, Labels: labels})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return a
}

func names(apps []*model.Application) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

func TestApplicationsForRuntimeFollowScenarios(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	_, _ = f.defs.Scenarios(ctx) // creates the default definition
	f.defineScenarios(t, ctx, "blue", "green")
	f.app(t, ctx, "a-default", nil)
	f.app(t, ctx, "b-blue", map[string]any{"scenarios": []any{"blue"}})
	f.app(t, ctx, "c-both", map[string]any{"scenarios": []any{"blue", "green"}})
	f.app(t, ctx, "d-green", map[string]any{"scenarios": []any{"green"}})

	rt, err := f.rts.Register(ctx, model.RuntimeInput{Name: "rt", Labels: map[string]any{"scenarios": []any{"blue", "green"}}})
	if err != nil {
		t.Fatal(err)
	}
	scen, _ := f.rts.Scenarios(ctx, rt.ID)
	var got []string
	after := ""
	for {
		p, err := f.apps.ForScenarios(ctx, scen, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		if p.TotalCount != 3 {
			t.Fatalf("totalCount %d, want 3", p.TotalCount)
		}
		got = append(got, names(p.Data)...)
		if !p.PageInfo.HasNextPage {
			break
		}
		after = p.PageInfo.EndCursor
	}
	if !slices.Equal(got, []string{"b-blue", "c-both", "d-green"}) {
		t.Fatalf("applications for runtime: %v", got)
	}
	// Another tenant's runtime id is unknown here.
	if _, err := f.rts.Scenarios(directortest.Tenant("t2"), rt.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("t2 reads t1's runtime: %v", err)
	}
}

func TestDefaultScenarioAndLabelFilters(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.app(t, ctx, "one", map[string]any{"env": "prod", "tier": 1})
	f.app(t, ctx, "two", map[string]any{"env": "dev"})
	f.app(t, ctx, "three", map[string]any{"env": "prod", "tier": 2})

	a, _ := f.apps.Get(ctx, mustFirst(t, f, ctx).ID)
	if !slices.Equal(label.Strings(a.Labels["scenarios"]), []string{"DEFAULT"}) {
		t.Fatalf("application without scenarios got %v", a.Labels["scenarios"])
	}
	q := func(s string) *string { return &s }
	tests := []struct {
		filters []*model.LabelFilter
		want    []string
	}{
		{[]*model.LabelFilter{{Key: "tier"}}, []string{"one", "three"}},
		{[]*model.LabelFilter{{Key: "env", Query: q(`$ ? (@ == "prod")`)}}, []string{"one", "three"}},
		{[]*model.LabelFilter{{Key: "env", Query: q(`$ ? (@ == "prod")`)}, {Key: "tier", Query: q(`$ ? (@ == 2)`)}}, []string{"three"}},
		{[]*model.LabelFilter{{Key: "scenarios", Query: q(`$[*] ? (@ == "DEFAULT")`)}}, []string{"one", "two", "three"}},
		{[]*model.LabelFilter{{Key: "nope"}}, nil},
	}
	for _, tt := range tests {
		p, err := f.apps.List(ctx, tt.filters, 1, "")
		if err != nil {
			t.Fatal(err)
		}
		got := names(p.Data)
		for p.PageInfo.HasNextPage {
			if p.PageInfo.EndCursor == "" {
				t.Fatalf("filters %+v: a page with a next one has no end cursor", tt.filters)
			}
			if p, err = f.apps.List(ctx, tt.filters, 1, p.PageInfo.EndCursor); err != nil {
				t.Fatal(err)
			}
			got = append(got, names(p.Data)...)
		}
		// As in Compass, the last page has no end cursor.
		if p.PageInfo.EndCursor != "" {
			t.Errorf("filters %+v: last page has end cursor %q", tt.filters, p.PageInfo.EndCursor)
		}
		if !slices.Equal(got, tt.want) || p.TotalCount != len(tt.want) {
			t.Errorf("filters %+v: got %v (total %d), want %v", tt.filters, got, p.TotalCount, tt.want)
		}
	}
	if _, err := f.apps.List(directortest.Tenant("t2"), []*model.LabelFilter{{Key: "env"}}, 10, ""); err != nil {
		t.Fatal(err)
	} else if p, _ := f.apps.List(directortest.Tenant("t2"), nil, 10, ""); p.TotalCount != 0 {
		t.Fatalf("t2 lists t1's applications")
	}
}

func mustFirst(t *testing.T, f fixture, ctx context.Context) *model.Application {
	p, err := f.apps.List(ctx, nil, 1, "")
	if err != nil || len(p.Data) == 0 {
		t.Fatalf("list: %v", err)
	}
	return p.Data[0]
}

func TestScenarioAssignments(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	_, _ = f.defs.Scenarios(ctx)
	f.defineScenarios(t, ctx, "edge")
	early, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "early", Labels: map[string]any{"region": "eu"}})
	other, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "other", Labels: map[string]any{"region": "us"}})

	if _, err := f.rts.CreateAssignment(ctx, model.AutomaticScenarioAssignmentSetInput{ScenarioName: "nope", Selector: &model.LabelSelectorInput{Key: "region", Value: "eu"}}); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("assignment to an undefined scenario: %v", err)
	}
	if _, err := f.rts.CreateAssignment(ctx, model.AutomaticScenarioAssignmentSetInput{ScenarioName: "edge", Selector: &model.LabelSelectorInput{Key: "region", Value: "eu"}}); err != nil {
		t.Fatal(err)
	}
	has := func(id string) bool {
		s, err := f.rts.Scenarios(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(s, "edge")
	}
	if !has(early.ID) || has(other.ID) {
		t.Fatal("existing runtimes not assigned by selector")
	}
	late, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "late", Labels: map[string]any{"region": "eu"}})
	if !has(late.ID) {
		t.Fatal("runtime registered after the assignment not assigned")
	}
	if _, err := f.rts.SetLabel(ctx, other.ID, "region", "eu"); err != nil {
		t.Fatal(err)
	}
	if !has(other.ID) {
		t.Fatal("runtime relabelled into the selector not assigned")
	}
	if _, err := f.rts.DeleteAssignmentForScenario(ctx, "edge"); err != nil {
		t.Fatal(err)
	}
	if has(early.ID) || has(late.ID) || has(other.ID) {
		t.Fatal("deleting the assignment left the scenario on runtimes")
	}
}

func TestUpdateDefinitionChecksExistingLabels(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.app(t, ctx, "one", map[string]any{"size": "big"})
	schema := `{"type":"number"}`
	if _, err := f.defs.Update(ctx, model.LabelDefinitionInput{Key: "size", Schema: &schema}); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("schema that existing labels violate accepted: %v", err)
	}
	if _, err := f.defs.Delete(ctx, "size", false); apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("deleting a definition in use: %v", err)
	}
	if _, err := f.defs.Delete(ctx, "size", true); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.apps.List(ctx, []*model.LabelFilter{{Key: "size"}}, 10, ""); p.TotalCount != 0 {
		t.Fatalf("labels left after deleting with deleteRelatedLabels: %d", p.TotalCount)
	}
}

func TestCertificateCallersSeeOnlyTheirShare(t *testing.T) {
	f := newFixture()
	admin := directortest.Tenant("t1")
	f.apps.SetRuntimeScenarios(f.rts.Scenarios)
	_, _ = f.defs.Scenarios(admin)
	f.defineScenarios(t, admin, "blue")
	blue := f.app(t, admin, "blue-app", map[string]any{"scenarios": []any{"blue"}})
	other := f.app(t, admin, "default-app", nil)
	rt, err := f.rts.Register(admin, model.RuntimeInput{Name: "rt", Labels: map[string]any{"scenarios": []any{"blue"}}})
	if err != nil {
		t.Fatal(err)
	}
	otherRt, _ := f.rts.Register(admin, model.RuntimeInput{Name: "rt2"})

	asRuntime := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: rt.ID, ConsumerType: identity.ConsumerRuntime})
	if _, err := f.apps.Get(asRuntime, blue.ID); err != nil {
		t.Fatalf("runtime cannot see an application of its scenario: %v", err)
	}
	// Compass answers with an error, not with null (issue 9, defect 9), and gives nothing away.
	if got, err := f.apps.Get(asRuntime, other.ID); got != nil || !notAllowed(err) {
		t.Fatalf("runtime asking for an application outside its scenarios: %+v, %v", got, err)
	}
	if p, err := f.apps.List(asRuntime, nil, 10, ""); err != nil || !slices.Equal(names(p.Data), []string{"blue-app"}) || p.PageInfo.EndCursor != "" {
		t.Fatalf("runtime lists %v (%v)", names(p.Data), err)
	}
	if _, err := f.rts.Get(asRuntime, otherRt.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("runtime sees another runtime: %v", err)
	}

	asApp := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: other.ID, ConsumerType: identity.ConsumerApplication})
	if got, err := f.apps.Get(asApp, blue.ID); got != nil || !notAllowed(err) {
		t.Fatalf("application asking for another application: %+v, %v", got, err)
	}
	if p, err := f.apps.List(asApp, nil, 10, ""); err != nil || !slices.Equal(names(p.Data), []string{"default-app"}) || p.PageInfo.EndCursor != "" {
		t.Fatalf("application lists %v (%v)", names(p.Data), err)
	}
}

// notAllowed reports whether err is Compass's refusal of an object that is not the caller's.
func notAllowed(err error) bool {
	return apperr.CodeOf(err) == apperr.CodeForbidden && err.Error() == "The operation is not allowed"
}

func TestHeartbeatsDriveRuntimeStatus(t *testing.T) {
	f := newFixture()
	admin := directortest.Tenant("t1")
	rt, err := f.rts.Register(admin, model.RuntimeInput{Name: "beating"})
	if err != nil {
		t.Fatal(err)
	}
	asRuntime := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: rt.ID, ConsumerType: identity.ConsumerRuntime})
	if _, err := f.rts.Heartbeat(admin, rt.ID); apperr.CodeOf(err) != apperr.CodeForbidden {
		t.Fatalf("a user sent a runtime's heartbeat: %v", err)
	}
	if last, err := f.rts.LastHeartbeat(admin, rt.ID); last != nil || err != nil {
		t.Fatalf("a last heartbeat before any: %v %v", last, err)
	}
	before := time.Now()
	got, err := f.rts.Heartbeat(asRuntime, rt.ID)
	if err != nil || got.Status.Condition != model.RuntimeStatusConditionConnected {
		t.Fatalf("after a heartbeat: %+v %v", got, err)
	}
	if last, err := f.rts.LastHeartbeat(admin, rt.ID); err != nil || last == nil || last.Before(before.Add(-time.Second)) {
		t.Fatalf("last heartbeat %v %v", last, err)
	}
	if last, _ := f.rts.LastHeartbeat(directortest.Tenant("t2"), rt.ID); last != nil {
		t.Fatal("another tenant sees the runtime's heartbeat")
	}
	// Within the deadline nothing changes; past it the runtime is FAILED with a reason.
	if err := f.rts.CheckHeartbeats(admin, time.Minute); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.rts.Get(admin, rt.ID); cur.Status.Condition != model.RuntimeStatusConditionConnected {
		t.Fatalf("failed within the deadline: %+v", cur.Status)
	}
	time.Sleep(5 * time.Millisecond)
	if err := f.rts.CheckHeartbeats(admin, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cur, _ := f.rts.Get(admin, rt.ID)
	if cur.Status.Condition != model.RuntimeStatusConditionFailed || cur.Status.Reason == nil {
		t.Fatalf("after missed heartbeats: %+v", cur.Status)
	}
	// The next heartbeat brings it back.
	if got, _ := f.rts.Heartbeat(asRuntime, rt.ID); got.Status.Condition != model.RuntimeStatusConditionConnected {
		t.Fatalf("heartbeat after failure: %+v", got.Status)
	}
}

func (f fixture) scenarios(t *testing.T, ctx context.Context, id string) []string {
	t.Helper()
	s, err := f.rts.Scenarios(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s)
	return s
}

func (f fixture) assignEdge(t *testing.T, ctx context.Context, key, value string) {
	t.Helper()
	if _, err := f.rts.CreateAssignment(ctx, model.AutomaticScenarioAssignmentSetInput{ScenarioName: "edge", Selector: &model.LabelSelectorInput{Key: key, Value: value}}); err != nil {
		t.Fatal(err)
	}
}

// A selector matches a string label equal to its value or a list label with an element equal to it, for
// runtimes there before the assignment and runtimes registered or relabelled after it.
func TestAssignmentsMatchListLabels(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.defineScenarios(t, ctx, "edge")
	before, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "before", Labels: map[string]any{"region": []any{"us", "eu"}}})
	f.assignEdge(t, ctx, "region", "eu")
	after, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "after", Labels: map[string]any{"region": []any{"eu"}}})
	relabelled, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "relabelled", Labels: map[string]any{"region": "us"}})
	if _, err := f.rts.SetLabel(ctx, relabelled.ID, "region", []any{"ap", "eu"}); err != nil {
		t.Fatal(err)
	}
	other, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "other", Labels: map[string]any{"region": []any{"us"}}})
	for _, rt := range []*model.Runtime{before, after, relabelled} {
		if got := f.scenarios(t, ctx, rt.ID); !slices.Contains(got, "edge") {
			t.Errorf("%s: scenarios %v, want edge by its list label", rt.Name, got)
		}
	}
	if got := f.scenarios(t, ctx, other.ID); slices.Contains(got, "edge") {
		t.Errorf("other: scenarios %v, want no edge", got)
	}
}

// A scenario an assignment gave goes when the label stops matching and comes back when it matches again;
// a scenario set by a user stays.
func TestAssignedScenariosFollowTheLabel(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.defineScenarios(t, ctx, "edge", "blue")
	f.assignEdge(t, ctx, "region", "eu")
	auto, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "auto", Labels: map[string]any{"region": "eu", "scenarios": []any{"blue"}}})
	explicit, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "explicit", Labels: map[string]any{"region": "eu", "scenarios": []any{"edge"}}})
	check := func(step string, rt *model.Runtime, want ...string) {
		t.Helper()
		if got := f.scenarios(t, ctx, rt.ID); !slices.Equal(got, want) {
			t.Errorf("%s: %s scenarios %v, want %v", step, rt.Name, got, want)
		}
	}
	check("registered", auto, "blue", "edge")
	for _, rt := range []*model.Runtime{auto, explicit} {
		if _, err := f.rts.SetLabel(ctx, rt.ID, "region", "us"); err != nil {
			t.Fatal(err)
		}
	}
	check("label changed", auto, "blue")
	check("label changed", explicit, "edge")
	if _, err := f.rts.SetLabel(ctx, auto.ID, "region", []any{"eu"}); err != nil {
		t.Fatal(err)
	}
	check("label matches again", auto, "blue", "edge")
	if _, err := f.rts.DeleteLabel(ctx, auto.ID, "region"); err != nil {
		t.Fatal(err)
	}
	check("label deleted", auto, "blue")
	if _, err := f.rts.SetLabel(ctx, auto.ID, "region", "eu"); err != nil {
		t.Fatal(err)
	}
	// updateRuntime with the labels as read back (assigned scenario included) but another region.
	rt, _ := f.rts.Get(ctx, auto.ID)
	rt.Labels["region"] = "us"
	if _, err := f.rts.Update(ctx, auto.ID, model.RuntimeInput{Name: "auto", Labels: rt.Labels}); err != nil {
		t.Fatal(err)
	}
	check("updated", auto, "blue")
	if _, err := f.rts.SetLabel(ctx, explicit.ID, "region", "eu"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rts.DeleteAssignmentForScenario(ctx, "edge"); err != nil {
		t.Fatal(err)
	}
	check("assignment deleted", explicit, "edge")
}

// Runtimes registered without scenarios join DEFAULT, as applications do.
func TestRuntimesWithoutScenariosJoinDefault(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.defineScenarios(t, ctx, "blue")
	plain, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "plain"})
	blue, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "blue", Labels: map[string]any{"scenarios": []any{"blue"}}})
	if got := f.scenarios(t, ctx, plain.ID); !slices.Equal(got, []string{"DEFAULT"}) {
		t.Errorf("plain: scenarios %v, want [DEFAULT]", got)
	}
	if got := f.scenarios(t, ctx, blue.ID); !slices.Equal(got, []string{"blue"}) {
		t.Errorf("blue: scenarios %v, want [blue]", got)
	}
}

// Unregistering a runtime removes the assignments of its scenarios, as Compass's deleteRuntime did (whether
// an assignment or a user put it there); the other runtimes those assignments selected leave the scenario.
func TestUnregisterRemovesTheRuntimesAssignments(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	f.defineScenarios(t, ctx, "edge", "blue")
	f.assignEdge(t, ctx, "region", "eu")
	if _, err := f.rts.CreateAssignment(ctx, model.AutomaticScenarioAssignmentSetInput{ScenarioName: "blue", Selector: &model.LabelSelectorInput{Key: "zone", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	gone, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "gone", Labels: map[string]any{"region": "eu"}})
	peer, _ := f.rts.Register(ctx, model.RuntimeInput{Name: "peer", Labels: map[string]any{"region": []any{"eu"}, "zone": "a"}})
	if _, err := f.rts.Unregister(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rts.AssignmentForScenario(ctx, "edge"); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Errorf("assignment of the unregistered runtime's scenario: %v, want not found", err)
	}
	if _, err := f.rts.AssignmentForScenario(ctx, "blue"); err != nil {
		t.Errorf("assignment of another scenario: %v, want kept", err)
	}
	if got := f.scenarios(t, ctx, peer.ID); !slices.Equal(got, []string{"DEFAULT", "blue"}) {
		t.Errorf("peer: scenarios %v, want [DEFAULT blue]", got)
	}
}

// New runtimes get isNormalized "true" unless they say otherwise, on register and on update, as in Compass
// (issue 9, missing behaviour 2).
func TestRuntimesAreNormalizedByDefault(t *testing.T) {
	f := newFixture()
	ctx := directortest.Tenant("t1")
	tests := []struct {
		name   string
		labels map[string]any
		want   any
	}{
		{"no labels", nil, "true"},
		{"other labels", map[string]any{"env": "prod"}, "true"},
		{"false kept", map[string]any{"isNormalized": "false"}, "false"},
		{"true kept", map[string]any{"isNormalized": "true"}, "true"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := f.rts.Register(ctx, model.RuntimeInput{Name: "rt-" + string(rune('a'+i)), Labels: tt.labels})
			if err != nil {
				t.Fatal(err)
			}
			if got := rt.Labels["isNormalized"]; got != tt.want {
				t.Fatalf("registered: isNormalized = %v, want %v", got, tt.want)
			}
			// An update replaces the labels; without isNormalized, the default comes back.
			rt, err = f.rts.Update(ctx, rt.ID, model.RuntimeInput{Name: rt.Name, Labels: tt.labels})
			if err != nil {
				t.Fatal(err)
			}
			if got := rt.Labels["isNormalized"]; got != tt.want {
				t.Fatalf("updated: isNormalized = %v, want %v", got, tt.want)
			}
		})
	}
	// The key has a label definition, like any label key in use.
	if _, err := f.defs.Get(ctx, "isNormalized"); err != nil {
		t.Fatalf("label definition: %v", err)
	}
}

// applicationsForRuntime gives a runtime the names it wants (normalized unless isNormalized is not "true")
// and leaves out applications carrying a hide selector's label (issue 9, missing behaviours 2 and 3).
func TestApplicationsForRuntimeNamesAndHiddenApplications(t *testing.T) {
	f := newFixture()
	hide, err := application.ParseHideSelectors("hide=yes; kind = internal;kind=system")
	if err != nil {
		t.Fatal(err)
	}
	f.apps.SetHideSelectors(hide)
	ctx := directortest.Tenant("t1")
	f.app(t, ctx, "App@Shop", nil)
	f.app(t, ctx, "mp-ready", nil)
	f.app(t, ctx, "hidden by string", map[string]any{"hide": "yes"})
	f.app(t, ctx, "hidden by list", map[string]any{"kind": []any{"a", "system"}})
	f.app(t, ctx, "hidden too", map[string]any{"kind": "internal"})
	f.app(t, ctx, "shown", map[string]any{"hide": "no", "kind": "external"})

	normalized, err := f.rts.Register(ctx, model.RuntimeInput{Name: "normalized"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := f.rts.Register(ctx, model.RuntimeInput{Name: "plain", Labels: map[string]any{"isNormalized": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rt   *model.Runtime
		want []string
	}{
		{normalized, []string{"mp-app-shop", "mp-ready", "mp-shown"}},
		{plain, []string{"App@Shop", "mp-ready", "shown"}},
	}
	for _, tt := range tests {
		t.Run(tt.rt.Name, func(t *testing.T) {
			var got []string
			for after := ""; ; {
				p, err := f.apps.ForRuntime(ctx, tt.rt, 2, after)
				if err != nil {
					t.Fatal(err)
				}
				if p.TotalCount != 3 {
					t.Fatalf("totalCount %d, want 3 (hidden applications are not counted)", p.TotalCount)
				}
				got = append(got, names(p.Data)...)
				if !p.PageInfo.HasNextPage {
					break
				}
				after = p.PageInfo.EndCursor
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("applications for runtime %s: %q, want %q", tt.rt.Name, got, tt.want)
			}
		})
	}
	// The stored names stay as registered, and `applications` (as a user) still lists every application.
	all, err := f.apps.List(ctx, nil, 10, "")
	if err != nil || all.TotalCount != 6 || all.Data[0].Name != "App@Shop" {
		t.Fatalf("applications: %d %v, %v", all.TotalCount, names(all.Data), err)
	}
	for _, bad := range []string{"novalue", "=x", "a b=x", "k="} {
		if _, err := application.ParseHideSelectors(bad); err == nil {
			t.Errorf("ParseHideSelectors(%q) accepted", bad)
		}
	}
}
