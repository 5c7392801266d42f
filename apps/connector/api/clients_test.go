package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type credentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	URL          string `json:"url"`
}

func createClient(t *testing.T, base, owner string) credentials {
	t.Helper()
	var o struct{ Tenant string }
	_ = json.Unmarshal([]byte(owner), &o)
	status, raw := do(t, http.MethodPost, base+"/clients", owner, as(t, o.Tenant))
	if status != http.StatusCreated {
		t.Fatalf("create client: %d %s", status, raw)
	}
	var c credentials
	if err := json.Unmarshal(raw, &c); err != nil || c.ClientID == "" || len(c.ClientSecret) < 40 || c.URL != "http://gw/oauth/token" {
		t.Fatalf("create client: %s (%v)", raw, err)
	}
	return c
}

func tokenRequest(t *testing.T, base string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The gateway forwards the token endpoint with an assertion that names no caller.
	req.Header.Set(assertion.Header, kit.Sign(t, identity.Identity{}, "connector"))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, out
}

func TestClientCredentialsGrant(t *testing.T) {
	srv := newServer(t)
	owner := `{"tenant":"t1","consumerID":"rt-1","consumerType":"RUNTIME"}`
	c := createClient(t, srv.URL, owner)
	grant := url.Values{"grant_type": {"client_credentials"}}

	// HTTP Basic, as RFC 6749 recommends, and the form fields both work.
	status, out := tokenRequest(t, srv.URL, grant, c.ClientID, c.ClientSecret)
	if status != http.StatusOK || out["token_type"] != "Bearer" || out["expires_in"] != float64(3600) {
		t.Fatalf("basic: %d %v", status, out)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	if status, out := tokenRequest(t, srv.URL, form, "", ""); status != http.StatusOK {
		t.Fatalf("form: %d %v", status, out)
	}

	// The token verifies against the published key set and names the owner.
	status, raw := do(t, http.MethodGet, srv.URL+"/oauth/jwks.json", "", nil)
	var set jose.JSONWebKeySet
	if status != http.StatusOK || json.Unmarshal(raw, &set) != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %d %s", status, raw)
	}
	tok, err := jwt.ParseSigned(out["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims devtoken.Claims
	if err := tok.Claims(set.Keys[0].Key, &claims); err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	if claims.Tenant != "t1" || claims.Subject != "rt-1" || claims.ConsumerType != "RUNTIME" ||
		claims.ClientID != c.ClientID || claims.Issuer != "test-connector" || tok.Headers[0].KeyID != set.Keys[0].KeyID {
		t.Fatalf("claims %+v", claims)
	}

	// Refusals, each with the RFC 6749 error code.
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong secret", grant, c.ClientID, c.ClientSecret + "x", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", grant, "3f0c7d5e-0000-4000-8000-000000000000", c.ClientSecret, http.StatusUnauthorized, "invalid_client"},
		{"not a client id", grant, "../../x", c.ClientSecret, http.StatusUnauthorized, "invalid_client"},
		{"no credentials", grant, "", "", http.StatusUnauthorized, "invalid_client"},
		{"password grant", url.Values{"grant_type": {"password"}}, c.ClientID, c.ClientSecret, http.StatusBadRequest, "unsupported_grant_type"},
	} {
		status, out := tokenRequest(t, srv.URL, tc.form, tc.user, tc.pass)
		if status != tc.status || out["error"] != tc.code || out["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, out, tc.status, tc.code)
		}
	}
}

