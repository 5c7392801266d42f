package graph_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/mgmtplane/mgmtplane/apps/internal/schematest"
)

// requestsEnv overrides where the upstream provisioner's end-to-end documents are looked for.
const requestsEnv = "PROVISIONER_REQUESTS_DIR"

// kebDir holds documents in the shape the Kyma Environment Broker sends them: every root field aliased
// as `result`, inputs written inline (with KEB's trailing commas) rather than passed as variables. They
// were written for these tests, act on the runtime rt-keb and the operation op-keb, are validated here
// and run against the fake in graph_test.go.
const kebDir = "testdata/keb"

// loadSchema parses every *.graphqls file of the schema directory into one schema.
func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	return schematest.Load(t, filepath.Join("schema", "*.graphqls"))
}

// requestsDir returns the directory of the upstream documents, <repo root>/../shared/provisioner/requests
// unless PROVISIONER_REQUESTS_DIR says otherwise, and skips the test when it is absent: the documents are
// reference material next to the repository, never copied into it.
func requestsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(requestsEnv)
	where := requestsEnv + "=" + dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for root := wd; ; root = filepath.Dir(root) {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				dir = filepath.Join(filepath.Dir(root), "shared", "provisioner", "requests")
				where = dir + " (<repo root>/../shared/provisioner/requests)"
				break
			}
			if filepath.Dir(root) == root {
				t.Fatalf("no go.mod found above %s; set %s to the upstream documents' directory", wd, requestsEnv)
			}
		}
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		t.Skipf("upstream provisioner documents not found at %s: %v. Set %s to the directory holding "+
			"provision.graphql, status.graphql and deprovision.graphql to run this test.", where, err, requestsEnv)
	}
	return dir
}

// documents reads every *.graphql file of dir, by file name.
func documents(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.graphql documents in %s", dir)
	}
	docs := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = string(b)
	}
	return docs
}

func sortedNames(docs map[string]string) []string {
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func validate(t *testing.T, schema *ast.Schema, doc string) {
	t.Helper()
	if _, errs := gqlparser.LoadQuery(schema, doc); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		t.Errorf("does not validate:\n  %s", strings.Join(msgs, "\n  "))
	}
}

func TestUpstreamDocumentsValidate(t *testing.T) {
	dir := requestsDir(t)
	schema := loadSchema(t)
	docs := documents(t, dir)
	for _, want := range []string{"provision.graphql", "status.graphql", "deprovision.graphql"} {
		if docs[want] == "" {
			t.Errorf("%s lacks %s", dir, want)
		}
	}
	for _, name := range sortedNames(docs) {
		t.Run(name, func(t *testing.T) { validate(t, schema, docs[name]) })
	}
}

func TestKEBDocumentsValidate(t *testing.T) {
	schema := loadSchema(t)
	docs := documents(t, kebDir)
	for _, name := range sortedNames(docs) {
		t.Run(name, func(t *testing.T) { validate(t, schema, docs[name]) })
	}
}

// Our extensions, and what we left out on purpose.
func TestSchemaShape(t *testing.T) {
	schema := loadSchema(t)
	valid := map[string]string{
		"local backend": `mutation { provisionRuntime(config: {runtimeInput: {name: "dev"}, clusterConfig: {localConfig: {workload: "demo-logger", logInterval: "2s"}}}) { id stage startedAt updatedAt } }`,
		"operations":    `{ runtimeOperations(runtimeID: "rt") { id operation state stage startedAt updatedAt lastError { reason } } }`,
		"local status":  `{ runtimeStatus(id: "rt") { runtimeConfiguration { backend localConfig { workload logInterval } clusterConfig { name } } hibernationStatus { hibernated hibernationPossible } runtimeConnectionStatus { status errors { message } } } }`,
	}
	for name, doc := range valid {
		t.Run(name, func(t *testing.T) { validate(t, schema, doc) })
	}
	refused := map[string]string{
		"kyma installation": `mutation { provisionRuntime(config: {runtimeInput: {name: "x"}, clusterConfig: {localConfig: {}}, kymaConfig: {version: "1.24"}}) { id } }`,
		"upgradeRuntime":    `mutation { upgradeRuntime(id: "rt", config: {}) { id } }`,
		"rollback":          `mutation { rollBackUpgradeOperation(id: "rt") { hibernationStatus { hibernated } } }`,
	}
	for name, doc := range refused {
		t.Run(name, func(t *testing.T) {
			if _, errs := gqlparser.LoadQuery(schema, doc); len(errs) == 0 {
				t.Error("validates, but the schema should not offer it")
			}
		})
	}
	for typ, values := range map[string][]string{
		"OperationType":  {"Provision", "ProvisionNoInstall", "Upgrade", "UpgradeShoot", "Deprovision", "DeprovisionNoInstall", "ReconnectRuntime", "Hibernate"},
		"OperationState": {"Pending", "InProgress", "Succeeded", "Failed"},
	} {
		def := schema.Types[typ]
		if def == nil || len(def.EnumValues) != len(values) {
			t.Fatalf("%s: %v, want %v", typ, def, values)
		}
		for i, v := range values {
			if def.EnumValues[i].Name != v {
				t.Errorf("%s value %d is %s, want %s", typ, i, def.EnumValues[i].Name, v)
			}
		}
	}
}
