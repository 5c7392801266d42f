package label_test

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestDefinitionsValidateLabels(t *testing.T) {
	defs := label.NewDefinitions(directortest.Registry())
	ctx := directortest.Tenant("t1")
	schema := `{"type":"object","required":["foo"],"properties":{"foo":{"type":"string"}}}`
	if _, err := defs.Create(ctx, model.LabelDefinitionInput{Key: "foo", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	if err := defs.Validate(ctx, map[string]any{"foo": map[string]any{"foo": "x"}}); err != nil {
		t.Fatalf("valid label refused: %v", err)
	}
	if err := defs.Validate(ctx, map[string]any{"foo": map[string]any{"bar": "x"}}); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("label violating the schema: %v", err)
	}
	// Scenarios start with DEFAULT only.
	if err := defs.Validate(ctx, map[string]any{"scenarios": []any{"DEFAULT"}}); err != nil {
		t.Fatalf("DEFAULT refused: %v", err)
	}
	if err := defs.Validate(ctx, map[string]any{"scenarios": []any{"unknown"}}); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("undefined scenario accepted: %v", err)
	}
	// A key used for the first time gets a definition without a schema.
	if err := defs.Validate(ctx, map[string]any{"free": 1.0}); err != nil {
		t.Fatal(err)
	}
	if d, err := defs.Get(ctx, "free"); err != nil || d.Schema != nil {
		t.Fatalf("definition on first use: %+v %v", d, err)
	}
	// Definitions are per tenant.
	if _, err := defs.Get(directortest.Tenant("t2"), "foo"); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("t2 sees t1's definition: %v", err)
	}
	bad := `{"type": 5}`
	if _, err := defs.Create(ctx, model.LabelDefinitionInput{Key: "x", Schema: &bad}); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("invalid schema accepted: %v", err)
	}
}
