package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// fakeAPI keeps runtimes and operations in memory. Unknown IDs are not found; the runtime "busy" has an
// operation in progress and the runtime "broken" fails with an error the client must not see.
type fakeAPI struct {
	mu         sync.Mutex
	n          int
	runtimes   map[string]*provisioning.RuntimeStatus
	ops        map[string]provisioning.Operation
	provisions []provisioning.ProvisionInput
	upgrades   []provisioning.UpgradeShootInput
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFake() *fakeAPI {
	f := &fakeAPI{runtimes: map[string]*provisioning.RuntimeStatus{}, ops: map[string]provisioning.Operation{}}
	// What KEB's documents act on: a Gardener runtime with one finished operation.
	f.runtimes["rt-keb"] = &provisioning.RuntimeStatus{
		RuntimeID: "rt-keb", Backend: provisioning.BackendGardener, Connection: provisioning.ConnectionConnected,
		ClusterConfig: json.RawMessage(`{"gardenerConfig":{"name":"c-keb","provider":"aws","volumeSizeGB":50,"autoScalerMin":3,
			"providerSpecificConfig":{"awsConfig":{"vpcCidr":"10.250.0.0/16","awsZones":[{"name":"eu-central-1a","publicCidr":"10.250.32.0/20","internalCidr":"10.250.48.0/20","workerCidr":"10.250.0.0/19"}]}},
			"oidcConfig":{"clientID":"c","groupsClaim":"groups","issuerURL":"https://issuer.example.com","signingAlgs":["RS256"],"usernameClaim":"sub","usernamePrefix":"-"}},
			"administrators":["admin@example.com"]}`),
	}
	f.ops["op-keb"] = provisioning.Operation{ID: "op-keb", RuntimeID: "rt-keb", Type: provisioning.OperationProvision,
		State: provisioning.StateSucceeded, Stage: "Finished", Message: "Operation succeeded", StartedAt: t0, UpdatedAt: t0}
	op := f.ops["op-keb"]
	f.runtimes["rt-keb"].LastOperation = &op
	f.runtimes["busy"] = &provisioning.RuntimeStatus{RuntimeID: "busy", Backend: provisioning.BackendLocal}
	f.runtimes["broken"] = &provisioning.RuntimeStatus{RuntimeID: "broken", Backend: provisioning.BackendLocal}
	return f
}

// start begins an operation on runtime id, or says why it cannot.
func (f *fakeAPI) start(id string, typ provisioning.OperationType) (provisioning.Operation, error) {
	switch {
	case id == "busy":
		return provisioning.Operation{}, provisioning.Fail(apperr.CodeConflict, provisioning.ReasonOperationRunning,
			provisioning.ComponentProvisioner, "runtime %q has an operation in progress", id)
	case id == "broken":
		return provisioning.Operation{}, errors.New("state store on fire")
	case f.runtimes[id] == nil:
		return provisioning.Operation{}, apperr.NotFound("runtime", id)
	}
	f.n++
	op := provisioning.Operation{ID: fmt.Sprintf("op-%d", f.n), RuntimeID: id, Tenant: "t1", Type: typ,
		State: provisioning.StateInProgress, Stage: "Starting", Message: "Operation in progress",
		StartedAt: t0.Add(time.Duration(f.n) * time.Minute), UpdatedAt: t0.Add(time.Duration(f.n) * time.Minute)}
	f.ops[op.ID] = op
	f.runtimes[id].LastOperation = &op
	return op, nil
}

func (f *fakeAPI) Provision(_ context.Context, in provisioning.ProvisionInput) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.provisions = append(f.provisions, in)
	id := fmt.Sprintf("rt-%d", len(f.provisions))
	f.runtimes[id] = &provisioning.RuntimeStatus{RuntimeID: id, Backend: in.Backend, ClusterConfig: in.ClusterConfig,
		HibernationPossible: in.Backend == provisioning.BackendGardener}
	return f.start(id, provisioning.OperationProvision)
}

