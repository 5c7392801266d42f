package director

import (
	"path/filepath"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/schematest"
)

// Every document the broker sends validates against the Director's schema — also those for the pages
// after the first, which the end-to-end catalog (under 200 bundles and definitions) never needs.
func TestQueriesValidateAgainstTheDirectorSchema(t *testing.T) {
	schema := schematest.Load(t, filepath.Join("..", "..", "director", "graph", "schema", "*.graphqls"))
	for name, q := range map[string]string{
		"applications": applicationsQuery, "bundles": bundlesQuery, "definitions": definitionsQuery,
		"bundle": bundleQuery, "request": requestAuthMutation, "instance auth": instanceAuthQuery,
		"delete": deleteAuthMutation, "specification": specQuery,
	} {
		schematest.Validate(t, schema, name, q)
	}
}
