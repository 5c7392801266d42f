package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	osb "sigs.k8s.io/go-open-service-broker-client/v2"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// The seed's four levels of integration, each shown end to end as its users go about it: who registers
// the application and answers for its credentials differs; the runtime consumes each the same way, through
// the System Broker. README's "System Broker" section walks through these steps.

// consume provisions an instance of the plan and binds to it as a platform does (accepts_incomplete,
// polling), calling answer when the bind waits for the application; it returns the binding's credentials.
func consume(t *testing.T, c osb.Client, serviceID, planID, instanceID string, params map[string]any, answer func(bindingID string)) map[string]any {
	t.Helper()
	if _, err := c.ProvisionInstance(&osb.ProvisionRequest{InstanceID: instanceID, ServiceID: serviceID, PlanID: planID,
		OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	bindingID := instanceID + "-binding"
	res, err := c.Bind(&osb.BindRequest{BindingID: bindingID, InstanceID: instanceID, ServiceID: serviceID, PlanID: planID,
		AcceptsIncomplete: true, Parameters: params})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if !res.Async {
		return res.Credentials
	}
	if answer == nil {
		t.Fatal("the bind waits for an application that does not answer")
	}
	answer(bindingID)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		lo, err := c.PollBindingLastOperation(&osb.BindingLastOperationRequest{InstanceID: instanceID, BindingID: bindingID, OperationKey: res.OperationKey})
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if lo.State == osb.StateSucceeded {
			break
		}
		if lo.State == osb.StateFailed || time.Now().After(deadline) {
			t.Fatalf("bind ended %s", lo.State)
		}
	}
	got, err := c.GetBinding(&osb.GetBindingRequest{InstanceID: instanceID, BindingID: bindingID})
	if err != nil {
		t.Fatalf("get binding: %v", err)
	}
	return got.Credentials
}

func authOf(creds map[string]any) map[string]any {
	d, _ := creds["auth_details"].(map[string]any)
	a, _ := d["auth"].(map[string]any)
	return a
}

// levelTenant prepares a tenant with scenario blue and a runtime of it using the broker with HTTP Basic.
func levelTenant(t *testing.T, tenant string) osb.Client {
	t.Helper()
	needBroker(t)
	allowScenarios(t, tenant, "blue")
	_, id, secret := brokerRuntime(t, tenant, "cf", "blue")
	return osbClient(t, id, secret)
}

// Basic: an administrator registers the application with static metadata — its API and the credentials
// every consumer gets (a default instance auth). The application knows nothing of the plane.
func TestIntegrationLevelBasic(t *testing.T) {
	const tenant = "tenant-level-basic"
	c := levelTenant(t, tenant)
	var app struct {
		RegisterApplication struct {
			ID      string
			Bundles struct{ Data []struct{ ID string } }
		}
	}
	ok(t, gql(t, tenant, `mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id bundles { data { id } } } }`,
		map[string]any{"in": map[string]any{"name": "legacy-crm", "labels": map[string]any{"scenarios": []string{"blue"}},
			"bundles": []any{map[string]any{"name": "crm", "apiDefinitions": []any{map[string]any{"name": "crm", "targetURL": "https://crm.example.com"}},
				"defaultInstanceAuth": map[string]any{"credential": map[string]any{"basic": map[string]any{"username": "crm", "password": "crm-pass"}}}}}}}), &app)
	creds := consume(t, c, app.RegisterApplication.ID, app.RegisterApplication.Bundles.Data[0].ID, "basic-1", nil, nil)
	if authOf(creds)["password"] != "crm-pass" || creds["target_urls"].(map[string]any)["crm"] != "https://crm.example.com" {
		t.Fatalf("credentials %v", creds)
	}
}

// Application: the application has the integration built in. It pairs through the Connector with a
// one-time token, describes its own API with its certificate, and answers credential requests itself:
// its webhook hands out credentials as it is asked.
func TestIntegrationLevelApplication(t *testing.T) {
	const tenant = "tenant-level-app"
	c := levelTenant(t, tenant)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req hookCall
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"auth": map[string]any{"credential": map[string]any{
			"oauth": map[string]any{"clientId": "client-for-" + req.BundleInstanceAuthID, "clientSecret": "minted", "url": "https://shop.example.com/token"}}}})
	}))
	defer hook.Close()
	var app struct{ RegisterApplication struct{ ID string } }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "shop", "labels": map[string]any{"scenarios": []string{"blue"}},
		"webhooks": []any{map[string]any{"type": "CONFIGURATION_CHANGED", "url": hook.URL}}}}), &app)
	appID := app.RegisterApplication.ID
	shop := pairIn(t, tenant, "Application", appID) // the application's own certificate from here on
	var b struct{ AddBundle struct{ ID string } }
	ok(t, secure(t, shop, "/director/graphql", `mutation($app: ID!, $in: BundleCreateInput!) { addBundle(applicationID: $app, in: $in) { id } }`,
		map[string]any{"app": appID, "in": map[string]any{"name": "shop-api",
			"apiDefinitions": []any{map[string]any{"name": "shop", "targetURL": "https://shop.example.com/api"}}}}), &b)
	creds := consume(t, c, appID, b.AddBundle.ID, "app-1", nil, nil)
	if authOf(creds)["clientId"] != "client-for-app-1-binding" || creds["credentials_type"] != "oauth" {
		t.Fatalf("credentials %v", creds)
	}
}

