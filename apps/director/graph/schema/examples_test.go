package schema_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// minExamples is the number of documents the Compass integration tests
// produced for the Director (Bundles era). Fewer means the examples
// directory is incomplete or the wrong one.
const minExamples = 70

// examplesEnv overrides where the Compass example documents are looked for.
const examplesEnv = "COMPASS_EXAMPLES_DIR"

// loadSchema parses every *.graphqls file of this package's directory into
// one schema. Tests run in the package directory, so "." is the schema dir.
func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()

	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatalf("reading schema directory: %v", err)
	}
	var sources []*ast.Source
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".graphqls" {
			continue
		}
		b, err := os.ReadFile(e.Name())
		if err != nil {
			t.Fatalf("reading %s: %v", e.Name(), err)
		}
		sources = append(sources, &ast.Source{Name: e.Name(), Input: string(b)})
	}
	if len(sources) == 0 {
		t.Fatal("no *.graphqls files found in the schema directory")
	}

	schema, gqlErr := gqlparser.LoadSchema(sources...)
	if gqlErr != nil {
		t.Fatalf("loading schema: %v", gqlErr)
	}
	return schema
}

// examplesDir returns the directory holding the Compass example documents
// and a description of where it was looked for.
func examplesDir(t *testing.T) (string, string) {
	t.Helper()

	if dir := os.Getenv(examplesEnv); dir != "" {
		return dir, examplesEnv + "=" + dir
	}

	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getting working directory: %v", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			candidate := filepath.Join(filepath.Dir(dir), "shared", "compass-examples", "director")
			return candidate, candidate + " (<repo root>/../shared/compass-examples/director)"
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod found above %s; set %s to the examples directory", wd, examplesEnv)
		}
		dir = parent
	}
}

// findExamples lists every *.graphql file under root, as paths relative to
// root, in a stable order.
func findExamples(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(path) == ".graphql" {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func TestSchemaLoads(t *testing.T) {
	schema := loadSchema(t)

	if schema.Query == nil || len(schema.Query.Fields) == 0 {
		t.Fatal("schema has no query fields")
	}
	if schema.Mutation == nil || len(schema.Mutation.Fields) == 0 {
		t.Fatal("schema has no mutation fields")
	}
	for _, name := range []string{"Application", "Runtime", "Bundle", "BundleInstanceAuth", "LabelFilter", "PageInfo"} {
		if schema.Types[name] == nil {
			t.Errorf("schema lacks type %s", name)
		}
	}
}

func TestCompassExamplesValidate(t *testing.T) {
	dir, where := examplesDir(t)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		t.Skipf("Compass example documents not found at %s: %v. "+
			"Set %s to the directory holding the Director *.graphql examples to run this test.",
			where, err, examplesEnv)
	}

	files, err := findExamples(dir)
	if err != nil {
		t.Fatalf("listing examples under %s: %v", dir, err)
	}
	if len(files) < minExamples {
		t.Fatalf("found %d example documents under %s, want at least %d", len(files), dir, minExamples)
	}
	t.Logf("validating %d example documents from %s", len(files), dir)

	schema := loadSchema(t)
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			_, errs := gqlparser.LoadQuery(schema, string(b))
			if len(errs) > 0 {
				msgs := make([]string, 0, len(errs))
				for _, e := range errs {
					msgs = append(msgs, e.Error())
				}
				t.Errorf("%s does not validate against the schema:\n  %s", rel, strings.Join(msgs, "\n  "))
			}
		})
	}
}
