package graph_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

type fakeDirector struct {
	mu     sync.Mutex
	labels map[string]map[string]any // runtime -> labels, any tenant
}

func (f *fakeDirector) RuntimeLabels(_ context.Context, id string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.labels[id]
	if !ok {
		return nil, apperr.NotFound("runtime", id)
	}
	return maps.Clone(l), nil
}

func (f *fakeDirector) Runtimes(context.Context) ([]configuration.PlannedRuntime, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []configuration.PlannedRuntime
	for id, l := range f.labels {
		out = append(out, configuration.PlannedRuntime{ID: id, Labels: maps.Clone(l)})
	}
	return out, nil
}

func newClient(t *testing.T) *client.Client {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	dir := &fakeDirector{labels: map[string]map[string]any{"rt-1": {"env": "prod"}, "rt-2": {"env": "prod"}}}
	svc := configuration.NewService(registry.New(memstate.New(), "governorstore"), dir, notify.NewHub(), log)
	kit = assertiontest.New(t)
	return client.New(kit.Middleware("governor")(graph.NewServer(svc, log, nil)))
}

// kit signs the assertions of these tests, as the gateway does; newClient makes it.
var kit *assertiontest.Kit

// as sends the request with the assertion the gateway would have put on it.
func as(id identity.Identity) client.Option {
	return func(r *client.Request) {
		raw, err := kit.Signer.Sign(id, "governor")
		if err != nil {
			panic(err)
		}
		r.HTTP.Header.Set(assertion.Header, raw)
	}
}

var (
	admin    = identity.Identity{Tenant: "t1", Subject: "alice", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}
	reader   = identity.Identity{Tenant: "t1", Subject: "bob", ConsumerType: identity.ConsumerUser, Scopes: []string{identity.ScopeConfigurationRead}}
	nobody   = identity.Identity{Tenant: "t1", Subject: "eve", ConsumerType: identity.ConsumerUser}
	runtime1 = identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime,
		Scopes: []string{identity.ScopeConfigurationRead, identity.ScopeRuntimeWrite}}
	app = identity.Identity{Tenant: "t1", Subject: "app-1", ConsumerType: identity.ConsumerApplication, Scopes: identity.AllScopes}
)

const secret = "s3cr3t-token-value"

const createMutation = `mutation($in: ConfigurationInput!) { createConfiguration(in: $in) {
	id bindings { secretMetadata { name value } } } }`

func logBinding(url string, token any) map[string]any {
	return map[string]any{
		"name": "log", "type": "bindings.http", "metadata": []any{map[string]any{"name": "url", "value": url}},
		"secretMetadata": []any{map[string]any{"name": "securityToken", "value": token}}, "scopes": []any{"orders"},
	}
}

