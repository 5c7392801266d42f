package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

const instanceAuthTenant = "tenant-instanceauth"

// pairIn registers nothing: it pairs the application or runtime id of tenant (kind "Application" or
// "Runtime") through the Connector and returns a client presenting its certificate.
func pairIn(t *testing.T, tenant, kind, id string) *http.Client {
	t.Helper()
	field := "requestOneTimeTokenFor" + kind
	var out map[string]struct{ Token string }
	ok(t, gql(t, tenant, `mutation($id: ID!) { `+field+`(id: $id) { token } }`, map[string]any{"id": id}), &out)
	cred, err := connector().Pair(context.Background(), out[field].Token)
	if err != nil {
		t.Fatalf("pair %s %s: %v", kind, id, err)
	}
	if cred.ConsumerID != id || cred.Tenant != tenant || !strings.EqualFold(cred.ConsumerType, kind) {
		t.Fatalf("certificate for %+v", cred)
	}
	return mtls(t, cred)
}

// refused fails the test unless r is the one error "The operation is not allowed" (FORBIDDEN), with field
// null (when given) and nothing of the secrets in the body.
func refused(t *testing.T, what string, r *stacktest.Response, field string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" || r.Errors[0].Message != "The operation is not allowed" {
		t.Fatalf("%s: want FORBIDDEN \"The operation is not allowed\", got status %d, body %s", what, r.Status, r.Raw)
	}
	var data map[string]json.RawMessage
	if len(r.Data) > 0 && string(r.Data) != "null" {
		if err := r.Decode(&data); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok := data[field]; ok && string(v) != "null" {
		t.Fatalf("%s: refused, yet answered %s", what, v)
	}
	if strings.Contains(string(r.Raw), "s3cret") {
		t.Fatalf("%s: the credentials leaked: %s", what, r.Raw)
	}
}

