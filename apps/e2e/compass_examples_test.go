package e2e

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// placeholder is the id Compass's integration tests left in every example document.
const placeholder = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"

// exampleStep runs one example document (doc) or one of our own setup queries (query).
type exampleStep struct {
	doc     string            // path under the examples folder
	query   string            // a setup query of ours, when doc is empty
	tenant  string            // defaults to exampleTenant
	ids     []string          // variables that replace the placeholder ids, in order of appearance
	replace map[string]string // other literals to replace
	capture map[string]string // variable -> dotted path into the first field of data
	global  bool              // the objects named are not tenant-owned (integration systems, templates)
}

const exampleTenant = "compass-examples"

// exampleSteps replays the Compass example documents in an order where each finds what it needs: the ids
// it names are those of objects created by earlier steps. Setup queries add what no example creates.
var exampleSteps = []exampleStep{
	{doc: "register-application/register-application.graphql", capture: map[string]string{"app": "id"}},
	// The other registrations reuse names, so each goes to a tenant of its own.
	{doc: "register-application/register-application-with-status.graphql", tenant: "compass-examples-status"},
	{doc: "register-application/register-application-with-webhooks.graphql", tenant: "compass-examples-webhooks"},
	{doc: "register-application/register-application-with-bundles.graphql", tenant: "compass-examples-bundles"},
	{doc: "query-application/query-application.graphql", ids: []string{"app"}},
	{doc: "query-applications/query-applications.graphql"},
	{doc: "query-applications/query-applications-with-label-filter.graphql"},
	{doc: "update-application/update-application.graphql", ids: []string{"app"}},
	{doc: "set-application-label/set-application-label.graphql", ids: []string{"app"}},
	{doc: "query-label-definition/query-label-definition.graphql"},
	{query: `mutation($app: ID!) { result: setApplicationLabel(applicationID: $app, key: "brand_new_label", value: ["x"]) { key } }`},
	{doc: "delete-application-label/delete-application-label.graphql", ids: []string{"app"}},
	{doc: "add-webhook/add-application-webhook.graphql", ids: []string{"app"}, capture: map[string]string{"webhook": "id"}},
	{doc: "update-webhook/update-application-webhook.graphql", ids: []string{"webhook"}},
	{doc: "delete-webhook/delete-application-webhook.graphql", ids: []string{"webhook"}},
	{doc: "create-label-definition/create-label-definition.graphql"},
	{doc: "update-label-definition/update-label-definition.graphql"},
	{doc: "delete-label-definition/delete-label-definition.graphql"},

	{doc: "register-runtime/register-runtime.graphql", capture: map[string]string{"runtime": "id"}},
	{doc: "query-runtime/query-runtime.graphql", ids: []string{"runtime"}},
	{doc: "query-runtimes/query-runtimes.graphql"},
	{doc: "query-runtimes/query-runtimes-with-label-filter.graphql"},
	// The cursor in this example is one of Compass's own; ours are different, so it starts from the top.
	{doc: "query-runtimes/query-runtimes-with-pagination.graphql", replace: map[string]string{`"RHBLdEo0ajlqRHE5"`: `""`}},
	{doc: "update-runtime/update-runtime.graphql", ids: []string{"runtime"}},
	{query: `mutation($runtime: ID!) { result: setRuntimeLabel(runtimeID: $runtime, key: "scenarios", value: ["DEFAULT"]) { key } }`},
	{doc: "query-applications-for-runtime/query-applications-for-runtime.graphql", ids: []string{"runtime"}},
	{doc: "eventing/set-default-eventing-for-application.graphql", ids: []string{"runtime", "app"}},
	{doc: "eventing/delete-default-eventing-for-application.graphql", ids: []string{"app"}},

	{query: `mutation { result: updateLabelDefinition(in: {key: "scenarios", schema: "{\"type\":\"array\",\"minItems\":1,\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"enum\":[\"DEFAULT\",\"test-scenario\",\"ASA1\"]}}"}) { key } }`},
	{doc: "create-automatic-scenario-assignment/create-automatic-scenario-assignment.graphql"},
	{doc: "query-automatic-scenario-assignment-for-scenario/query-automatic-scenario-assignment-for-scenario.graphql"},
	{doc: "query-automatic-scenario-assignments-for-selector/query-automatic-scenario-assignments-for-selector.graphql"},
	{doc: "query-automatic-scenario-assignments/query-automatic-scenario-assignments.graphql"},
	{doc: "delete-automatic-scenario-assignment-for-scenario/delete-automatic-scenario-assignment-for-scenario.graphql"},
	{doc: "create-automatic-scenario-assignment/create-automatic-scenario-assignment.graphql"},
	{doc: "delete-automatic-scenario-assignments-for-selector/delete-automatic-scenario-assignments-for-selector.graphql"},

	{doc: "add-bundle/add-bundle.graphql", ids: []string{"app"}, capture: map[string]string{"bundle": "id"}},
	{doc: "query-bundle/query-bundle.graphql", ids: []string{"app", "bundle"}},
	{doc: "query-bundles/query-bundles.graphql", ids: []string{"app"}},
	{doc: "update-bundle/update-bundle.graphql", ids: []string{"bundle"}},
	{doc: "add-api-definition-to-bundle/add-api-definition-to-bundle.graphql", ids: []string{"bundle"}, capture: map[string]string{"api": "id"}},
	{doc: "query-api-definition/query-api-definition.graphql", ids: []string{"app", "bundle", "api"}},
	{doc: "query-api-definitions/query-api-definitions.graphql", ids: []string{"app", "bundle"}},
	{doc: "update-api-definition/update-api-definition.graphql", ids: []string{"api"}},
	{doc: "refetch-api-spec/refetch-api-spec.graphql", ids: []string{"api"}},
	{doc: "delete-api-definition/delete-api-definition.graphql", ids: []string{"api"}},
	{doc: "add-event-definition-to-bundle/add-event-definition-to-bundle.graphql", ids: []string{"bundle"}, capture: map[string]string{"event": "id"}},
	{doc: "query-event-definition/query-event-definition.graphql", ids: []string{"app", "bundle", "event"}},
	{doc: "query-event-definitions/query-event-definitions.graphql", ids: []string{"app", "bundle"}},
	{doc: "update-event-definition/update-event-definition.graphql", ids: []string{"event"}},
	{doc: "delete-event-definition/delete-event-definition.graphql", ids: []string{"event"}},
	{doc: "add-document-to-bundle/add-document-to-bundle.graphql", ids: []string{"bundle"}, capture: map[string]string{"document": "id"}},
	{doc: "query-document/query-document.graphql", ids: []string{"app", "bundle", "document"}},
	{doc: "query-documents/query-documents.graphql", ids: []string{"app", "bundle"}},
	{doc: "delete-document/delete-document.graphql", ids: []string{"document"}},
	{doc: "request-bundle-instance-auth-creation/request-bundle-instance-auth-creation.graphql", ids: []string{"bundle"}, capture: map[string]string{"auth": "id"}},
	{doc: "set-bundle-instance-auth/set-bundle-instance-auth.graphql", ids: []string{"auth"}},
	{doc: "request-bundle-instance-auth-deletion/request-bundle-instance-auth-deletion.graphql", ids: []string{"auth"}},
	{doc: "delete-bundle-instance-auth/delete-bundle-instance-auth.graphql", ids: []string{"auth"}},
	{doc: "delete-bundle/delete-bundle.graphql", ids: []string{"bundle"}},

	{doc: "register-integration-system/register-integration-system.graphql", capture: map[string]string{"intsys": "id"}},
	{doc: "query-integration-system/query-integration-system.graphql", ids: []string{"intsys"}, global: true},
	{doc: "query-integration-systems/query-integration-systems.graphql"},
	{doc: "update-integration-system/update-integration-system.graphql", ids: []string{"intsys"}, global: true},
	{doc: "unregister-integration-system/unregister-integration-system.graphql", ids: []string{"intsys"}, global: true},

	{doc: "create-application-template/create-application-template.graphql", capture: map[string]string{"template": "id"}},
	{doc: "query-application-template/query-application-template.graphql", ids: []string{"template"}, global: true},
	{doc: "query-application-templates/query-application-templates.graphql"},
	{doc: "update-application-template/update-application-template.graphql", ids: []string{"template"}, global: true},
	{doc: "delete-application-template/delete-application-template.graphql", ids: []string{"template"}, global: true},
	// The example registers from a template named "template" with one placeholder, which no example creates.
	{query: `mutation { result: createApplicationTemplate(in: {name: "template", applicationInput: {name: "from-template", description: "{{new-placeholder}}"}, placeholders: [{name: "new-placeholder"}], accessLevel: GLOBAL}) { id } }`},
	{doc: "register-application-from-template/register-application-from-template.graphql"},

	{doc: "query-tenants/query-tenants.graphql"},
	{doc: "unregister-runtime/unregister-runtime.graphql", ids: []string{"runtime"}},
	{doc: "unregister-application/unregister-application.graphql", ids: []string{"app"}},
}