// raw posts query and returns the whole answer as JSON text, data and errors.
func raw(t *testing.T, c *client.Client, query string, opts ...client.Option) (string, []gqlError) {
	t.Helper()
	resp, err := c.RawPost(query, opts...)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(resp.Data)
	var errs []gqlError
	if len(resp.Errors) > 0 {
		_ = json.Unmarshal(resp.Errors, &errs)
	}
	return string(data) + string(resp.Errors), errs
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func TestSecretsNeverInAnswersToOthers(t *testing.T) {
	c := newClient(t)
	var created struct {
		CreateConfiguration struct {
			ID       string
			Bindings []struct {
				SecretMetadata []struct {
					Name  string
					Value *string
				}
			}
		}
	}
	c.MustPost(createMutation, &created, as(admin),
		client.Var("in", map[string]any{"runtimeID": "rt-1", "bindings": []any{logBinding("http://a", secret)}}))
	id := created.CreateConfiguration.ID
	if sm := created.CreateConfiguration.Bindings[0].SecretMetadata; len(sm) != 1 || sm[0].Name != "securityToken" || sm[0].Value != nil {
		t.Fatalf("create answered secret metadata %+v", sm)
	}
	c.MustPost(`mutation($in: ConfigurationInput!) { createConfiguration(in: $in) { id } }`, &struct{ CreateConfiguration struct{ ID string } }{}, as(admin),
		client.Var("in", map[string]any{"labelSelector": []any{map[string]any{"key": "env", "value": "prod"}},
			"bindings": []any{map[string]any{"name": "shared", "type": "bindings.http",
				"metadata":       []any{map[string]any{"name": "url", "value": "http://s"}},
				"secretMetadata": []any{map[string]any{"name": "securityToken", "value": secret}}}}}))

	secretFields := `bindings { name secretMetadata { name value } }`
	queries := map[string]string{
		"configuration":          `{ configuration(id: "` + id + `") { ` + secretFields + ` } }`,
		"configurations":         `{ configurations { data { ` + secretFields + ` } } }`,
		"configurationRevisions": `{ configurationRevisions(id: "` + id + `") { data { ` + secretFields + ` } } }`,
		"runtimeConfiguration":   `{ runtimeConfiguration(runtimeID: "rt-1") { secretsIncluded ` + secretFields + ` } }`,
		"update":                 `mutation { updateConfiguration(id: "` + id + `", in: {runtimeID: "rt-1", bindings: [{name: "log", type: "bindings.http", metadata: [{name: "url", value: "http://b"}], secretMetadata: [{name: "securityToken"}]}]}) { ` + secretFields + ` } }`,
		"rollback":               `mutation { rollbackConfiguration(id: "` + id + `", revision: 1) { ` + secretFields + ` } }`,
	}
	for name, q := range queries {
		for _, who := range []identity.Identity{admin, reader} {
			if who.Subject == reader.Subject && strings.HasPrefix(q, "mutation") {
				continue
			}
			answer, errs := raw(t, c, q, as(who))
			if len(errs) > 0 {
				t.Fatalf("%s as %s: %v", name, who.Subject, errs)
			}
			if strings.Contains(answer, secret) {
				t.Errorf("%s as %s leaks the secret: %s", name, who.Subject, answer)
			}
			if !strings.Contains(answer, "securityToken") {
				t.Errorf("%s as %s lacks the secret's name: %s", name, who.Subject, answer)
			}
		}
	}

	// The runtime itself gets the values (the one kept by the update, then restored by the rollback).
	var own struct {
		RuntimeConfiguration struct {
			SecretsIncluded bool
			Bindings        []struct {
				Name            string
				ConfigurationID *string
				SecretMetadata  []struct{ Value *string }
			}
		}
	}
	c.MustPost(`{ runtimeConfiguration(runtimeID: "rt-1") { secretsIncluded bindings { name configurationID secretMetadata { value } } } }`, &own, as(runtime1))
	rc := own.RuntimeConfiguration
	if !rc.SecretsIncluded || len(rc.Bindings) != 2 {
		t.Fatalf("runtime got %+v", rc)
	}
	for _, b := range rc.Bindings {
		if v := b.SecretMetadata[0].Value; v == nil || *v != secret || b.ConfigurationID == nil {
			t.Errorf("runtime got binding %s with %v", b.Name, v)
		}
	}
}

func TestAccess(t *testing.T) {
	c := newClient(t)
	if _, errs := raw(t, c, createMutation, as(admin), client.Var("in", map[string]any{"runtimeID": "rt-1", "bindings": []any{logBinding("http://a", secret)}})); len(errs) > 0 {
		t.Fatal(errs)
	}
	const create = `mutation { createConfiguration(in: {runtimeID: "rt-2", bindings: []}) { id } }`
	tests := []struct {
		name  string
		who   identity.Identity
		query string
		code  string // "" when allowed
	}{
		{"admin creates", admin, create, ""},
		{"reader lists", reader, `{ configurations { totalCount } }`, ""},
		{"reader cannot create", reader, create, "FORBIDDEN"},
		{"no scopes, no list", nobody, `{ configurations { totalCount } }`, "FORBIDDEN"},
		{"runtime polls its own", runtime1, `{ runtimeConfiguration(runtimeID: "rt-1") { revision } }`, ""},
		{"runtime reports its own", runtime1, `mutation { reportConfigurationStatus(runtimeID: "rt-1", revision: 1, status: APPLIED) { status } }`, ""},
		{"runtime reads its status", runtime1, `{ runtimeConfigurationStatus(runtimeID: "rt-1") { status } }`, ""},
		{"runtime reads binding types", runtime1, `{ bindingTypes { type } }`, ""},
		{"runtime cannot poll another", runtime1, `{ runtimeConfiguration(runtimeID: "rt-2") { revision } }`, "FORBIDDEN"},
		{"runtime cannot report for another", runtime1, `mutation { reportConfigurationStatus(runtimeID: "rt-2", revision: 1, status: APPLIED) { status } }`, "FORBIDDEN"},
		{"runtime cannot list", runtime1, `{ configurations { totalCount } }`, "FORBIDDEN"},
		{"runtime cannot write", runtime1, create, "FORBIDDEN"},
		{"application cannot poll", app, `{ runtimeConfiguration(runtimeID: "rt-1") { revision } }`, "FORBIDDEN"},
		{"no tenant", identity.Identity{Subject: "x", Scopes: identity.AllScopes}, `{ configurations { totalCount } }`, "UNAUTHENTICATED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, errs := raw(t, c, tt.query, as(tt.who))
			if tt.code == "" {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Extensions["code"] != tt.code {
				t.Fatalf("answer %s, want %s", answer, tt.code)
			}
		})
	}
}

func TestErrorsCarryCodes(t *testing.T) {
	c := newClient(t)
	tests := []struct {
		name, query, code, says string
	}{
		{"unknown type", `mutation { createConfiguration(in: {runtimeID: "rt-1", bindings: [{name: "x", type: "bindings.nope"}]}) { id } }`,
			"INVALID_INPUT", "unknown binding type"},
		{"missing required metadata", `mutation { createConfiguration(in: {labelSelector: [{key: "env", value: "prod"}], bindings: [{name: "tick", type: "bindings.cron"}]}) { id } }`,
			"INVALID_INPUT", `requires metadata "schedule"`},
		{"wait too long", `{ runtimeConfiguration(runtimeID: "rt-1", waitSeconds: 31) { revision } }`, "INVALID_INPUT", "waitSeconds"},
		{"unknown runtime", `{ runtimeConfiguration(runtimeID: "rt-x") { revision } }`, "NOT_FOUND", "rt-x"},
		{"update of nothing", `mutation { deleteConfiguration(id: "nope") { id } }`, "NOT_FOUND", ""},
		{"bad cursor", `{ configurations(after: "zzz") { totalCount } }`, "INVALID_INPUT", "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, errs := raw(t, c, tt.query, as(admin))
			if len(errs) != 1 || errs[0].Extensions["code"] != tt.code || !strings.Contains(errs[0].Message, tt.says) {
				t.Fatalf("answer %s, want %s saying %q", answer, tt.code, tt.says)
			}
		})
	}
	var missing struct{ Configuration *struct{ ID string } }
	c.MustPost(`{ configuration(id: "nope") { id } }`, &missing, as(admin))
	if missing.Configuration != nil {
		t.Errorf("unknown configuration answered %+v", missing.Configuration)
	}
}

