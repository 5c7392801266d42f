package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// governor sends a GraphQL request to the Runtime Governor through the gateway as a user of tenant.
func governor(t testing.TB, tenant, query string, vars map[string]any) *stacktest.Response {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + userToken(t, tenant)}}
	r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/governor/graphql", h, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const createConfiguration = `mutation($in: ConfigurationInput!) {
  createConfiguration(in: $in) { id revision bindings { name type metadata { name value } secretMetadata { name value } } }
}`

func loggingBinding(url, token string) map[string]any {
	return map[string]any{
		"name": "logging", "type": "bindings.http",
		"metadata":       []map[string]any{{"name": "url", "value": url}, {"name": "securityTokenHeader", "value": "X-Log-Token"}},
		"secretMetadata": []map[string]any{{"name": "securityToken", "value": token}},
	}
}

func TestGovernorKeepsConfigurations(t *testing.T) {
	const tenant = "tenant-governor"
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, tenant, `mutation { registerRuntime(in: {name: "governed"}) { id } }`, nil), &rt)
	runtimeID := rt.RegisterRuntime.ID

	var created struct {
		CreateConfiguration struct {
			ID       string
			Revision int
			Bindings []struct {
				Name           string
				SecretMetadata []struct {
					Name  string
					Value *string
				}
			}
		}
	}
	ok(t, governor(t, tenant, createConfiguration, map[string]any{"in": map[string]any{
		"runtimeID": runtimeID, "bindings": []any{loggingBinding("http://127.0.0.1:1/logs", "s3cret")},
	}}), &created)
	c := created.CreateConfiguration
	if c.Revision != 1 || len(c.Bindings) != 1 || c.Bindings[0].SecretMetadata[0].Value != nil {
		t.Fatalf("created %+v (secret values must not come back)", c)
	}

	bad := []struct {
		name    string
		binding map[string]any
	}{
		{"unknown type", map[string]any{"name": "x", "type": "bindings.nope"}},
		{"missing required metadata", map[string]any{"name": "x", "type": "bindings.http"}},
		{"bad name", map[string]any{"name": "Not_A_Name", "type": "bindings.http", "metadata": []map[string]any{{"name": "url", "value": "http://x"}}}},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := governor(t, tenant, createConfiguration, map[string]any{"in": map[string]any{"runtimeID": runtimeID, "bindings": []any{b.binding}}})
			if len(r.Errors) == 0 || r.Errors[0].Code() != "INVALID_INPUT" {
				t.Fatalf("invalid configuration accepted: %s", r.Raw)
			}
		})
	}

	var eff struct {
		RuntimeConfiguration struct {
			Revision        int
			SecretsIncluded bool
			Bindings        []struct{ Name string }
		}
	}
	ok(t, governor(t, tenant, `query($id: ID!) { runtimeConfiguration(runtimeID: $id) { revision secretsIncluded bindings { name } } }`,
		map[string]any{"id": runtimeID}), &eff)
	if eff.RuntimeConfiguration.Revision != 1 || eff.RuntimeConfiguration.SecretsIncluded || len(eff.RuntimeConfiguration.Bindings) != 1 {
		t.Fatalf("effective configuration for a user: %+v", eff.RuntimeConfiguration)
	}
	// Another tenant sees nothing of it.
	r := governor(t, "tenant-governor-other", `query($id: ID!) { configuration(id: $id) { id } }`, map[string]any{"id": c.ID})
	var other struct{ Configuration *struct{ ID string } }
	ok(t, r, &other)
	if other.Configuration != nil {
		t.Fatal("another tenant read the configuration")
	}
}
