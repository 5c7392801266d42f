package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	osb "sigs.k8s.io/go-open-service-broker-client/v2"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// startBroker starts the System Broker once, for the tests that need it.
var startBroker = sync.OnceValue(func() error {
	return stack.StartApp(context.Background(), stacktest.App{ID: "broker",
		Env: map[string]string{"BROKER_PUBLIC_URL": stack.AppURL("gateway")}})
})

func needBroker(t testing.TB) {
	t.Helper()
	if err := startBroker(); err != nil {
		t.Fatalf("start the broker: %v", err)
	}
}

// brokerWorld is a tenant set up for the broker: a runtime in scenario blue with client credentials, an
// application of blue with a bundle answered by its webhook (asynchronously) and one with a default auth
// (synchronously), an application of blue without bundles and one of another scenario.
type brokerWorld struct {
	tenant                      string
	app, asyncPlan, syncPlan    string
	apiSpecID                   string
	hiddenPlan                  string
	runtimeID, clientID, secret string
	appClient                   *http.Client // the application, with its certificate
	hooks                       chan hookCall
}

type hookCall struct {
	BundleInstanceAuthID string          `json:"bundleInstanceAuthID"`
	Context              json.RawMessage `json:"context"`
	InputParams          json.RawMessage `json:"inputParams"`
}

const bindSchema = `{"type":"object","properties":{"team":{"type":"string"}},"required":["team"]}`

func newBrokerWorld(t *testing.T, tenant string) *brokerWorld {
	t.Helper()
	w := &brokerWorld{tenant: tenant, hooks: make(chan hookCall, 16)}
	// The application answers credential requests later: its webhook accepts and remembers them.
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var c hookCall
		if err := json.NewDecoder(r.Body).Decode(&c); err == nil {
			w.hooks <- c
		}
		rw.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hook.Close)

	allowScenarios(t, tenant, "blue", "green")
	const register = `mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id bundles { data { id name apiDefinitions { data { id } } } } } }`
	var app struct {
		RegisterApplication struct {
			ID      string
			Bundles struct {
				Data []struct {
					ID, Name       string
					APIDefinitions struct{ Data []struct{ ID string } }
				}
			}
		}
	}
	ok(t, gql(t, tenant, register, map[string]any{"in": map[string]any{
		"name": "orders", "description": "Orders of the shop", "providerName": "ACME",
		"labels":   map[string]any{"scenarios": []string{"blue"}},
		"webhooks": []any{map[string]any{"type": "CONFIGURATION_CHANGED", "url": hook.URL + "/credentials"}},
		"bundles": []any{
			map[string]any{"name": "orders-api", "description": "The orders API", "instanceAuthRequestInputSchema": bindSchema,
				"apiDefinitions": []any{map[string]any{"name": "orders", "targetURL": "https://orders.example.com/api",
					"spec": map[string]any{"data": `{"openapi":"3.0.0","info":{"title":"orders","version":"1"},"paths":{}}`, "type": "OPEN_API", "format": "JSON"}}},
				"eventDefinitions": []any{map[string]any{"name": "order.created",
					"spec": map[string]any{"data": "asyncapi: 2.0.0", "type": "ASYNC_API", "format": "YAML"}}}},
			map[string]any{"name": "orders-feed",
				"defaultInstanceAuth": map[string]any{"credential": map[string]any{"basic": map[string]any{"username": "feed", "password": "feed-pass"}}},
				"apiDefinitions":      []any{map[string]any{"name": "feed", "targetURL": "https://orders.example.com/feed"}}},
		},
	}}), &app)
	w.app = app.RegisterApplication.ID
	for _, b := range app.RegisterApplication.Bundles.Data {
		switch b.Name {
		case "orders-api":
			w.asyncPlan, w.apiSpecID = b.ID, b.APIDefinitions.Data[0].ID
		case "orders-feed":
			w.syncPlan = b.ID
		}
	}
	ok(t, gql(t, tenant, register, map[string]any{"in": map[string]any{"name": "no-bundles", "labels": map[string]any{"scenarios": []string{"blue"}}}}), &app)
	ok(t, gql(t, tenant, register, map[string]any{"in": map[string]any{"name": "green-only", "labels": map[string]any{"scenarios": []string{"green"}},
		"bundles": []any{map[string]any{"name": "green-api"}}}}), &app)
	w.hiddenPlan = app.RegisterApplication.Bundles.Data[0].ID

	w.runtimeID, w.clientID, w.secret = brokerRuntime(t, tenant, "cf-blue", "blue")
	w.appClient = pairIn(t, tenant, "Application", w.app)
	return w
}