func TestRevisionsOverGraphQL(t *testing.T) {
	c := newClient(t)
	var created struct {
		CreateConfiguration struct {
			ID       string
			Bindings []struct {
				SecretMetadata []struct{ Name, Value *string }
			}
		}
	}
	c.MustPost(createMutation, &created, as(admin), client.Var("in", map[string]any{"runtimeID": "rt-1", "bindings": []any{logBinding("http://a", secret)}}))
	id := created.CreateConfiguration.ID
	if _, errs := raw(t, c, `mutation($id: ID!) { deleteConfiguration(id: $id) { deleted } }`, as(admin), client.Var("id", id)); len(errs) > 0 {
		t.Fatal(errs)
	}
	var restored struct {
		RollbackConfiguration struct {
			Revision       int
			RolledBackFrom *int
			Deleted        bool
		}
	}
	c.MustPost(`mutation($id: ID!) { rollbackConfiguration(id: $id, revision: 1) { revision rolledBackFrom deleted } }`, &restored, as(admin), client.Var("id", id))
	if r := restored.RollbackConfiguration; r.Revision != 3 || r.RolledBackFrom == nil || *r.RolledBackFrom != 1 || r.Deleted {
		t.Fatalf("rollback answered %+v", r)
	}
	var revs struct {
		ConfigurationRevisions struct {
			TotalCount int
			PageInfo   struct{ HasNextPage bool }
			Data       []struct {
				Revision int
				Deleted  bool
			}
		}
	}
	c.MustPost(`query($id: ID!) { configurationRevisions(id: $id, first: 2) { totalCount pageInfo { hasNextPage } data { revision deleted } } }`,
		&revs, as(admin), client.Var("id", id))
	r := revs.ConfigurationRevisions
	if r.TotalCount != 3 || !r.PageInfo.HasNextPage || len(r.Data) != 2 || r.Data[1].Revision != 2 || !r.Data[1].Deleted {
		t.Fatalf("revisions %+v", r)
	}
}

