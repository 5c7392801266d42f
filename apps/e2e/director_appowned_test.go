package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// An application with its Connector certificate describes itself, as in Compass (the "application" and
// "proxy" integration levels): it updates itself, manages its webhooks, bundles, API and event definitions
// and documents. Each path is tried on the application's own object, which works, and on another
// application's, which is "The operation is not allowed" — directly (by bundle) and indirectly (by the id
// of a definition, document or webhook) — and the other application is left as it was.
func TestDirectorApplicationDescribesItself(t *testing.T) {
	const tenant = "tenant-appowned"
	hook := func(url string) map[string]any {
		return map[string]any{"type": "CONFIGURATION_CHANGED", "url": url,
			"auth": map[string]any{"credential": map[string]any{"basic": map[string]any{"username": "hook", "password": "s3cret-hook"}}}}
	}
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "ao-mine"}}), &reg)
	mine := reg.RegisterApplication.ID
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "ao-other", "description": "as registered",
		"webhooks": []any{hook("http://127.0.0.1:1/other-hook")}}}), &reg)
	other := reg.RegisterApplication.ID

	// The other application's bundle, with one of each kind of content, as an administrator made it.
	const otherView = `query($id: ID!) { application(id: $id) { name description webhooks { id url }
		bundles { data { id name apiDefinitions { data { id name } } eventDefinitions { data { id name } } documents { data { id title } } } } } }`
	var bundleOut struct{ AddBundle struct{ ID string } }
	ok(t, gql(t, tenant, `mutation($app: ID!) { addBundle(applicationID: $app, in: {name: "theirs",
		apiDefinitions: [{name: "their-api", targetURL: "https://other.example.com/api"}],
		eventDefinitions: [{name: "their-events"}],
		documents: [{title: "their-doc", displayName: "d", description: "d", format: MARKDOWN, data: "# d"}]}) { id } }`,
		map[string]any{"app": other}), &bundleOut)
	type view struct {
		Application struct {
			Name        string
			Description string
			Webhooks    []struct{ ID, URL string }
			Bundles     struct {
				Data []struct {
					ID, Name         string
					APIDefinitions   struct{ Data []struct{ ID, Name string } }
					EventDefinitions struct{ Data []struct{ ID, Name string } }
					Documents        struct{ Data []struct{ ID, Title string } }
				}
			}
		}
	}
	var before view
	ok(t, gql(t, tenant, otherView, map[string]any{"id": other}), &before)
	theirs := before.Application.Bundles.Data[0]
	theirBundle, theirAPI := theirs.ID, theirs.APIDefinitions.Data[0].ID
	theirEvent, theirDoc := theirs.EventDefinitions.Data[0].ID, theirs.Documents.Data[0].ID
	theirHook := before.Application.Webhooks[0].ID

	client := pairIn(t, tenant, "Application", mine)
	// path is tried first on the other application's object (refused), then on its own (answered into out).
	path := func(name, query string, theirVars, ownVars map[string]any, out any) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) {
			refused(t, name+" of another application", secure(t, client, "/director/graphql", query, theirVars), name)
			ok(t, secure(t, client, "/director/graphql", query, ownVars), out)
		}) {
			t.FailNow()
		}
	}
	var ids struct {
		AddWebhook, AddBundle, AddAPIDefinitionToBundle, AddEventDefinitionToBundle, AddDocumentToBundle struct{ ID string }
	}
	const unreachable = "http://127.0.0.1:1/spec" // a download that fails: the definition is kept, its status FAILED

	path("updateApplication", `mutation($id: ID!) { updateApplication(id: $id, in: {description: "described by itself"}) { id } }`,
		map[string]any{"id": other}, map[string]any{"id": mine}, nil)
	path("addWebhook", `mutation($id: ID!, $in: WebhookInput!) { addWebhook(applicationID: $id, in: $in) { id } }`,
		map[string]any{"id": other, "in": hook("http://127.0.0.1:1/x")}, map[string]any{"id": mine, "in": hook("http://127.0.0.1:1/mine")}, &ids)
	path("updateWebhook", `mutation($id: ID!, $in: WebhookInput!) { updateWebhook(webhookID: $id, in: $in) { id } }`,
		map[string]any{"id": theirHook, "in": hook("http://127.0.0.1:1/x")}, map[string]any{"id": ids.AddWebhook.ID, "in": hook("http://127.0.0.1:1/mine-v2")}, nil)
	path("deleteWebhook", `mutation($id: ID!) { deleteWebhook(webhookID: $id) { id } }`,
		map[string]any{"id": theirHook}, map[string]any{"id": ids.AddWebhook.ID}, nil)

	path("addBundle", `mutation($id: ID!) { addBundle(applicationID: $id, in: {name: "self-described"}) { id } }`,
		map[string]any{"id": other}, map[string]any{"id": mine}, &ids)
	mineBundle := ids.AddBundle.ID
	path("updateBundle", `mutation($id: ID!) { updateBundle(id: $id, in: {name: "renamed"}) { id } }`,
		map[string]any{"id": theirBundle}, map[string]any{"id": mineBundle}, nil)

	apiIn := map[string]any{"name": "orders", "targetURL": "https://mine.example.com/orders",
		"spec": map[string]any{"type": "OPEN_API", "format": "YAML", "fetchRequest": map[string]any{"url": unreachable}}}
	path("addAPIDefinitionToBundle", `mutation($id: ID!, $in: APIDefinitionInput!) { addAPIDefinitionToBundle(bundleID: $id, in: $in) { id } }`,
		map[string]any{"id": theirBundle, "in": apiIn}, map[string]any{"id": mineBundle, "in": apiIn}, &ids)
	mineAPI := ids.AddAPIDefinitionToBundle.ID
	path("refetchAPISpec", `mutation($id: ID!) { refetchAPISpec(apiID: $id) { id } }`,
		map[string]any{"id": theirAPI}, map[string]any{"id": mineAPI}, nil)
	path("updateAPIDefinition", `mutation($id: ID!, $in: APIDefinitionInput!) { updateAPIDefinition(id: $id, in: $in) { id } }`,
		map[string]any{"id": theirAPI, "in": apiIn}, map[string]any{"id": mineAPI, "in": apiIn}, nil)
	path("deleteAPIDefinition", `mutation($id: ID!) { deleteAPIDefinition(id: $id) { id } }`,
		map[string]any{"id": theirAPI}, map[string]any{"id": mineAPI}, nil)

	eventIn := map[string]any{"name": "order-created",
		"spec": map[string]any{"type": "ASYNC_API", "format": "YAML", "fetchRequest": map[string]any{"url": unreachable}}}
	path("addEventDefinitionToBundle", `mutation($id: ID!, $in: EventDefinitionInput!) { addEventDefinitionToBundle(bundleID: $id, in: $in) { id } }`,
		map[string]any{"id": theirBundle, "in": eventIn}, map[string]any{"id": mineBundle, "in": eventIn}, &ids)
	mineEvent := ids.AddEventDefinitionToBundle.ID
	path("refetchEventDefinitionSpec", `mutation($id: ID!) { refetchEventDefinitionSpec(eventID: $id) { id } }`,
		map[string]any{"id": theirEvent}, map[string]any{"id": mineEvent}, nil)
	path("updateEventDefinition", `mutation($id: ID!, $in: EventDefinitionInput!) { updateEventDefinition(id: $id, in: $in) { id } }`,
		map[string]any{"id": theirEvent, "in": eventIn}, map[string]any{"id": mineEvent, "in": eventIn}, nil)
	path("deleteEventDefinition", `mutation($id: ID!) { deleteEventDefinition(id: $id) { id } }`,
		map[string]any{"id": theirEvent}, map[string]any{"id": mineEvent}, nil)

	docIn := map[string]any{"title": "guide", "displayName": "Guide", "description": "how to", "format": "MARKDOWN", "data": "# guide"}
	path("addDocumentToBundle", `mutation($id: ID!, $in: DocumentInput!) { addDocumentToBundle(bundleID: $id, in: $in) { id } }`,
		map[string]any{"id": theirBundle, "in": docIn}, map[string]any{"id": mineBundle, "in": docIn}, &ids)
	path("deleteDocument", `mutation($id: ID!) { deleteDocument(id: $id) { id } }`,
		map[string]any{"id": theirDoc}, map[string]any{"id": ids.AddDocumentToBundle.ID}, nil)

	path("deleteBundle", `mutation($id: ID!) { deleteBundle(id: $id) { id } }`,
		map[string]any{"id": theirBundle}, map[string]any{"id": mineBundle}, nil)

	// The other application is as the administrator left it; the caller's own changes are there.
	var after view
	r := gql(t, tenant, otherView, map[string]any{"id": other})
	ok(t, r, &after)
	if a := after.Application; a.Description != "as registered" || len(a.Webhooks) != 1 || a.Webhooks[0].URL != "http://127.0.0.1:1/other-hook" ||
		len(a.Bundles.Data) != 1 || a.Bundles.Data[0].Name != "theirs" || len(a.Bundles.Data[0].APIDefinitions.Data) != 1 ||
		len(a.Bundles.Data[0].EventDefinitions.Data) != 1 || len(a.Bundles.Data[0].Documents.Data) != 1 {
		t.Fatalf("the other application changed: %s", r.Data)
	}
	var self view
	ok(t, gql(t, tenant, otherView, map[string]any{"id": mine}), &self)
	if a := self.Application; a.Description != "described by itself" || len(a.Webhooks) != 0 || len(a.Bundles.Data) != 0 {
		t.Fatalf("the application after describing itself: %+v", a)
	}
}