// brokerRuntime registers a runtime in the scenarios and returns its id and client credentials.
func brokerRuntime(t testing.TB, tenant, name string, scenarios ...string) (id, clientID, secret string) {
	t.Helper()
	in := map[string]any{"name": name}
	if len(scenarios) > 0 {
		in["labels"] = map[string]any{"scenarios": scenarios}
	}
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, tenant, `mutation($in: RuntimeInput!) { registerRuntime(in: $in) { id } }`, map[string]any{"in": in}), &rt)
	var out struct{ RequestClientCredentialsForRuntime systemAuth }
	ok(t, gql(t, tenant, `mutation($id: ID!) { requestClientCredentialsForRuntime(id: $id) { `+systemAuthFields+` } }`,
		map[string]any{"id": rt.RegisterRuntime.ID}), &out)
	c := out.RequestClientCredentialsForRuntime.Auth.Credential
	return rt.RegisterRuntime.ID, c.ClientID, c.ClientSecret
}

// osbClient is the platform's client of the broker (Service Catalog's), with HTTP Basic.
func osbClient(t *testing.T, user, pass string) osb.Client {
	t.Helper()
	cfg := osb.DefaultClientConfiguration()
	cfg.Name = "mgmtplane"
	cfg.URL = stack.AppURL("gateway") + "/broker"
	cfg.APIVersion = osb.Version2_14()
	cfg.EnableAlphaFeatures = true
	cfg.TimeoutSeconds = 30
	cfg.AuthConfig = &osb.AuthConfig{BasicAuthConfig: &osb.BasicAuthConfig{Username: user, Password: pass}}
	c, err := osb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// osbCall is a raw OSB request, for what the client library hides (status codes, headers, bodies).
type osbCall struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func brokerDo(t *testing.T, method, path string, header http.Header, body any) osbCall {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, stack.AppURL("gateway")+"/broker"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	c := osbCall{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &c.body)
	return c
}

func basic(user, pass, version string) http.Header {
	h := http.Header{}
	req := http.Request{Header: h}
	req.SetBasicAuth(user, pass)
	if version != "" {
		h.Set("X-Broker-API-Version", version)
	}
	return h
}

func wantOSB(t *testing.T, what string, c osbCall, status int, code string) {
	t.Helper()
	if c.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, c.status, status, c.raw)
	}
	if code != "" && c.body["error"] != code {
		t.Fatalf("%s: error %v, want %s: %s", what, c.body["error"], code, c.raw)
	}
	if status >= 400 && status != http.StatusGone {
		if d, _ := c.body["description"].(string); d == "" {
			t.Fatalf("%s: no description in the OSB error body: %s", what, c.raw)
		}
	}
	for _, leak := range []string{"127.0.0.1", "goroutine", ".go:"} {
		if strings.Contains(c.raw, leak) {
			t.Fatalf("%s: the answer leaks %q: %s", what, leak, c.raw)
		}
	}
}

func instanceAuthInDirector(t *testing.T, tenant, id string) (condition string, exists bool) {
	t.Helper()
	var out struct {
		BundleInstanceAuth *struct{ Status struct{ Condition string } }
	}
	ok(t, gql(t, tenant, `query($id: ID!) { bundleInstanceAuth(id: $id) { status { condition } } }`, map[string]any{"id": id}), &out)
	if out.BundleInstanceAuth == nil {
		return "", false
	}
	return out.BundleInstanceAuth.Status.Condition, true
}