func TestLongPollOverGraphQL(t *testing.T) {
	c := newClient(t)
	var rc struct{ RuntimeConfiguration struct{ Revision int } }
	start := time.Now()
	c.MustPost(`{ runtimeConfiguration(runtimeID: "rt-1", afterRevision: 0, waitSeconds: 1) { revision } }`, &rc, as(runtime1))
	if d := time.Since(start); d < time.Second || d > 2*time.Second || rc.RuntimeConfiguration.Revision != 0 {
		t.Fatalf("revision %d after %v; want 0 after the 1 s wait", rc.RuntimeConfiguration.Revision, d)
	}
}

func TestBindingTypes(t *testing.T) {
	c := newClient(t)
	var bt struct {
		BindingTypes []struct {
			Type             string
			RequiredMetadata []string
			Input, Output    bool
		}
	}
	c.MustPost(`{ bindingTypes { type requiredMetadata input output } }`, &bt, as(reader))
	want := map[string]string{"bindings.http": "url", "bindings.localstorage": "rootPath", "bindings.cron": "schedule", "bindings.redis": "redisHost"}
	for _, b := range bt.BindingTypes {
		if req, ok := want[b.Type]; ok {
			if len(b.RequiredMetadata) != 1 || b.RequiredMetadata[0] != req {
				t.Errorf("%s requires %v, want [%s]", b.Type, b.RequiredMetadata, req)
			}
			delete(want, b.Type)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing types %v", want)
	}
}

func TestRolloutThroughGraphQL(t *testing.T) {
	c := newClient(t)
	var created struct {
		CreateConfiguration struct {
			ID              string
			RolloutStrategy struct {
				CanaryCount, BatchSize                         *int
				SoakSeconds, FailureBudget, StepTimeoutSeconds int
			}
		}
	}
	c.MustPost(`mutation($in: ConfigurationInput!) { createConfiguration(in: $in) { id rolloutStrategy { canaryCount batchSize soakSeconds failureBudget stepTimeoutSeconds } } }`,
		&created, as(admin), client.Var("in", map[string]any{"labelSelector": []any{map[string]any{"key": "env", "value": "prod"}},
			"bindings": []any{logBinding("http://a", secret)}, "rollout": map[string]any{"canaryCount": 1, "batchSize": 1}}))
	id := created.CreateConfiguration.ID
	if st := created.CreateConfiguration.RolloutStrategy; st.CanaryCount == nil || *st.CanaryCount != 1 || st.BatchSize == nil || *st.BatchSize != 1 || st.SoakSeconds != 60 {
		t.Fatalf("strategy answered: %+v", st)
	}

	var got struct {
		Rollout struct {
			Phase, Reason *string
			Step, Steps   int
			Pending, Done int
			Strategy      struct{ SoakSeconds, StepTimeoutSeconds int }
			Runtimes      []struct {
				RuntimeID, State      string
				Step, DesiredRevision int
			}
		}
	}
	c.MustPost(`query($id: ID!) { rollout(configurationID: $id) { phase reason step steps pending done strategy { soakSeconds stepTimeoutSeconds }
		runtimes { runtimeID state step desiredRevision } } }`, &got, as(reader), client.Var("id", id))
	ro := got.Rollout
	if *ro.Phase != "PROGRESSING" || ro.Step != 1 || ro.Steps != 2 || ro.Strategy.SoakSeconds != 60 || ro.Strategy.StepTimeoutSeconds != 600 {
		t.Fatalf("rollout %+v (the input's defaults: soak 60, step timeout 600)", ro)
	}
	if len(ro.Runtimes) != 2 || ro.Runtimes[0].State != "APPLYING" || ro.Runtimes[0].DesiredRevision != 1 ||
		ro.Runtimes[1].State != "PENDING" || ro.Runtimes[1].DesiredRevision != 0 || ro.Runtimes[1].Step != 2 {
		t.Fatalf("runtimes %+v: the canary released, the other waiting with nothing (a new configuration)", ro.Runtimes)
	}

	ops := []struct {
		op    string
		who   identity.Identity
		phase string
		code  string
	}{
		{"pauseRollout", reader, "", "FORBIDDEN"},
		{"pauseRollout", runtime1, "", "FORBIDDEN"},
		{"pauseRollout", admin, "PAUSED", ""},
		{"pauseRollout", admin, "", "CONFLICT"},
		{"resumeRollout", admin, "PROGRESSING", ""},
		{"promoteRollout", admin, "SUCCEEDED", ""},
		{"abortRollout", admin, "", "CONFLICT"},
	}
	for _, o := range ops {
		out, errs := raw(t, c, `mutation { `+o.op+`(configurationID: "`+id+`") { phase reason } }`, as(o.who))
		switch {
		case o.code != "" && (len(errs) == 0 || errs[0].Extensions["code"] != o.code):
			t.Fatalf("%s as %s: %s, want %s", o.op, o.who.Subject, out, o.code)
		case o.code == "" && (len(errs) > 0 || !strings.Contains(out, `"phase":"`+o.phase+`"`)):
			t.Fatalf("%s as %s: %s, want %s", o.op, o.who.Subject, out, o.phase)
		}
	}
	out, errs := raw(t, c, `mutation { pauseRollout(configurationID: "nope") { phase } }`, as(admin))
	if len(errs) == 0 || errs[0].Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("pausing a configuration that does not exist: %s", out)
	}
	out, _ = raw(t, c, `{ rollout(configurationID: "nope") { phase } }`, as(admin))
	if out != `{"rollout":null}` {
		t.Fatalf("rollout of nothing: %s", out)
	}
}