// Proxy: a component co-located with the application integrates it. The proxy holds the application's
// certificate; it takes credential requests (its webhook accepts them at once), provisions the credentials
// in the application, and reports them to the plane when they exist.
func TestIntegrationLevelProxy(t *testing.T) {
	const tenant = "tenant-level-proxy"
	c := levelTenant(t, tenant)
	requests := make(chan hookCall, 4)
	proxyHook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req hookCall
		_ = json.NewDecoder(r.Body).Decode(&req)
		requests <- req
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxyHook.Close()
	var app struct{ RegisterApplication struct{ ID string } }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "mainframe", "labels": map[string]any{"scenarios": []string{"blue"}},
		"webhooks": []any{map[string]any{"type": "CONFIGURATION_CHANGED", "url": proxyHook.URL}}}}), &app)
	appID := app.RegisterApplication.ID
	proxy := pairIn(t, tenant, "Application", appID)
	var b struct{ AddBundle struct{ ID string } }
	ok(t, secure(t, proxy, "/director/graphql", `mutation($app: ID!, $in: BundleCreateInput!) { addBundle(applicationID: $app, in: $in) { id } }`,
		map[string]any{"app": appID, "in": map[string]any{"name": "mainframe-api", "instanceAuthRequestInputSchema": bindSchema,
			"apiDefinitions": []any{map[string]any{"name": "mf", "targetURL": "https://proxy.example.com/mf"}}}}), &b)
	creds := consume(t, c, appID, b.AddBundle.ID, "proxy-1", map[string]any{"team": "payments"}, func(bindingID string) {
		select {
		case req := <-requests:
			if req.BundleInstanceAuthID != bindingID {
				t.Fatalf("the proxy was asked for %s", req.BundleInstanceAuthID)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the proxy was not asked")
		}
		// ... the proxy creates a user in the mainframe, then reports it:
		ok(t, secure(t, proxy, "/director/graphql", `mutation($id: ID!) { setBundleInstanceAuth(authID: $id, in: {auth: {credential: {basic: {username: "payments", password: "mf-pass"}}}}) { id } }`,
			map[string]any{"id": bindingID}), nil)
	})
	if authOf(creds)["username"] != "payments" || creds["target_urls"].(map[string]any)["mf"] != "https://proxy.example.com/mf" {
		t.Fatalf("credentials %v", creds)
	}
}

// Service: a central service — an integration system — integrates a class of applications and manages
// many instances of them. It registers each instance with its OAuth client credentials and answers the
// credential requests of all of them.
func TestIntegrationLevelService(t *testing.T) {
	const tenant = "tenant-level-service"
	c := levelTenant(t, tenant)
	var is struct{ RegisterIntegrationSystem struct{ ID string } }
	ok(t, gql(t, tenant, `mutation { registerIntegrationSystem(in: {name: "erp-connector"}) { id } }`, nil), &is)
	var sa struct{ RequestClientCredentialsForIntegrationSystem systemAuth }
	ok(t, gql(t, tenant, `mutation($id: ID!) { requestClientCredentialsForIntegrationSystem(id: $id) { `+systemAuthFields+` } }`,
		map[string]any{"id": is.RegisterIntegrationSystem.ID}), &sa)
	cred := sa.RequestClientCredentialsForIntegrationSystem.Auth.Credential
	status, token := accessToken(t, cred.ClientID, cred.ClientSecret)
	if status != http.StatusOK {
		t.Fatalf("integration system token: %d %s", status, token)
	}
	asService := func(query string, vars map[string]any, out any) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + token}}
		r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/director/graphql", h, query, vars)
		if err != nil {
			t.Fatal(err)
		}
		ok(t, r, out)
	}
	type instance struct{ app, bundle string }
	var instances []instance
	for _, name := range []string{"erp-berlin", "erp-madrid"} {
		var app struct {
			RegisterApplication struct {
				ID      string
				Bundles struct{ Data []struct{ ID string } }
			}
		}
		asService(`mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id bundles { data { id } } } }`,
			map[string]any{"in": map[string]any{"name": name, "integrationSystemID": is.RegisterIntegrationSystem.ID,
				"labels":  map[string]any{"scenarios": []string{"blue"}},
				"bundles": []any{map[string]any{"name": "erp", "apiDefinitions": []any{map[string]any{"name": "erp", "targetURL": "https://" + name + ".example.com"}}}}}}, &app)
		instances = append(instances, instance{app.RegisterApplication.ID, app.RegisterApplication.Bundles.Data[0].ID})
	}
	cat, err := c.GetCatalog()
	if err != nil || len(cat.Services) != 2 {
		t.Fatalf("catalog: %+v %v", cat, err)
	}
	for i, in := range instances {
		creds := consume(t, c, in.app, in.bundle, "svc-"+string(rune('a'+i)), nil, func(bindingID string) {
			asService(`mutation($id: ID!) { setBundleInstanceAuth(authID: $id, in: {auth: {credential: {basic: {username: "erp", password: "erp-pass"}}}}) { id } }`,
				map[string]any{"id": bindingID}, nil)
		})
		if authOf(creds)["password"] != "erp-pass" {
			t.Fatalf("instance %d: credentials %v", i, creds)
		}
	}
}
