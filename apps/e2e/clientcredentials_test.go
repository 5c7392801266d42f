package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const clientsTenant = "tenant-oauth"

// systemAuth is SystemAuth { id auth { credential { ... on OAuthCredentialData } } }.
type systemAuth struct {
	ID   string `json:"id"`
	Auth struct {
		Credential struct {
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
			URL          string `json:"url"`
		} `json:"credential"`
	} `json:"auth"`
}

const systemAuthFields = `id auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } }`

// accessToken runs the client credentials grant against the gateway's token endpoint.
func accessToken(t testing.TB, clientID, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, stack.AppURL("gateway")+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token endpoint: %d, body not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, out.AccessToken
	}
	return resp.StatusCode, out.Error
}

func requestCredentials(t testing.TB, mutation, id string) systemAuth {
	t.Helper()
	var out map[string]systemAuth
	ok(t, gql(t, clientsTenant, `mutation($id: ID!) { `+mutation+`(id: $id) { `+systemAuthFields+` } }`, map[string]any{"id": id}), &out)
	sa := out[mutation]
	c := sa.Auth.Credential
	if sa.ID == "" || c.ClientID != sa.ID || len(c.ClientSecret) < 40 || !strings.HasSuffix(c.URL, "/oauth/token") {
		t.Fatalf("%s: %+v", mutation, sa)
	}
	return sa
}

