// Package schematest loads an app's checked-in GraphQL schema for tests that hold a client's documents
// against it: the contract between two apps, checked without importing the server's code.
package schematest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Load parses every file the glob matches (an app's schema/*.graphqls, relative to the test's package)
// into one schema, failing the test when there is none or it does not parse.
func Load(t testing.TB, glob string) *ast.Schema {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files match %s: %v", glob, err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatalf("schema %s: %v", glob, gerr)
	}
	return schema
}

// Validate fails the test for each error of the document against the schema.
func Validate(t testing.TB, schema *ast.Schema, name, document string) {
	t.Helper()
	if _, errs := gqlparser.LoadQuery(schema, document); len(errs) > 0 {
		t.Errorf("%s: %v", name, errs)
	}
}