// TestSystemBroker drives the broker through the gateway as a platform does, with the Kubernetes Service
// Catalog's OSB client where it can and raw requests where status codes matter (issue 11).
func TestSystemBroker(t *testing.T) {
	needBroker(t)
	w := newBrokerWorld(t, "tenant-broker")
	client := osbClient(t, w.clientID, w.secret)

	t.Run("callers", func(t *testing.T) {
		wantOSB(t, "no credentials", brokerDo(t, "GET", "/v2/catalog", http.Header{"X-Broker-API-Version": {"2.17"}}, nil), http.StatusUnauthorized, "Unauthenticated")
		wantOSB(t, "a wrong secret", brokerDo(t, "GET", "/v2/catalog", basic(w.clientID, "wrong", "2.17"), nil), http.StatusUnauthorized, "")
		user := http.Header{"Authorization": {"Bearer " + userToken(t, w.tenant)}, "X-Broker-API-Version": {"2.17"}}
		wantOSB(t, "a user", brokerDo(t, "GET", "/v2/catalog", user, nil), http.StatusForbidden, "Forbidden")
		resp, err := w.appClient.Do(mustRequest(t, "GET", stack.AppTLSURL("gateway")+"/broker/v2/catalog", http.Header{"X-Broker-API-Version": {"2.17"}}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("an application with its certificate: status %d, want 403", resp.StatusCode)
		}
		// The runtime itself may come with its client certificate or an OAuth access token as well.
		rtCert := pairIn(t, w.tenant, "Runtime", w.runtimeID)
		resp, err = rtCert.Do(mustRequest(t, "GET", stack.AppTLSURL("gateway")+"/broker/v2/catalog", http.Header{"X-Broker-API-Version": {"2.17"}}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the runtime with its certificate: status %d", resp.StatusCode)
		}
		status, token := accessToken(t, w.clientID, w.secret)
		if status != http.StatusOK {
			t.Fatalf("access token: %d %s", status, token)
		}
		if c := brokerDo(t, "GET", "/v2/catalog", http.Header{"Authorization": {"Bearer " + token}, "X-Broker-API-Version": {"2.17"}}, nil); c.status != http.StatusOK {
			t.Fatalf("the runtime with an OAuth access token: %d %s", c.status, c.raw)
		}
	})

	t.Run("version header", func(t *testing.T) {
		wantOSB(t, "missing", brokerDo(t, "GET", "/v2/catalog", basic(w.clientID, w.secret, ""), nil), http.StatusPreconditionFailed, "UnsupportedAPIVersion")
		wantOSB(t, "1.x", brokerDo(t, "GET", "/v2/catalog", basic(w.clientID, w.secret, "1.13"), nil), http.StatusPreconditionFailed, "UnsupportedAPIVersion")
		h := basic(w.clientID, w.secret, "2.17")
		h.Set("X-Broker-API-Request-Identity", "req-42")
		c := brokerDo(t, "GET", "/v2/catalog", h, nil)
		if c.status != http.StatusOK || c.header.Get("X-Broker-API-Request-Identity") != "req-42" {
			t.Fatalf("request identity not echoed: %d %v", c.status, c.header)
		}
	})

	t.Run("catalog", func(t *testing.T) {
		cat, err := client.GetCatalog()
		if err != nil {
			t.Fatal(err)
		}
		if len(cat.Services) != 1 || cat.Services[0].ID != w.app {
			t.Fatalf("want only the blue application with bundles, got %+v", cat.Services)
		}
		s := cat.Services[0]
		if s.Name != "orders" || s.Description != "Orders of the shop" || !s.Bindable || s.BindingsRetrievable == false ||
			s.InstancesRetrievable == false || s.Metadata["providerDisplayName"] != "ACME" || len(s.Plans) != 2 {
			t.Fatalf("service %+v", s)
		}
		labels, _ := s.Metadata["labels"].(map[string]any)
		if labels == nil || labels["scenarios"] == nil {
			t.Fatalf("labels missing from the service metadata: %+v", s.Metadata)
		}
		var api osb.Plan
		for _, p := range s.Plans {
			if p.ID == w.asyncPlan {
				api = p
			}
		}
		if api.Schemas == nil || api.Schemas.ServiceBinding == nil || api.Schemas.ServiceInstance != nil {
			t.Fatalf("the bind schema belongs under service_binding.create: %+v", api.Schemas)
		}
		if req, _ := api.Schemas.ServiceBinding.Create.Parameters.(map[string]any)["required"].([]any); len(req) != 1 || req[0] != "team" {
			t.Fatalf("bind schema %+v", api.Schemas.ServiceBinding.Create.Parameters)
		}
		specs, _ := api.Metadata["api_specs"].([]any)
		events, _ := api.Metadata["event_specs"].([]any)
		if len(specs) != 1 || len(events) != 1 {
			t.Fatalf("plan metadata %+v", api.Metadata)
		}
		spec := specs[0].(map[string]any)
		link, _ := spec["specification"].(map[string]any)
		if spec["target_url"] != "https://orders.example.com/api" || link == nil || link["format"] != "application/json" {
			t.Fatalf("api spec %+v", spec)
		}
		// The runtime fetches the specification with the credentials it calls the broker with.
		url, _ := link["url"].(string)
		req := mustRequest(t, "GET", url, nil)
		req.SetBasicAuth(w.clientID, w.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"openapi"`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("specification %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		resp, err = http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("specification without credentials: %d", resp.StatusCode)
		}
	})

	h := basic(w.clientID, w.secret, "2.17")
	const inst = "inst-orders-1"
	provision := map[string]any{"service_id": w.app, "plan_id": w.asyncPlan, "parameters": map[string]any{"size": "s"},
		"context": map[string]any{"platform": "cloudfoundry", "space_guid": "space-1"}}

	t.Run("instances", func(t *testing.T) {
		wantOSB(t, "provision", brokerDo(t, "PUT", "/v2/service_instances/"+inst, h, provision), http.StatusCreated, "")
		wantOSB(t, "identical provision", brokerDo(t, "PUT", "/v2/service_instances/"+inst, h, provision), http.StatusOK, "")
		other := map[string]any{"service_id": w.app, "plan_id": w.asyncPlan, "parameters": map[string]any{"size": "xl"}}
		wantOSB(t, "same id, other attributes", brokerDo(t, "PUT", "/v2/service_instances/"+inst, h, other), http.StatusConflict, "Conflict")
		hidden := map[string]any{"service_id": w.app, "plan_id": w.hiddenPlan}
		wantOSB(t, "a plan of an application the runtime cannot see", brokerDo(t, "PUT", "/v2/service_instances/inst-hidden", h, hidden), http.StatusBadRequest, "BadRequest")
		wantOSB(t, "no plan_id", brokerDo(t, "PUT", "/v2/service_instances/inst-x", h, map[string]any{"service_id": w.app}), http.StatusBadRequest, "BadRequest")
		c := brokerDo(t, "PUT", "/v2/service_instances/inst-x", h, nil)
		wantOSB(t, "no body", c, http.StatusBadRequest, "BadRequest")
		wantOSB(t, "an id with a space", brokerDo(t, "PUT", "/v2/service_instances/a%20b", h, provision), http.StatusBadRequest, "")

		got, err := client.GetInstance(&osb.GetInstanceRequest{InstanceID: inst})
		if err != nil {
			t.Fatal(err)
		}
		if got.ServiceID != w.app || got.PlanID != w.asyncPlan || got.Parameters["size"] != "s" {
			t.Fatalf("instance %+v", got)
		}
		wantOSB(t, "unknown instance", brokerDo(t, "GET", "/v2/service_instances/nope", h, nil), http.StatusNotFound, "NotFound")
		wantOSB(t, "update parameters", brokerDo(t, "PATCH", "/v2/service_instances/"+inst, h,
			map[string]any{"service_id": w.app, "parameters": map[string]any{"size": "m"}}), http.StatusOK, "")
		if got, _ := client.GetInstance(&osb.GetInstanceRequest{InstanceID: inst}); got == nil || got.Parameters["size"] != "m" {
			t.Fatalf("update not kept: %+v", got)
		}
		lo, err := client.PollLastOperation(&osb.LastOperationRequest{InstanceID: inst})
		if err != nil || lo.State != osb.StateSucceeded {
			t.Fatalf("instance last operation: %+v %v", lo, err)
		}
	})

	t.Run("async bind through the application's webhook", func(t *testing.T) {
		const bindingID = "bind-orders-1"
		path := "/v2/service_instances/" + inst + "/service_bindings/" + bindingID
		bind := map[string]any{"service_id": w.app, "plan_id": w.asyncPlan, "parameters": map[string]any{"team": "checkout"}}
		wantOSB(t, "bind without accepts_incomplete", brokerDo(t, "PUT", path, h, bind), http.StatusUnprocessableEntity, "AsyncRequired")
		bad := map[string]any{"service_id": w.app, "plan_id": w.asyncPlan, "parameters": map[string]any{"colour": "red"}}
		wantOSB(t, "parameters against the bundle's schema", brokerDo(t, "PUT", path+"?accepts_incomplete=true", h, bad), http.StatusBadRequest, "BadRequest")
		if _, exists := instanceAuthInDirector(t, w.tenant, bindingID); exists {
			t.Fatal("a refused bind left an instance auth")
		}
		wantOSB(t, "wrong plan", brokerDo(t, "PUT", path+"?accepts_incomplete=true", h,
			map[string]any{"service_id": w.app, "plan_id": w.syncPlan}), http.StatusBadRequest, "")

		oi := &osb.OriginatingIdentity{Platform: "cloudfoundry", Value: `{"user_id":"alice"}`}
		res, err := client.Bind(&osb.BindRequest{BindingID: bindingID, InstanceID: inst, AcceptsIncomplete: true,
			ServiceID: w.app, PlanID: w.asyncPlan, Parameters: map[string]any{"team": "checkout"}, OriginatingIdentity: oi})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Async || res.OperationKey == nil || len(res.Credentials) != 0 {
			t.Fatalf("want 202 with an operation and no credentials: %+v", res)
		}
		var call hookCall
		select {
		case call = <-w.hooks:
		case <-time.After(10 * time.Second):
			t.Fatal("the application's webhook was not called")
		}
		if call.BundleInstanceAuthID != bindingID || !strings.Contains(string(call.Context), w.runtimeID) ||
			!strings.Contains(string(call.Context), inst) || !strings.Contains(string(call.Context), "alice") ||
			!strings.Contains(string(call.InputParams), "checkout") {
			t.Fatalf("webhook call %+v", call)
		}
		poll := func(op osb.OperationKey) osb.LastOperationState {
			lo, err := client.PollBindingLastOperation(&osb.BindingLastOperationRequest{InstanceID: inst, BindingID: bindingID,
				ServiceID: &w.app, PlanID: &w.asyncPlan, OperationKey: &op})
			if err != nil {
				t.Fatal(err)
			}
			return lo.State
		}
		if st := poll(*res.OperationKey); st != osb.StateInProgress {
			t.Fatalf("before the application answers: %s", st)
		}
		if _, err := client.GetBinding(&osb.GetBindingRequest{InstanceID: inst, BindingID: bindingID}); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("GET binding while pending: want 404, got %v", err)
		}
		// The application answers with its certificate, as a connected application does.
		ok(t, secure(t, w.appClient, "/director/graphql", `mutation($id: ID!) { setBundleInstanceAuth(authID: $id, in: {auth: {
			credential: {oauth: {clientId: "orders-client", clientSecret: "orders-s3cret", url: "https://orders.example.com/token"}},
			additionalHeadersSerialized: "{\"X-Tenant\":[\"shop\"]}"}}) { id } }`, map[string]any{"id": bindingID}), nil)
		if st := poll(*res.OperationKey); st != osb.StateSucceeded {
			t.Fatalf("after the application answered: %s", st)
		}
		got, err := client.GetBinding(&osb.GetBindingRequest{InstanceID: inst, BindingID: bindingID})
		if err != nil {
			t.Fatal(err)
		}
		creds := got.Credentials
		details, _ := creds["auth_details"].(map[string]any)
		auth, _ := details["auth"].(map[string]any)
		targets, _ := creds["target_urls"].(map[string]any)
		params, _ := details["request_parameters"].(map[string]any)
		if creds["credentials_type"] != "oauth" || auth["clientId"] != "orders-client" || auth["clientSecret"] != "orders-s3cret" ||
			auth["tokenUrl"] != "https://orders.example.com/token" || targets["orders"] != "https://orders.example.com/api" || params["headers"] == nil {
			t.Fatalf("credentials %+v", creds)
		}
		wantOSB(t, "identical bind", brokerDo(t, "PUT", path+"?accepts_incomplete=true", h, bind), http.StatusOK, "")
		wantOSB(t, "same binding id, other parameters", brokerDo(t, "PUT", path+"?accepts_incomplete=true", h,
			map[string]any{"service_id": w.app, "plan_id": w.asyncPlan, "parameters": map[string]any{"team": "other"}}), http.StatusConflict, "")

		q := "?service_id=" + w.app + "&plan_id=" + w.asyncPlan
		wantOSB(t, "deprovision with a binding left", brokerDo(t, "DELETE", "/v2/service_instances/"+inst+q, h, nil), http.StatusBadRequest, "BindingsExist")
		wantOSB(t, "unbind without accepts_incomplete", brokerDo(t, "DELETE", path+q, h, nil), http.StatusUnprocessableEntity, "AsyncRequired")
		ub, err := client.Unbind(&osb.UnbindRequest{InstanceID: inst, BindingID: bindingID, AcceptsIncomplete: true, ServiceID: w.app, PlanID: w.asyncPlan})
		if err != nil {
			t.Fatal(err)
		}
		if !ub.Async || ub.OperationKey == nil {
			t.Fatalf("unbind waits for the application: %+v", ub)
		}
		if cond, _ := instanceAuthInDirector(t, w.tenant, bindingID); cond != "UNUSED" {
			t.Fatalf("instance auth after unbind: %s, want UNUSED", cond)
		}
		if st := poll(*ub.OperationKey); st != osb.StateInProgress {
			t.Fatalf("unbind before the application deleted the credentials: %s", st)
		}
		ok(t, secure(t, w.appClient, "/director/graphql", `mutation($id: ID!) { deleteBundleInstanceAuth(authID: $id) { id } }`, map[string]any{"id": bindingID}), nil)
		lo := brokerDo(t, "GET", path+"/last_operation?operation=unbind", h, nil)
		if lo.status != http.StatusOK || lo.body["state"] != "succeeded" {
			t.Fatalf("unbind after the application deleted the credentials: %d %s", lo.status, lo.raw)
		}
		if _, exists := instanceAuthInDirector(t, w.tenant, bindingID); exists {
			t.Fatal("the instance auth is still in the Director")
		}
		wantOSB(t, "unbind again", brokerDo(t, "DELETE", path+q+"&accepts_incomplete=true", h, nil), http.StatusGone, "")
		if !streamGets(t, "servicebinding.deleted", bindingID, 10*time.Second) || !streamGets(t, "servicebinding.created", bindingID, 10*time.Second) {
			t.Fatal("binding changes were not published")
		}
	})

	t.Run("sync bind with the bundle's default auth", func(t *testing.T) {
		const inst2, bindingID = "inst-feed-1", "bind-feed-1"
		wantOSB(t, "provision", brokerDo(t, "PUT", "/v2/service_instances/"+inst2, h, map[string]any{"service_id": w.app, "plan_id": w.syncPlan}), http.StatusCreated, "")
		path := "/v2/service_instances/" + inst2 + "/service_bindings/" + bindingID
		c := brokerDo(t, "PUT", path, h, map[string]any{"service_id": w.app, "plan_id": w.syncPlan})
		wantOSB(t, "bind", c, http.StatusCreated, "")
		creds, _ := c.body["credentials"].(map[string]any)
		auth, _ := creds["auth_details"].(map[string]any)["auth"].(map[string]any)
		if creds["credentials_type"] != "basic_auth" || auth["username"] != "feed" || auth["password"] != "feed-pass" {
			t.Fatalf("credentials %s", c.raw)
		}
		got := brokerDo(t, "GET", path, h, nil)
		if got.status != http.StatusOK || !strings.Contains(got.raw, "feed-pass") {
			t.Fatalf("GET binding: %d %s", got.status, got.raw)
		}
		q := "?service_id=" + w.app + "&plan_id=" + w.syncPlan
		wantOSB(t, "unbind", brokerDo(t, "DELETE", path+q, h, nil), http.StatusOK, "")
		if _, exists := instanceAuthInDirector(t, w.tenant, bindingID); exists {
			t.Fatal("the instance auth is still in the Director")
		}
		wantOSB(t, "deprovision", brokerDo(t, "DELETE", "/v2/service_instances/"+inst2+q, h, nil), http.StatusOK, "")
		wantOSB(t, "deprovision again", brokerDo(t, "DELETE", "/v2/service_instances/"+inst2+q, h, nil), http.StatusGone, "")
		wantOSB(t, "deprovision with another plan", brokerDo(t, "DELETE", "/v2/service_instances/"+inst+q, h, nil), http.StatusBadRequest, "")
	})

	t.Run("operators list instances and bindings", func(t *testing.T) {
		// Not OSB: the read the Cockpit shows, for a user who may read the tenant's runtimes.
		list := func(tok, query string) osbCall {
			return brokerDo(t, "GET", "/v1/instances"+query, http.Header{"Authorization": {"Bearer " + tok}}, nil)
		}
		c := list(userToken(t, w.tenant), "?runtimeId="+w.runtimeID)
		if c.status != http.StatusOK {
			t.Fatalf("list: %d %s", c.status, c.raw)
		}
		var page struct {
			Data []struct {
				ID, RuntimeID, ServiceID, PlanID string
				Bindings                         []struct{ ID string }
			}
			TotalCount int
		}
		if err := json.Unmarshal([]byte(c.raw), &page); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, in := range page.Data {
			if in.RuntimeID != w.runtimeID {
				t.Errorf("runtime %s's list holds %+v", w.runtimeID, in)
			}
			if in.ID == inst && in.ServiceID == w.app && in.PlanID == w.asyncPlan {
				found = true
			}
		}
		if !found || page.TotalCount != len(page.Data) {
			t.Fatalf("the runtime's instances: %s", c.raw)
		}
		if strings.Contains(c.raw, "space-1") || strings.Contains(c.raw, "alice") {
			t.Errorf("the list carries the platform's context or user: %s", c.raw)
		}
		wantOSB(t, "without runtime:read", list(userToken(t, w.tenant, "application:read"), ""), http.StatusForbidden, "")
		other := list(userToken(t, "tenant-broker-elsewhere"), "")
		if other.status != http.StatusOK || strings.Contains(other.raw, inst) {
			t.Fatalf("another tenant's user sees: %d %s", other.status, other.raw)
		}
		wantOSB(t, "a bad cursor", list(userToken(t, w.tenant), "?after=x"), http.StatusBadRequest, "")
	})

	t.Run("other runtimes see nothing of it", func(t *testing.T) {
		_, outID, outSecret := brokerRuntime(t, w.tenant, "cf-no-scenario")
		cat := brokerDo(t, "GET", "/v2/catalog", basic(outID, outSecret, "2.17"), nil)
		if cat.status != http.StatusOK || len(cat.body["services"].([]any)) != 0 {
			t.Fatalf("a runtime without scenarios sees %s", cat.raw)
		}
		wantOSB(t, "another runtime's instance", brokerDo(t, "GET", "/v2/service_instances/"+inst, basic(outID, outSecret, "2.17"), nil), http.StatusNotFound, "")
		allowScenarios(t, "tenant-broker-2", "blue")
		_, otherID, otherSecret := brokerRuntime(t, "tenant-broker-2", "cf-other-tenant", "blue")
		cat = brokerDo(t, "GET", "/v2/catalog", basic(otherID, otherSecret, "2.17"), nil)
		if cat.status != http.StatusOK || len(cat.body["services"].([]any)) != 0 {
			t.Fatalf("another tenant's runtime sees %s", cat.raw)
		}
		wantOSB(t, "another tenant's runtime provisions our plan", brokerDo(t, "PUT", "/v2/service_instances/inst-steal", basic(otherID, otherSecret, "2.17"), provision), http.StatusBadRequest, "")
		wantOSB(t, "another tenant's runtime reads our instance", brokerDo(t, "GET", "/v2/service_instances/"+inst, basic(otherID, otherSecret, "2.17"), nil), http.StatusNotFound, "")
	})

	t.Run("deleted client credentials stop working at once", func(t *testing.T) {
		_, id, secret := brokerRuntime(t, w.tenant, "cf-short-lived", "blue")
		if c := brokerDo(t, "GET", "/v2/catalog", basic(id, secret, "2.17"), nil); c.status != http.StatusOK {
			t.Fatalf("before: %d %s", c.status, c.raw)
		}
		ok(t, gql(t, w.tenant, `mutation($id: ID!) { deleteSystemAuthForRuntime(authID: $id) { id } }`, map[string]any{"id": id}), nil)
		wantOSB(t, "after deletion", brokerDo(t, "GET", "/v2/catalog", basic(id, secret, "2.17"), nil), http.StatusUnauthorized, "")
	})

	t.Run("originating identity is recorded in the audit", func(t *testing.T) {
		oi := "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"bob"}`))
		hh := h.Clone()
		hh.Set("X-Broker-API-Originating-Identity", oi)
		wantOSB(t, "provision", brokerDo(t, "PUT", "/v2/service_instances/inst-audited", hh, provision), http.StatusCreated, "")
		if !streamGets(t, "audit", oi, 10*time.Second) {
			t.Fatal("no audit record names the platform user")
		}
	})
}

func mustRequest(t *testing.T, method, url string, h http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		req.Header = h
	}
	return req
}