func TestClientsAreListedPerTenantAndDeletedAtOnce(t *testing.T) {
	srv := newServer(t)
	mine := createClient(t, srv.URL, `{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION"}`)
	theirs := createClient(t, srv.URL, `{"tenant":"t2","consumerID":"app-1","consumerType":"APPLICATION"}`)
	createClient(t, srv.URL, `{"tenant":"t1","consumerID":"is-1","consumerType":"INTEGRATION_SYSTEM"}`)

	status, raw := do(t, http.MethodPost, srv.URL+"/clients/query",
		`{"owners":[{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION"}]}`, nil)
	var list struct {
		Clients []struct {
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
		} `json:"clients"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &list) != nil || len(list.Clients) != 1 ||
		list.Clients[0].ClientID != mine.ClientID || list.Clients[0].ClientSecret != "" {
		t.Fatalf("query: %d %s", status, raw)
	}

	// Another tenant, or another consumer type, cannot delete it.
	for q, want := range map[string]int{"tenant=t2&consumerType=APPLICATION": http.StatusForbidden, "tenant=t1&consumerType=RUNTIME": http.StatusNotFound} {
		if status, raw := do(t, http.MethodDelete, srv.URL+"/clients/"+mine.ClientID+"?"+q, "", nil); status != want {
			t.Errorf("delete with %s: %d %s, want %d", q, status, raw, want)
		}
	}
	if status, raw := do(t, http.MethodDelete, srv.URL+"/clients/"+mine.ClientID+"?tenant=t2&consumerType=APPLICATION", "", as(t, "t2")); status != http.StatusNotFound {
		t.Errorf("delete by the other tenant: %d %s", status, raw)
	}
	if status, raw := do(t, http.MethodDelete, srv.URL+"/clients/"+mine.ClientID+"?tenant=t1&consumerType=APPLICATION", "", nil); status != http.StatusOK {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if _, raw := do(t, http.MethodGet, srv.URL+"/clients/"+mine.ClientID+"/status", "", nil); string(raw) != "{\"known\":false}\n" {
		t.Errorf("status after delete: %s", raw)
	}
	if status, _ := tokenRequest(t, srv.URL, url.Values{"grant_type": {"client_credentials"}}, mine.ClientID, mine.ClientSecret); status != http.StatusUnauthorized {
		t.Errorf("a deleted client got a token: %d", status)
	}
	if _, raw := do(t, http.MethodGet, srv.URL+"/clients/"+theirs.ClientID+"/status", "", nil); string(raw) != "{\"known\":true}\n" {
		t.Errorf("the other tenant's client: %s", raw)
	}

	// Unregistering an integration system removes its clients; it holds no certificates to revoke.
	status, raw = do(t, http.MethodPost, srv.URL+"/owners/revoke", `{"tenant":"t1","consumerID":"is-1","consumerType":"INTEGRATION_SYSTEM"}`, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"deletedClients":1`) {
		t.Fatalf("revoke owner: %d %s", status, raw)
	}
}

// The gateway checks HTTP Basic client credentials (the System Broker's platforms) with the Connector.
func TestClientSecretsAreVerifiedForTheGatewayOnly(t *testing.T) {
	srv := newServer(t)
	c := createClient(t, srv.URL, `{"tenant":"t1","consumerID":"rt-1","consumerType":"RUNTIME"}`)
	gateway := kit.Header(t, identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}, "connector")
	body := func(secret string) string {
		b, _ := json.Marshal(map[string]string{"clientId": c.ClientID, "clientSecret": secret})
		return string(b)
	}
	status, raw := do(t, http.MethodPost, srv.URL+"/client-secrets/verify", body(c.ClientSecret), gateway)
	if status != http.StatusOK || !strings.Contains(string(raw), `"consumerID":"rt-1"`) || !strings.Contains(string(raw), `"tenant":"t1"`) {
		t.Fatalf("right secret: %d %s", status, raw)
	}
	if status, raw := do(t, http.MethodPost, srv.URL+"/client-secrets/verify", body("wrong"), gateway); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d %s", status, raw)
	}
	// A forwarded caller, even of the same tenant, may not ask: it could test secrets.
	if status, raw := do(t, http.MethodPost, srv.URL+"/client-secrets/verify", body(c.ClientSecret), as(t, "t1")); status != http.StatusForbidden {
		t.Fatalf("a user: %d %s", status, raw)
	}
}