func (f *fakeAPI) UpgradeShoot(_ context.Context, id string, in provisioning.UpgradeShootInput) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upgrades = append(f.upgrades, in)
	return f.start(id, provisioning.OperationUpgradeShoot)
}

func (f *fakeAPI) Deprovision(_ context.Context, id string) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start(id, provisioning.OperationDeprovision)
}

func (f *fakeAPI) Hibernate(_ context.Context, id string) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start(id, provisioning.OperationHibernate)
}

func (f *fakeAPI) ReconnectAgent(_ context.Context, id string) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start(id, provisioning.OperationReconnectRuntime)
}

func (f *fakeAPI) RuntimeStatus(_ context.Context, id string) (provisioning.RuntimeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.runtimes[id]; s != nil {
		return *s, nil
	}
	return provisioning.RuntimeStatus{}, apperr.NotFound("runtime", id)
}

func (f *fakeAPI) OperationStatus(_ context.Context, id string) (provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op, ok := f.ops[id]; ok {
		return op, nil
	}
	return provisioning.Operation{}, provisioning.Fail(apperr.CodeNotFound, provisioning.ReasonNotFound,
		provisioning.ComponentProvisioner, "operation %q not found", id)
}

func (f *fakeAPI) Operations(_ context.Context, runtimeID string) ([]provisioning.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runtimes[runtimeID] == nil {
		return nil, apperr.NotFound("runtime", runtimeID)
	}
	var out []provisioning.Operation
	for _, op := range f.ops {
		if op.RuntimeID == runtimeID {
			out = append(out, op)
		}
	}
	slices.SortFunc(out, func(a, b provisioning.Operation) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, nil
}

var _ provisioning.API = (*fakeAPI)(nil)

// harness is the real server behind the assertion check, over a fake API.
type harness struct {
	srv http.Handler
	kit *assertiontest.Kit
	api *fakeAPI
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	api := newFake()
	kit := assertiontest.New(t)
	srv := graph.NewServer(api, slog.New(slog.DiscardHandler), nil)
	return &harness{srv: kit.Middleware("provisioner")(srv), kit: kit, api: api}
}

var (
	admin  = identity.Identity{Tenant: "t1", Subject: "alice", ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes}
	reader = identity.Identity{Tenant: "t1", Subject: "bob", ConsumerType: identity.ConsumerUser, Scopes: []string{identity.ScopeRuntimeRead}}
	broker = identity.Identity{Tenant: "t1", Subject: "keb", ConsumerType: identity.ConsumerIntegrationSystem,
		Scopes: []string{identity.ScopeRuntimeRead, identity.ScopeRuntimeWrite}}
	runtime1 = identity.Identity{Tenant: "t1", Subject: "rt-keb", ConsumerType: identity.ConsumerRuntime, Scopes: identity.AllScopes}
	app1     = identity.Identity{Tenant: "t1", Subject: "app-1", ConsumerType: identity.ConsumerApplication, Scopes: identity.AllScopes}
)

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// post sends query as who, as the gateway would forward it, and returns the answer's data (as JSON text)
// and errors, whatever the HTTP status (gqlgen answers 422 to documents it cannot parse or validate; the
// upstream client reads the body all the same).
func (h *harness) post(t *testing.T, who identity.Identity, query string, vars map[string]any) (string, []gqlError) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(assertion.Header, h.kit.Sign(t, who, "provisioner"))
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
	}
	return string(resp.Data), resp.Errors
}

// mustPost is post that fails the test on any error and decodes the data into out.
func (h *harness) mustPost(t *testing.T, who identity.Identity, query string, vars map[string]any, out any) {
	t.Helper()
	data, errs := h.post(t, who, query, vars)
	if len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(data), out); err != nil {
			t.Fatal(err)
		}
	}
}