// Issue 9, defects 2 and 9, through the gateway with client certificates: a runtime asks for, gives up and
// reads only instance auths of applications sharing one of its scenarios, and only its own; an
// application only those of its own bundles; a runtime asking for an application outside its scenarios
// gets an error, not null.
func TestInstanceAuthsOnlyForTheirConsumers(t *testing.T) {
	const tenant = instanceAuthTenant
	allowScenarios(t, tenant, "blue")
	var app struct{ RegisterApplication appData }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "ia-blue-app", "labels": map[string]any{"scenarios": []string{"blue"}},
		"webhooks": []any{map[string]any{"type": "CONFIGURATION_CHANGED", "url": "http://127.0.0.1:1/hook",
			"auth": map[string]any{"credential": map[string]any{"basic": map[string]any{"username": "hook", "password": "s3cret-hook"}}}}}}}), &app)
	blueApp := app.RegisterApplication.ID
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "ia-other-app"}}), &app)
	otherApp := app.RegisterApplication.ID
	var b struct{ AddBundle struct{ ID string } }
	ok(t, gql(t, tenant, `mutation($app: ID!) { addBundle(applicationID: $app, in: {name: "creds"}) { id } }`, map[string]any{"app": blueApp}), &b)
	bundleID := b.AddBundle.ID
	runtime := func(name string, labels map[string]any) *http.Client {
		var rt struct{ RegisterRuntime struct{ ID string } }
		ok(t, gql(t, tenant, `mutation($in: RuntimeInput!) { registerRuntime(in: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": name, "labels": labels}}), &rt)
		return pairIn(t, tenant, "Runtime", rt.RegisterRuntime.ID)
	}
	blueRt := runtime("ia-blue-rt", map[string]any{"scenarios": []string{"blue"}})
	blueRt2 := runtime("ia-blue-rt-2", map[string]any{"scenarios": []string{"blue"}})
	outRt := runtime("ia-out-rt", nil)
	otherAppClient := pairIn(t, tenant, "Application", otherApp)
	dir := func(hc *http.Client, q string, vars map[string]any) *stacktest.Response {
		return secure(t, hc, "/director/graphql", q, vars)
	}

	const request = `mutation($b: ID!) { requestBundleInstanceAuthCreation(bundleID: $b, in: {context: "{}"}) { id status { condition } } }`
	refused(t, "request by a runtime outside the scenario", dir(outRt, request, map[string]any{"b": bundleID}), "requestBundleInstanceAuthCreation")
	var mine struct {
		RequestBundleInstanceAuthCreation struct{ ID string }
	}
	ok(t, dir(blueRt, request, map[string]any{"b": bundleID}), &mine)
	authID := mine.RequestBundleInstanceAuthCreation.ID
	// The application's webhook does not answer; the admin sets the credentials as the application would.
	ok(t, gql(t, tenant, `mutation($id: ID!) { setBundleInstanceAuth(authID: $id, in: {auth: {credential: {basic: {username: "rt", password: "s3cret"}}}}) { id } }`,
		map[string]any{"id": authID}), nil)

	const readAuth = `query($id: ID!) { bundleInstanceAuth(id: $id) { id status { condition } auth { credential { ... on BasicCredentialData { password } } } } }`
	const readBundle = `query($id: ID!) { bundleByInstanceAuth(authID: $id) { id defaultInstanceAuth { additionalHeaders } instanceAuths { id auth { credential { ... on BasicCredentialData { password } } } } } }`
	const requestDeletion = `mutation($id: ID!) { requestBundleInstanceAuthDeletion(authID: $id) { id status { condition } } }`
	vars := map[string]any{"id": authID}
	for _, c := range []struct {
		name, query, field string
		client             *http.Client
	}{
		{"runtime outside the scenario reads", readAuth, "bundleInstanceAuth", outRt},
		{"another runtime reads", readAuth, "bundleInstanceAuth", blueRt2},
		{"runtime outside the scenario reads the bundle", readBundle, "bundleByInstanceAuth", outRt},
		{"another runtime reads the bundle", readBundle, "bundleByInstanceAuth", blueRt2},
		{"runtime outside the scenario requests deletion", requestDeletion, "requestBundleInstanceAuthDeletion", outRt},
		{"another runtime requests deletion", requestDeletion, "requestBundleInstanceAuthDeletion", blueRt2},
		{"another application reads", readAuth, "bundleInstanceAuth", otherAppClient},
		{"another application sets", `mutation($id: ID!) { setBundleInstanceAuth(authID: $id, in: {auth: {credential: {basic: {username: "x", password: "y"}}}}) { id } }`, "setBundleInstanceAuth", otherAppClient},
		{"another application deletes", `mutation($id: ID!) { deleteBundleInstanceAuth(authID: $id) { id } }`, "deleteBundleInstanceAuth", otherAppClient},
	} {
		t.Run(c.name, func(t *testing.T) { refused(t, c.name, dir(c.client, c.query, vars), c.field) })
	}

	t.Run("an application outside the runtime's scenarios is an error, not null", func(t *testing.T) {
		refused(t, "application(id)", dir(outRt, `query($id: ID!) { application(id: $id) { id name } }`, map[string]any{"id": blueApp}), "application")
		refused(t, "application(id) of another application", dir(otherAppClient, `query($id: ID!) { application(id: $id) { id name } }`, map[string]any{"id": blueApp}), "application")
	})

	t.Run("a runtime of the scenario sees neither others' credentials nor the application's", func(t *testing.T) {
		r := dir(blueRt2, `query($id: ID!) { application(id: $id) { id webhooks { id auth { credential { ... on BasicCredentialData { password } } } }
			bundles { data { id instanceAuths { id auth { credential { ... on BasicCredentialData { password } } } } } } } }`, map[string]any{"id": blueApp})
		var got struct {
			Application struct {
				ID       string
				Webhooks []any
				Bundles  struct {
					Data []struct{ InstanceAuths []struct{ ID string } }
				}
			}
		}
		ok(t, r, &got)
		if got.Application.ID != blueApp || got.Application.Webhooks != nil || len(got.Application.Bundles.Data) != 1 ||
			len(got.Application.Bundles.Data[0].InstanceAuths) != 0 || strings.Contains(string(r.Raw), "s3cret") {
			t.Fatalf("another runtime sees %s", r.Raw)
		}
		// The application's client credentials are refused; the field is null, the rest answered.
		r = dir(blueRt2, `query($id: ID!) { application(id: $id) { id auths { id } } }`, map[string]any{"id": blueApp})
		refused(t, "application auths", r, "")
		if !strings.Contains(string(r.Data), `"auths":null`) {
			t.Fatalf("application auths: %s", r.Data)
		}
	})

	t.Run("the runtime that asked reads its credentials and gives them up", func(t *testing.T) {
		var got struct {
			BundleInstanceAuth struct {
				Status struct{ Condition string }
				Auth   struct{ Credential struct{ Password string } }
			}
		}
		ok(t, dir(blueRt, readAuth, vars), &got)
		if got.BundleInstanceAuth.Status.Condition != "SUCCEEDED" || got.BundleInstanceAuth.Auth.Credential.Password != "s3cret" {
			t.Fatalf("own instance auth: %+v", got)
		}
		var byBundle struct {
			BundleByInstanceAuth struct{ InstanceAuths []struct{ ID string } }
		}
		ok(t, dir(blueRt, readBundle, vars), &byBundle)
		if ia := byBundle.BundleByInstanceAuth.InstanceAuths; len(ia) != 1 || ia[0].ID != authID {
			t.Fatalf("own bundle's instance auths: %+v", ia)
		}
		var del struct {
			RequestBundleInstanceAuthDeletion struct{ Status struct{ Condition string } }
		}
		ok(t, dir(blueRt, requestDeletion, vars), &del)
		if del.RequestBundleInstanceAuthDeletion.Status.Condition != "UNUSED" {
			t.Fatalf("after the deletion request: %+v", del)
		}
	})
}