// A value of the wrong kind for a custom scalar (an object where the JSON scalar wants a string) is
// INVALID_INPUT naming the argument and what it must be, not an internal error, and changes nothing.
func TestDirectorBadScalarInputIsInvalid(t *testing.T) {
	const tenant = "tenant-badscalar"
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "bs-app"}}), &reg)
	var b struct{ AddBundle struct{ ID string } }
	ok(t, gql(t, tenant, `mutation($app: ID!) { addBundle(applicationID: $app, in: {name: "b"}) { id } }`,
		map[string]any{"app": reg.RegisterApplication.ID}), &b)

	r := gql(t, tenant, `mutation($b: ID!, $in: BundleInstanceAuthRequestInput!) { requestBundleInstanceAuthCreation(bundleID: $b, in: $in) { id } }`,
		map[string]any{"b": b.AddBundle.ID, "in": map[string]any{"context": map[string]any{"user": "u"}}})
	if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Code() != "INVALID_INPUT" ||
		!strings.Contains(r.Errors[0].Message, "in.context: expected a string, got an object") || string(r.Data) != "null" {
		t.Fatalf("want INVALID_INPUT naming in.context, got status %d, body %s", r.Status, r.Raw)
	}
	var got struct {
		Application struct {
			Bundle struct{ InstanceAuths []struct{ ID string } }
		}
	}
	ok(t, gql(t, tenant, `query($app: ID!, $b: ID!) { application(id: $app) { bundle(id: $b) { instanceAuths { id } } } }`,
		map[string]any{"app": reg.RegisterApplication.ID, "b": b.AddBundle.ID}), &got)
	if n := len(got.Application.Bundle.InstanceAuths); n != 0 {
		t.Fatalf("a refused request made %d instance auths", n)
	}
}