// The agent's drift reports and the runtime's state go through GraphQL as the Cockpit and the agent send
// them: a DRIFTED report with its items, the correction, and the state that shows both.
func TestDriftThroughGraphQL(t *testing.T) {
	c := newClient(t)
	var created struct{ CreateConfiguration struct{ ID string } }
	c.MustPost(`mutation($in: ConfigurationInput!) { createConfiguration(in: $in) { id } }`, &created, as(admin),
		client.Var("in", map[string]any{"runtimeID": "rt-1", "bindings": []any{logBinding("http://a", secret)}, "driftPolicy": "REPORT", "autoRollback": true}))
	var eff struct {
		RuntimeConfiguration struct {
			Revision    int
			DriftPolicy string
		}
	}
	c.MustPost(`{ runtimeConfiguration(runtimeID: "rt-1") { revision driftPolicy } }`, &eff, as(runtime1))
	if eff.RuntimeConfiguration.DriftPolicy != "REPORT" {
		t.Fatalf("effective configuration %+v", eff.RuntimeConfiguration)
	}
	report := `mutation($rev: Int!, $status: ConfigurationApplyStatus!, $drift: [DriftItemInput!], $corrected: Boolean) {
		reportConfigurationStatus(runtimeID: "rt-1", revision: $rev, status: $status, drift: $drift, driftCorrected: $corrected) {
			status drift { component kind resource } driftCorrected } }`
	drift := []any{map[string]any{"component": "log", "kind": "MODIFIED", "resource": "SECRET"}}
	c.MustPost(report, &map[string]any{}, as(runtime1), client.Var("rev", eff.RuntimeConfiguration.Revision), client.Var("status", "APPLIED"))
	var drifted struct {
		ReportConfigurationStatus struct {
			Status         string
			Drift          []struct{ Component, Kind, Resource string }
			DriftCorrected bool
		}
	}
	c.MustPost(report, &drifted, as(runtime1), client.Var("rev", eff.RuntimeConfiguration.Revision), client.Var("status", "DRIFTED"), client.Var("drift", drift))
	if d := drifted.ReportConfigurationStatus; d.Status != "DRIFTED" || len(d.Drift) != 1 || d.Drift[0].Kind != "MODIFIED" || d.Drift[0].Resource != "SECRET" {
		t.Fatalf("DRIFTED report answered %+v", d)
	}
	const stateQuery = `{ runtimeConfigurationState(runtimeID: "rt-1") { desiredRevision appliedRevision inSync
		drift { items { component } resolvedAt corrected } } }`
	var st struct {
		RuntimeConfigurationState struct {
			DesiredRevision, AppliedRevision int
			InSync                           bool
			Drift                            struct {
				Items      []struct{ Component string }
				ResolvedAt *string
				Corrected  bool
			}
		}
	}
	c.MustPost(stateQuery, &st, as(reader))
	if s := st.RuntimeConfigurationState; s.InSync || s.AppliedRevision != s.DesiredRevision || len(s.Drift.Items) != 1 || s.Drift.ResolvedAt != nil {
		t.Fatalf("state while drifted: %+v", s)
	}
	c.MustPost(report, &map[string]any{}, as(runtime1), client.Var("rev", eff.RuntimeConfiguration.Revision), client.Var("status", "APPLIED"),
		client.Var("drift", drift), client.Var("corrected", true))
	c.MustPost(stateQuery, &st, as(reader))
	if s := st.RuntimeConfigurationState; !s.InSync || s.Drift.ResolvedAt == nil || !s.Drift.Corrected {
		t.Fatalf("state after the correction: %+v", s)
	}

	var cfg struct {
		Configuration struct {
			DriftPolicy  string
			AutoRollback bool
		}
	}
	c.MustPost(`query($id: ID!) { configuration(id: $id) { driftPolicy autoRollback } }`, &cfg, as(reader), client.Var("id", created.CreateConfiguration.ID))
	if cfg.Configuration.DriftPolicy != "REPORT" || !cfg.Configuration.AutoRollback {
		t.Fatalf("configuration %+v", cfg.Configuration)
	}
	// The state is for readers of configurations, not for the runtime itself.
	if _, errs := raw(t, c, stateQuery, as(runtime1)); len(errs) == 0 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Fatalf("the runtime read its state: %+v", errs)
	}
}