func isStatus(err error, status int) bool {
	e, ok := osb.IsHTTPError(err)
	return ok && e.StatusCode == status
}

// The catalog is every application the runtime shares a scenario with, not the first page (Compass's broker
// showed the first 200): registered concurrently, 450 applications of a scenario are all in it.
func TestBrokerCatalogHasEveryApplication(t *testing.T) {
	needBroker(t)
	const tenant, n = "tenant-broker-many", 450
	allowScenarios(t, tenant, "fleet")
	if err := registerWithBundles(t, tenant, n, 1, 8); err != nil {
		t.Fatal(err)
	}
	_, id, secret := brokerRuntime(t, tenant, "cf-many", "fleet")
	c := brokerDo(t, "GET", "/v2/catalog", basic(id, secret, "2.17"), nil)
	services, _ := c.body["services"].([]any)
	if c.status != http.StatusOK || len(services) != n {
		var total struct{ Applications struct{ TotalCount int } }
		ok(t, gql(t, tenant, `{ applications(filter: [{key: "scenarios", query: "$[*] ? (@ == \"fleet\")"}]) { totalCount } }`, nil), &total)
		t.Fatalf("catalog: %d with %d services, want %d (the Director counts %d in the scenario)", c.status, len(services), n, total.Applications.TotalCount)
	}
}