const gardenerProvision = `mutation { result: provisionRuntime(config: {
	runtimeInput: {name: "prod-eu", description: "for the shop", labels: {env: "prod", scenarios: ["DEFAULT", "shop"]}},
	clusterConfig: {
		gardenerConfig: {name: "c-1", kubernetesVersion: "1.27.4", provider: "gcp", targetSecret: "gcp-secret",
			region: "europe-west3", machineType: "n2-standard-4", volumeSizeGB: 32, workerCidr: "10.250.0.0/19",
			autoScalerMin: 2, autoScalerMax: 4, maxSurge: 4, maxUnavailable: 0,
			providerSpecificConfig: {gcpConfig: {zones: ["europe-west3-b"]}}}
		administrators: ["admin@example.com"]
	}}) { id operation state message runtimeID stage startedAt updatedAt lastError { reason } } }`

const localProvision = `mutation { result: provisionRuntime(config: {
	runtimeInput: {name: "dev"},
	clusterConfig: {localConfig: {workload: "demo-logger", logInterval: "2s"}}}) { id runtimeID operation } }`

func TestProvisionChoosesTheBackend(t *testing.T) {
	tests := []struct {
		name, doc, backend, config string
		labels                     map[string]any
		description                string
	}{
		{"gardener", gardenerProvision, provisioning.BackendGardener,
			`{"gardenerConfig":{"name":"c-1","kubernetesVersion":"1.27.4","provider":"gcp","targetSecret":"gcp-secret",` +
				`"region":"europe-west3","machineType":"n2-standard-4","volumeSizeGB":32,"workerCidr":"10.250.0.0/19",` +
				`"autoScalerMin":2,"autoScalerMax":4,"maxSurge":4,"maxUnavailable":0,` +
				`"providerSpecificConfig":{"gcpConfig":{"zones":["europe-west3-b"]}}},"administrators":["admin@example.com"]}`,
			map[string]any{"env": "prod", "scenarios": []any{"DEFAULT", "shop"}}, "for the shop"},
		{"local", localProvision, provisioning.BackendLocal,
			`{"localConfig":{"workload":"demo-logger","logInterval":"2s"}}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var got struct{ Result map[string]any }
			h.mustPost(t, admin, tt.doc, nil, &got)
			if len(h.api.provisions) != 1 {
				t.Fatalf("%d provisions", len(h.api.provisions))
			}
			in := h.api.provisions[0]
			if in.Backend != tt.backend || in.Description != tt.description {
				t.Errorf("backend %q description %q", in.Backend, in.Description)
			}
			if string(in.ClusterConfig) != tt.config {
				t.Errorf("cluster config\n got %s\nwant %s", in.ClusterConfig, tt.config)
			}
			if fmt.Sprint(in.Labels) != fmt.Sprint(tt.labels) {
				t.Errorf("labels %v, want %v", in.Labels, tt.labels)
			}
			if got.Result["id"] != "op-1" || got.Result["runtimeID"] != "rt-1" || got.Result["operation"] != "Provision" {
				t.Errorf("answer %v", got.Result)
			}
		})
	}

	// The operation's extension fields.
	h := newHarness(t)
	var got struct{ Result map[string]any }
	h.mustPost(t, admin, gardenerProvision, nil, &got)
	want := map[string]any{"id": "op-1", "operation": "Provision", "state": "InProgress", "message": "Operation in progress",
		"runtimeID": "rt-1", "stage": "Starting", "startedAt": "2025-03-01T12:01:00Z", "updatedAt": "2025-03-01T12:01:00Z", "lastError": nil}
	if fmt.Sprint(got.Result) != fmt.Sprint(want) {
		t.Errorf("answer\n got %v\nwant %v", got.Result, want)
	}
}

// wantError checks the one error of an answer: our code and the upstream client's extensions.
func wantError(t *testing.T, data string, errs []gqlError, code string, errorCode float64, reason string) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("want one error, got %s %+v", data, errs)
	}
	ext := errs[0].Extensions
	if ext["code"] != code || ext["error_code"] != errorCode || ext["error_reason"] != reason || ext["error_component"] == nil {
		t.Errorf("extensions %v, want code %s, error_code %v, error_reason %s", ext, code, errorCode, reason)
	}
}

func TestErrorsCarryUpstreamExtensions(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, doc, code string
		errorCode       float64
		reason          string
	}{
		{"both backends", `mutation { provisionRuntime(config: {runtimeInput: {name: "x"}, clusterConfig: {localConfig: {},
			gardenerConfig: {name: "c", kubernetesVersion: "1.27", provider: "gcp", targetSecret: "s", region: "r", machineType: "m",
			workerCidr: "10.0.0.0/16", autoScalerMin: 1, autoScalerMax: 1, maxSurge: 1, maxUnavailable: 0, providerSpecificConfig: {}}}}) { id } }`,
			"INVALID_INPUT", 400, provisioning.ReasonInvalidInput},
		{"no backend", `mutation { provisionRuntime(config: {runtimeInput: {name: "x"}, clusterConfig: {administrators: ["a"]}}) { id } }`,
			"INVALID_INPUT", 400, provisioning.ReasonInvalidInput},
		{"unknown runtime", `{ result: runtimeStatus(id: "nope") { hibernationStatus { hibernated } } }`,
			"NOT_FOUND", 404, provisioning.ReasonNotFound},
		{"unknown operation", `{ result: runtimeOperationStatus(id: "nope") { id } }`, "NOT_FOUND", 404, provisioning.ReasonNotFound},
		{"deprovision unknown", `mutation { result: deprovisionRuntime(id: "nope") }`, "NOT_FOUND", 404, provisioning.ReasonNotFound},
		{"operation in progress", `mutation { result: hibernateRuntime(id: "busy") { id } }`,
			"CONFLICT", 400, provisioning.ReasonOperationRunning},
		{"internal", `mutation { result: deprovisionRuntime(id: "broken") }`, "INTERNAL", 500, provisioning.ReasonInternal},
		{"not valid", `{ result: runtimeStatus(id: "rt-keb") { nosuchfield } }`, "GRAPHQL_VALIDATION_FAILED", 400, provisioning.ReasonInvalidInput},
		{"not parsed", `{ result: runtimeStatus(id: `, "GRAPHQL_PARSE_FAILED", 400, provisioning.ReasonInvalidInput},
		{"kyma installation", `mutation { provisionRuntime(config: {runtimeInput: {name: "x"}, clusterConfig: {localConfig: {}},
			kymaConfig: {version: "1.24"}}) { id } }`, "GRAPHQL_VALIDATION_FAILED", 400, provisioning.ReasonInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, errs := h.post(t, admin, tt.doc, nil)
			wantError(t, data, errs, tt.code, tt.errorCode, tt.reason)
			if tt.code == "INTERNAL" && (strings.Contains(errs[0].Message, "fire") || errs[0].Extensions["errorId"] == nil) {
				t.Errorf("internal error shown as %+v", errs[0])
			}
		})
	}
	if len(h.api.provisions) != 0 {
		t.Errorf("refused provisions reached the domain: %+v", h.api.provisions)
	}
}

func TestMutationsAnswerOperationIDs(t *testing.T) {
	h := newHarness(t)
	for _, doc := range []string{`mutation { result: deprovisionRuntime(id: "rt-keb") }`, `mutation { result: reconnectRuntimeAgent(id: "rt-keb") }`} {
		data, errs := h.post(t, admin, doc, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		// A bare string, the ID of the operation started.
		var got struct{ Result string }
		_ = json.Unmarshal([]byte(data), &got)
		if _, ok := h.api.ops[got.Result]; !ok || !strings.HasPrefix(data, `{"result":"op-`) {
			t.Errorf("%s answered %s", doc, data)
		}
	}

	var ops struct {
		RuntimeOperations []struct{ ID, Operation, State string }
	}
	h.mustPost(t, reader, `{ runtimeOperations(runtimeID: "rt-keb") { id operation state } }`, nil, &ops)
	var order []string
	for _, op := range ops.RuntimeOperations {
		order = append(order, op.ID+" "+op.Operation)
	}
	if want := []string{"op-2 ReconnectRuntime", "op-1 Deprovision", "op-keb Provision"}; !slices.Equal(order, want) {
		t.Errorf("operations %v, want %v", order, want)
	}
}

func TestUpgradeShootPassesTheChanges(t *testing.T) {
	h := newHarness(t)
	h.mustPost(t, admin, `mutation { upgradeShoot(id: "rt-keb", config: {gardenerConfig: {kubernetesVersion: "1.28.2",
		autoScalerMax: 8}, administrators: ["ops@example.com"]}) { id operation } }`, nil, nil)
	want := `{"gardenerConfig":{"kubernetesVersion":"1.28.2","autoScalerMax":8},"administrators":["ops@example.com"]}`
	if len(h.api.upgrades) != 1 || string(h.api.upgrades[0].ClusterConfig) != want {
		t.Fatalf("upgrades %s, want %s", h.api.upgrades, want)
	}
}

func TestRuntimeStatusRoundTrip(t *testing.T) {
	h := newHarness(t)
	var created struct{ Result struct{ RuntimeID string } }
	h.mustPost(t, admin, gardenerProvision, nil, &created)

	var gardener struct {
		RuntimeStatus struct {
			RuntimeConfiguration struct {
				Backend       string
				LocalConfig   *struct{ Workload string }
				ClusterConfig struct {
					Name                   string
					VolumeSizeGB           int
					MaxUnavailable         *int
					Seed                   *string
					ProviderSpecificConfig struct {
						Typename string `json:"__typename"`
						Zones    []string
					}
				}
			}
			HibernationStatus       struct{ HibernationPossible bool }
			RuntimeConnectionStatus struct{ Status string }
			LastOperationStatus     struct{ Operation, State string }
		}
	}
	h.mustPost(t, reader, `query($id: String!) { runtimeStatus(id: $id) {
		runtimeConfiguration { backend localConfig { workload } clusterConfig { name volumeSizeGB maxUnavailable seed
			providerSpecificConfig { __typename ... on GCPProviderConfig { zones } } } }
		hibernationStatus { hibernationPossible } runtimeConnectionStatus { status } lastOperationStatus { operation state } } }`,
		map[string]any{"id": created.Result.RuntimeID}, &gardener)
	s := gardener.RuntimeStatus
	cc := s.RuntimeConfiguration.ClusterConfig
	if s.RuntimeConfiguration.Backend != "gardener" || s.RuntimeConfiguration.LocalConfig != nil || cc.Name != "c-1" ||
		cc.VolumeSizeGB != 32 || cc.MaxUnavailable == nil || *cc.MaxUnavailable != 0 || cc.Seed != nil ||
		cc.ProviderSpecificConfig.Typename != "GCPProviderConfig" || !slices.Equal(cc.ProviderSpecificConfig.Zones, []string{"europe-west3-b"}) {
		t.Errorf("gardener runtime configuration %+v", s.RuntimeConfiguration)
	}
	if !s.HibernationStatus.HibernationPossible || s.RuntimeConnectionStatus.Status != "Pending" ||
		s.LastOperationStatus.Operation != "Provision" || s.LastOperationStatus.State != "InProgress" {
		t.Errorf("status %+v", s)
	}

	h.mustPost(t, admin, localProvision, nil, &created)
	var local struct {
		RuntimeStatus struct {
			RuntimeConfiguration struct {
				Backend       string
				ClusterConfig *struct{ Name string }
				LocalConfig   struct{ Workload, LogInterval string }
				KymaConfig    *struct{ Version string }
			}
		}
	}
	h.mustPost(t, reader, `query($id: String!) { runtimeStatus(id: $id) { runtimeConfiguration { backend clusterConfig { name }
		localConfig { workload logInterval } kymaConfig { version } } } }`, map[string]any{"id": created.Result.RuntimeID}, &local)
	rc := local.RuntimeStatus.RuntimeConfiguration
	if rc.Backend != "local" || rc.ClusterConfig != nil || rc.KymaConfig != nil || rc.LocalConfig.Workload != "demo-logger" || rc.LocalConfig.LogInterval != "2s" {
		t.Errorf("local runtime configuration %+v", rc)
	}
}

func TestAccess(t *testing.T) {
	h := newHarness(t)
	const (
		read  = `{ runtimeOperationStatus(id: "op-keb") { id } }`
		write = `mutation { hibernateRuntime(id: "rt-keb") { id } }`
	)
	tests := []struct {
		name  string
		who   identity.Identity
		query string
		ok    bool
	}{
		{"user reads", reader, read, true},
		{"user without runtime:write", reader, write, false},
		{"user without scopes", identity.Identity{Tenant: "t1", Subject: "eve", ConsumerType: identity.ConsumerUser}, read, false},
		{"integration system reads", broker, read, true},
		{"integration system writes", broker, write, true},
		{"runtime cannot read", runtime1, read, false},
		{"runtime cannot write", runtime1, write, false},
		{"application cannot read", app1, read, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, errs := h.post(t, tt.who, tt.query, nil)
			if tt.ok {
				if len(errs) > 0 {
					t.Fatalf("refused: %+v", errs)
				}
				return
			}
			wantError(t, data, errs, "FORBIDDEN", 403, provisioning.ReasonForbidden)
		})
	}
}

// upstreamVariables are what the upstream end-to-end test passes to its documents; "runtimeID" is
// filled in with the runtime provision.graphql creates.
var upstreamVariables = map[string]map[string]any{
	"provision.graphql": {"name": "e2e-runtime", "provider": "gcp", "providerSecret": "gcp-secret",
		"kubernetesVersion": "1.27.4", "machineType": "n2-standard-4", "diskType": "pd-standard", "region": "europe-west3"},
	"status.graphql":      {"runtimeID": nil},
	"deprovision.graphql": {"runtimeID": nil},
}

func TestUpstreamDocumentsRun(t *testing.T) {
	docs := documents(t, requestsDir(t))
	h := newHarness(t)
	var runtimeID string
	for _, name := range []string{"provision.graphql", "status.graphql", "deprovision.graphql"} {
		doc, vars := docs[name], maps.Clone(upstreamVariables[name])
		if doc == "" {
			t.Fatalf("no %s", name)
		}
		if _, ok := vars["runtimeID"]; ok {
			vars["runtimeID"] = runtimeID
		}
		var got map[string]any
		h.mustPost(t, broker, doc, vars, &got)
		switch name {
		case "provision.graphql":
			op, _ := got["provisionRuntime"].(map[string]any)
			runtimeID, _ = op["runtimeID"].(string)
			if runtimeID == "" || op["state"] != "InProgress" {
				t.Fatalf("provision answered %v", got)
			}
		case "status.graphql":
			// The document provisions with volumeSizeGB 32 and asks for it back.
			b, _ := json.Marshal(got)
			if !strings.Contains(string(b), `"clusterConfig":{"volumeSizeGB":32}`) || !strings.Contains(string(b), `"operation":"Provision"`) {
				t.Errorf("status answered %s", b)
			}
		case "deprovision.graphql":
			if id, _ := got["deprovisionRuntime"].(string); !strings.HasPrefix(id, "op-") {
				t.Errorf("deprovision answered %v", got)
			}
		}
	}
	for name := range docs {
		if upstreamVariables[name] == nil {
			t.Errorf("%s is new: give it variables here", name)
		}
	}
}

func TestKEBDocumentsRun(t *testing.T) {
	docs := documents(t, kebDir)
	for _, name := range sortedNames(docs) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			var got struct{ Result any }
			h.mustPost(t, broker, docs[name], nil, &got)
			if got.Result == nil {
				t.Errorf("no result")
			}
		})
	}

	// KEB reads the AWS zones and the OIDC configuration back.
	h := newHarness(t)
	data, errs := h.post(t, broker, docs["runtime_status.graphql"], nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{`"awsZones":[{"name":"eu-central-1a","publicCidr":"10.250.32.0/20","workerCidr":"10.250.0.0/19","internalCidr":"10.250.48.0/20"}]`,
		`"vpcCidr":"10.250.0.0/16"`, `"signingAlgs":["RS256"]`, `"kymaConfig":null`, `"status":"Connected"`,
		`"lastOperationStatus":{"operation":"Provision","state":"Succeeded","message":"Operation succeeded","lastError":null}`} {
		if !strings.Contains(data, want) {
			t.Errorf("runtime status lacks %s: %s", want, data)
		}
	}
}