// examplesDir finds the Compass example documents: COMPASS_EXAMPLES_DIR, or ../shared next to the repository.
func examplesDir(t *testing.T) string {
	if d := os.Getenv("COMPASS_EXAMPLES_DIR"); d != "" {
		return d
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(root), "shared", "compass-examples", "director")
}

func TestCompassExamplesRunInOrder(t *testing.T) {
	dir := examplesDir(t)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("Compass example documents not found at %s (set COMPASS_EXAMPLES_DIR to run them)", dir)
	}
	vars := map[string]string{}
	ran := map[string]bool{}
	for i, st := range exampleSteps {
		name := st.doc
		if name == "" {
			name = "setup-" + strconv.Itoa(i)
		}
		ok := t.Run(name, func(t *testing.T) {
			query := st.query
			var gqlVars map[string]any
			if st.doc != "" {
				raw, err := os.ReadFile(filepath.Join(dir, st.doc))
				if err != nil {
					t.Fatal(err)
				}
				query = string(raw)
				for _, v := range st.ids {
					if vars[v] == "" {
						t.Fatalf("no %s id from an earlier step", v)
					}
					query = strings.Replace(query, placeholder, vars[v], 1)
				}
				if strings.Contains(query, placeholder) {
					t.Fatalf("the document has more placeholder ids than the step names")
				}
				for from, to := range st.replace {
					query = strings.ReplaceAll(query, from, to)
				}
				ran[st.doc] = true
			} else {
				gqlVars = map[string]any{}
				for k, v := range vars {
					if strings.Contains(query, "$"+k) {
						gqlVars[k] = v
					}
				}
			}
			tenant := st.tenant
			if tenant == "" {
				tenant = exampleTenant
			}
			if len(st.ids) > 0 && !st.global {
				assertInvisible(t, query)
			}
			r := gql(t, tenant, query, gqlVars)
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("status %d, errors %+v", r.Status, r.Errors)
			}
			var data map[string]json.RawMessage
			if err := json.Unmarshal(r.Data, &data); err != nil || len(data) == 0 {
				t.Fatalf("no data: %s", r.Raw)
			}
			for v, path := range st.capture {
				got := dig(t, data, path)
				if got == "" {
					t.Fatalf("no %s in %s", path, r.Data)
				}
				vars[v] = got
			}
		})
		if !ok && len(st.capture) > 0 {
			t.Fatalf("later steps need what %s should have created", name)
		}
	}
	// Every example document must have been run.
	var missing []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".graphql") {
			rel, _ := filepath.Rel(dir, p)
			if !ran[filepath.ToSlash(rel)] {
				missing = append(missing, rel)
			}
		}
		return nil
	})
	if len(missing) > 0 {
		t.Errorf("example documents not run: %v", missing)
	}
	if len(ran) < 70 {
		t.Errorf("ran %d example documents, want all 70", len(ran))
	}
}

// assertInvisible runs query as a tenant that owns none of the ids in it: every answer must be either
// NOT_FOUND errors or a null result.
func assertInvisible(t *testing.T, query string) {
	t.Helper()
	r := gql(t, "compass-examples-intruder", query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("as another tenant: status %d %s", r.Status, r.Raw)
	}
	if len(r.Errors) > 0 {
		for _, e := range r.Errors {
			if e.Code() != "NOT_FOUND" {
				t.Fatalf("as another tenant: want NOT_FOUND, got %+v", r.Errors)
			}
		}
		return
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatal(err)
	}
	for field, v := range data {
		if string(v) != "null" {
			t.Fatalf("as another tenant, %s answered %s", field, v)
		}
	}
}

// dig returns the string at a dotted path inside the first field of data (the aliased result).
func dig(t *testing.T, data map[string]json.RawMessage, path string) string {
	t.Helper()
	var cur any
	for _, raw := range data {
		_ = json.Unmarshal(raw, &cur)
	}
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, _ := strconv.Atoi(p)
			if i >= len(c) {
				return ""
			}
			cur = c[i]
		default:
			return ""
		}
	}
	s, _ := cur.(string)
	return s
}
