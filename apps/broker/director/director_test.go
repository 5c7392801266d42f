package director

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Every document the broker sends validates against the Director's schema — also those for the pages
// after the first, which the end-to-end catalog (under 200 bundles and definitions) never needs.
func TestQueriesValidateAgainstTheDirectorSchema(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "director", "graph", "schema", "*.graphqls"))
	if err != nil || len(files) == 0 {
		t.Fatalf("the Director's schema: %v", err)
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
		t.Fatal(gerr)
	}
	for name, q := range map[string]string{
		"applications": applicationsQuery, "bundles": bundlesQuery, "definitions": definitionsQuery,
		"bundle": bundleQuery, "request": requestAuthMutation, "instance auth": instanceAuthQuery,
		"delete": deleteAuthMutation, "specification": specQuery,
	} {
		if _, errs := gqlparser.LoadQuery(schema, q); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
}