// The server keeps documents parsed by their text, so the same text comes again and again: what a cached
// document answers still depends only on the request that sends it (its identity, its variables), and a
// document refused once is refused again.
func TestARepeatedDocumentAnswersEachRequestOnItsOwn(t *testing.T) {
	c := newClient(t)
	if _, errs := raw(t, c, createMutation, as(admin),
		client.Var("in", map[string]any{"runtimeID": "rt-1", "bindings": []any{logBinding("http://a", secret)}})); len(errs) > 0 {
		t.Fatal(errs)
	}
	q := `query($id: ID!) { runtimeConfiguration(runtimeID: $id) { secretsIncluded bindings { secretMetadata { value } } } }`
	for i := range 2 {
		own, _ := raw(t, c, q, as(runtime1), client.Var("id", "rt-1"))
		if !strings.Contains(own, secret) {
			t.Errorf("round %d: the runtime's own poll lacks its secret: %s", i, own)
		}
		other, _ := raw(t, c, q, as(admin), client.Var("id", "rt-1"))
		if strings.Contains(other, secret) || !strings.Contains(other, `"secretsIncluded":false`) {
			t.Errorf("round %d: an administrator's read shows the secret: %s", i, other)
		}
		_, errs := raw(t, c, q, as(runtime1), client.Var("id", "rt-2"))
		if len(errs) == 0 || errs[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("round %d: a runtime polling another: %+v, want FORBIDDEN", i, errs)
		}
		_, err := c.RawPost(`{ runtimeConfiguration(runtimeID: "rt-1") { noSuchField } }`, as(runtime1))
		if err == nil || !strings.Contains(err.Error(), "GRAPHQL_VALIDATION_FAILED") {
			t.Errorf("round %d: an invalid document: %v, want GRAPHQL_VALIDATION_FAILED", i, err)
		}
	}
}
