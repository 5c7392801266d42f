package e2e

import (
	"encoding/json"
	"testing"
)

// Issue 9, missing behaviour 6, as Compass's own TestTokenGeneration checks it: each one-time token issued
// for an application or a runtime is an entry of its `auths`, next to its client credentials, without an
// auth; an entry can be deleted like any system auth.
func TestDirectorOneTimeTokensInAuths(t *testing.T) {
	const tenant = "tenant-token-auths"
	var app struct{ RegisterApplication appData }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "token-app"}}), &app)
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, tenant, `mutation { registerRuntime(in: {name: "token-rt"}) { id } }`, nil), &rt)
	appID, rtID := app.RegisterApplication.ID, rt.RegisterRuntime.ID

	for range 3 {
		ok(t, gql(t, tenant, `mutation($id: ID!) { requestOneTimeTokenForApplication(id: $id) { token } }`, map[string]any{"id": appID}), nil)
	}
	for range 2 {
		ok(t, gql(t, tenant, `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`, map[string]any{"id": rtID}), nil)
	}
	var cred map[string]systemAuth
	ok(t, gql(t, tenant, `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) { id } }`, map[string]any{"id": appID}), &cred)
	clientID := cred["requestClientCredentialsForApplication"].ID

	type entry struct {
		ID   string          `json:"id"`
		Auth json.RawMessage `json:"auth"`
	}
	auths := func(query, id string) []entry {
		t.Helper()
		var out map[string]struct{ Auths []entry }
		ok(t, gql(t, tenant, query, map[string]any{"id": id}), &out)
		for _, v := range out {
			return v.Auths
		}
		return nil
	}
	const appAuths = `query($id: ID!) { application(id: $id) { auths { id auth { credential { ... on OAuthCredentialData { clientId } } } } } }`
	const rtAuths = `query($id: ID!) { runtime(id: $id) { auths { id auth { credential { ... on OAuthCredentialData { clientId } } } } } }`
	got := auths(appAuths, appID)
	if len(got) != 4 || got[0].ID != clientID {
		t.Fatalf("application auths: want the client credentials and 3 token entries, got %+v", got)
	}
	for _, e := range got[1:] {
		if e.ID == "" || string(e.Auth) != "null" {
			t.Fatalf("token entry %s with auth %s, want an id and no auth", e.ID, e.Auth)
		}
	}
	if rtGot := auths(rtAuths, rtID); len(rtGot) != 2 {
		t.Fatalf("runtime auths: want 2 token entries, got %+v", rtGot)
	}

	var del struct{ DeleteSystemAuthForApplication entry }
	ok(t, gql(t, tenant, `mutation($id: ID!) { deleteSystemAuthForApplication(authID: $id) { id } }`, map[string]any{"id": got[1].ID}), &del)
	if del.DeleteSystemAuthForApplication.ID != got[1].ID {
		t.Fatalf("deleted %+v", del)
	}
	if after := auths(appAuths, appID); len(after) != 3 {
		t.Fatalf("after deleting a token entry: %+v", after)
	}
	// The runtime's entries are not the application's to delete.
	r := gql(t, tenant, `mutation($id: ID!) { deleteSystemAuthForApplication(authID: $id) { id } }`, map[string]any{"id": auths(rtAuths, rtID)[0].ID})
	if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
		t.Fatalf("deleting a runtime's entry as an application's: %s", r.Raw)
	}
}
