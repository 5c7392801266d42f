package label_test

import (
	"context"
	"fmt"
	"os"
	"strings"
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

func TestDefinitionsScenariosCreateAndDefault(t *testing.T) {
	withDefault := `{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","enum":["DEFAULT","prod"]}}`
	withoutDefault := `{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","enum":["prod"]}}`
	tests := []struct {
		name    string
		prepare func(*testing.T, *label.Definitions, context.Context)
		op      func(*label.Definitions, context.Context, model.LabelDefinitionInput) (*model.LabelDefinition, error)
		schema  *string
		want    apperr.Code
	}{
		{name: "first create in a new tenant", op: (*label.Definitions).Create, schema: &withDefault},
		{name: "first create after the default was made on first use", op: (*label.Definitions).Create, schema: &withDefault,
			prepare: func(t *testing.T, d *label.Definitions, ctx context.Context) {
				if err := d.Validate(ctx, map[string]any{"scenarios": []any{"DEFAULT"}}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "second explicit create", op: (*label.Definitions).Create, schema: &withDefault, want: apperr.CodeAlreadyExists,
			prepare: func(t *testing.T, d *label.Definitions, ctx context.Context) {
				if _, err := d.Create(ctx, model.LabelDefinitionInput{Key: "scenarios", Schema: &withDefault}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "create without DEFAULT", op: (*label.Definitions).Create, schema: &withoutDefault, want: apperr.CodeInvalidInput},
		{name: "create without a schema", op: (*label.Definitions).Create, want: apperr.CodeInvalidInput},
		{name: "update keeping DEFAULT", op: (*label.Definitions).Update, schema: &withDefault},
		{name: "update without DEFAULT", op: (*label.Definitions).Update, schema: &withoutDefault, want: apperr.CodeInvalidInput},
		{name: "update without a schema", op: (*label.Definitions).Update, want: apperr.CodeInvalidInput},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs := label.NewDefinitions(directortest.Registry())
			ctx := directortest.Tenant(fmt.Sprintf("scenarios-%d", i))
			if tt.prepare != nil {
				tt.prepare(t, defs, ctx)
			}
			got, err := tt.op(defs, ctx, model.LabelDefinitionInput{Key: "scenarios", Schema: tt.schema})
			if tt.want != "" {
				if apperr.CodeOf(err) != tt.want {
					t.Fatalf("want %s, got %v", tt.want, err)
				}
				if tt.want == apperr.CodeInvalidInput && !strings.Contains(err.Error(), "DEFAULT") {
					t.Fatalf("message does not say DEFAULT is needed: %v", err)
				}
				return
			}
			if err != nil || got.Schema == nil || *got.Schema != *tt.schema {
				t.Fatalf("got %+v, %v", got, err)
			}
			if stored, err := defs.Get(ctx, "scenarios"); err != nil || *stored.Schema != *tt.schema {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			// Applications registered without scenarios still get DEFAULT.
			if err := defs.Validate(ctx, map[string]any{"scenarios": []any{"DEFAULT"}}); err != nil {
				t.Fatalf("DEFAULT refused afterwards: %v", err)
			}
		})
	}
}

func TestDefinitionsErrorsNameNoServerPath(t *testing.T) {
	defs := label.NewDefinitions(directortest.Registry())
	ctx := directortest.Tenant("t1")
	schema := `{"type":"object","required":["foo"],"properties":{"foo":{"type":"string","pattern":"^a"}}}`
	if _, err := defs.Create(ctx, model.LabelDefinitionInput{Key: "foo", Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	check := func(what string, err error, want ...string) {
		t.Helper()
		if apperr.CodeOf(err) != apperr.CodeInvalidInput {
			t.Fatalf("%s: want INVALID_INPUT, got %v", what, err)
		}
		msg := err.Error()
		for _, bad := range []string{"file:", wd, "label.json", "mem:"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: message carries %q: %s", what, bad, msg)
			}
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message lacks %q: %s", what, w, msg)
			}
		}
	}
	check("label of wrong type", defs.Validate(ctx, map[string]any{"foo": map[string]any{"foo": 1.0}}), `"foo"`, "/foo", "want string")
	check("label not matching", defs.Validate(ctx, map[string]any{"foo": map[string]any{"foo": "b"}}), `"foo"`, "does not match pattern")
	for _, bad := range []string{`{"type": 5}`, `{"pattern":"("}`, `{"$ref":"other.json"}`, `{"$ref":"file:///etc/passwd"}`} {
		_, err := defs.Create(ctx, model.LabelDefinitionInput{Key: "x", Schema: &bad})
		check("schema "+bad, err)
	}
}