func TestClientCredentials(t *testing.T) {
	var a, b struct{ RegisterApplication appData }
	ok(t, gql(t, clientsTenant, registerApp, map[string]any{"in": map[string]any{"name": "oauth-app-a"}}), &a)
	ok(t, gql(t, clientsTenant, registerApp, map[string]any{"in": map[string]any{"name": "oauth-app-b"}}), &b)
	appA, appB := a.RegisterApplication.ID, b.RegisterApplication.ID

	sa := requestCredentials(t, "requestClientCredentialsForApplication", appA)
	cred := sa.Auth.Credential
	status, tok := accessToken(t, cred.ClientID, cred.ClientSecret)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token endpoint: %d %s", status, tok)
	}

	t.Run("the application sees only itself", func(t *testing.T) {
		var page appPage
		ok(t, raw(t, bearer(tok), listApps, map[string]any{"first": 10}), &page)
		if page.Applications.TotalCount != 1 || page.Applications.Data[0].ID != appA {
			t.Fatalf("applications as app A: %+v", page.Applications)
		}
		// Refused with an error and no data (issue 9), as for a runtime outside the application's scenarios.
		refused(t, "app A reads app B", raw(t, bearer(tok), getApp, map[string]any{"id": appB}), "application")
		r := raw(t, bearer(tok), registerApp, map[string]any{"in": map[string]any{"name": "by-app"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("an application registered another: %s", r.Raw)
		}
	})

	t.Run("auths are listed without the secret", func(t *testing.T) {
		var out struct{ Application struct{ Auths []systemAuth } }
		ok(t, gql(t, clientsTenant, `query($id: ID!) { application(id: $id) { auths { `+systemAuthFields+` } } }`, map[string]any{"id": appA}), &out)
		if len(out.Application.Auths) != 1 || out.Application.Auths[0].ID != sa.ID || out.Application.Auths[0].Auth.Credential.ClientSecret != "" {
			t.Fatalf("auths: %+v", out.Application.Auths)
		}
	})

	t.Run("wrong secret and bad grants are refused", func(t *testing.T) {
		if status, code := accessToken(t, cred.ClientID, cred.ClientSecret+"x"); status != http.StatusUnauthorized || code != "invalid_client" {
			t.Fatalf("wrong secret: %d %s", status, code)
		}
		if status, code := accessToken(t, "not-a-client", cred.ClientSecret); status != http.StatusUnauthorized || code != "invalid_client" {
			t.Fatalf("unknown client: %d %s", status, code)
		}
	})

	t.Run("another tenant cannot delete them", func(t *testing.T) {
		r := gql(t, "tenant-oauth-other", `mutation($id: ID!) { deleteSystemAuthForApplication(authID: $id) { id } }`, map[string]any{"id": sa.ID})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("delete from another tenant: %s", r.Raw)
		}
		r = gql(t, clientsTenant, `mutation($id: ID!) { deleteSystemAuthForRuntime(authID: $id) { id } }`, map[string]any{"id": sa.ID})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("delete as a runtime's auth: %s", r.Raw)
		}
		ok(t, raw(t, bearer(tok), listApps, map[string]any{"first": 1}), nil)
	})

	t.Run("deleting them stops the token at once", func(t *testing.T) {
		var out struct{ DeleteSystemAuthForApplication systemAuth }
		ok(t, gql(t, clientsTenant, `mutation($id: ID!) { deleteSystemAuthForApplication(authID: $id) { `+systemAuthFields+` } }`, map[string]any{"id": sa.ID}), &out)
		if out.DeleteSystemAuthForApplication.ID != sa.ID {
			t.Fatalf("deleted %+v", out.DeleteSystemAuthForApplication)
		}
		if r := raw(t, bearer(tok), listApps, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("token of deleted credentials: %d %s", r.Status, r.Raw)
		}
		if status, _ := accessToken(t, cred.ClientID, cred.ClientSecret); status != http.StatusUnauthorized {
			t.Fatalf("deleted credentials got a token: %d", status)
		}
	})

	t.Run("a runtime sees only itself", func(t *testing.T) {
		var rt struct{ RegisterRuntime struct{ ID string } }
		ok(t, gql(t, clientsTenant, `mutation { registerRuntime(in: {name: "oauth-runtime"}) { id } }`, nil), &rt)
		ok(t, gql(t, clientsTenant, `mutation { registerRuntime(in: {name: "oauth-runtime-2"}) { id } }`, nil), nil)
		sa := requestCredentials(t, "requestClientCredentialsForRuntime", rt.RegisterRuntime.ID)
		_, tok := accessToken(t, sa.Auth.Credential.ClientID, sa.Auth.Credential.ClientSecret)
		var page struct {
			Runtimes struct{ Data []struct{ ID string } } `json:"runtimes"`
		}
		ok(t, raw(t, bearer(tok), `{ runtimes { data { id } } }`, nil), &page)
		if len(page.Runtimes.Data) != 1 || page.Runtimes.Data[0].ID != rt.RegisterRuntime.ID {
			t.Fatalf("runtimes as the runtime: %+v", page.Runtimes.Data)
		}
		// Unregistering the runtime takes its credentials with it.
		ok(t, gql(t, clientsTenant, `mutation($id: ID!) { unregisterRuntime(id: $id) { id } }`, map[string]any{"id": rt.RegisterRuntime.ID}), nil)
		if r := raw(t, bearer(tok), `{ runtimes { totalCount } }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("token of an unregistered runtime: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("an integration system works across the tenant", func(t *testing.T) {
		var is struct{ RegisterIntegrationSystem struct{ ID string } }
		ok(t, gql(t, clientsTenant, `mutation { registerIntegrationSystem(in: {name: "oauth-is"}) { id } }`, nil), &is)
		sa := requestCredentials(t, "requestClientCredentialsForIntegrationSystem", is.RegisterIntegrationSystem.ID)
		_, tok := accessToken(t, sa.Auth.Credential.ClientID, sa.Auth.Credential.ClientSecret)
		var page appPage
		ok(t, raw(t, bearer(tok), listApps, map[string]any{"first": 10}), &page)
		if page.Applications.TotalCount != 2 {
			t.Fatalf("applications as the integration system: %+v", page.Applications)
		}
		// It holds no scope for runtimes' configuration or label definitions' changes.
		r := raw(t, bearer(tok), `mutation { registerRuntime(in: {name: "by-is"}) { id } }`, nil)
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("an integration system registered a runtime: %s", r.Raw)
		}
		var out struct{ IntegrationSystem struct{ Auths []systemAuth } }
		ok(t, gql(t, clientsTenant, `query($id: ID!) { integrationSystem(id: $id) { auths { id } } }`, map[string]any{"id": is.RegisterIntegrationSystem.ID}), &out)
		if len(out.IntegrationSystem.Auths) != 1 || out.IntegrationSystem.Auths[0].ID != sa.ID {
			t.Fatalf("integration system auths: %+v", out.IntegrationSystem.Auths)
		}
		ok(t, gql(t, clientsTenant, `mutation($id: ID!) { unregisterIntegrationSystem(id: $id) { id } }`, map[string]any{"id": is.RegisterIntegrationSystem.ID}), nil)
		if r := raw(t, bearer(tok), listApps, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("token of an unregistered integration system: %d %s", r.Status, r.Raw)
		}
	})
}
