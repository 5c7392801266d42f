package gqlserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// resolving returns the context gqlgen resolves field request(bundleID: ..., in: $in) in, with $in as
// given, and a function that fails as gqlgen's generated code does when it cannot unmarshal the argument
// value at path (graphql.ErrorOnPath under graphql.ProcessArgField).
func resolving(in any) (context.Context, func(err error, path ...any) error) {
	field := &ast.Field{
		Alias: "request", Name: "request",
		Arguments: ast.ArgumentList{{Name: "in", Value: &ast.Value{Kind: ast.Variable, Raw: "in"}}},
		Definition: &ast.FieldDefinition{Name: "request", Arguments: ast.ArgumentDefinitionList{
			{Name: "bundleID"}, {Name: "in"},
		}},
	}
	ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{Variables: map[string]any{"in": in}})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Mutation", Field: graphql.CollectedField{Field: field}})
	fail := func(err error, path ...any) error {
		at := ctx
		for _, el := range path {
			switch e := el.(type) {
			case string:
				at = graphql.WithPathContext(at, graphql.NewPathWithField(e))
			case int:
				at = graphql.WithPathContext(at, graphql.NewPathWithIndex(e))
			}
		}
		return graphql.ErrorOnPath(at, err)
	}
	return ctx, fail
}

// A value gqlgen cannot unmarshal into an argument's Go type (gqlparser takes any value for a custom
// scalar) is bad input, named by its path, not an internal error; errors of the resolver are as before.
func TestErrorPresenterBadArguments(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	in := map[string]any{
		"context": map[string]any{"a": "b"},
		"apis":    []any{map[string]any{"spec": map[string]any{"data": []any{"x"}}}},
		"headers": "X-A: b",
	}
	ctx, fail := resolving(in)
	for _, tc := range []struct {
		name    string
		err     error
		code    apperr.Code
		message string
		path    string
	}{
		{"object for a string scalar", fail(fmt.Errorf("%T is not a string", in["context"]), "in", "context"),
			apperr.CodeInvalidInput, "in.context: expected a string, got an object", "request.in.context"},
		{"list in a list", fail(fmt.Errorf("%T is not a string", []any{}), "in", "apis", 0, "spec", "data"),
			apperr.CodeInvalidInput, "in.apis[0].spec.data: expected a string, got a list", "request.in.apis[0].spec.data"},
		{"a custom unmarshaler's words are kept", fail(errors.New("want an object of string lists, got string"), "in", "headers"),
			apperr.CodeInvalidInput, "in.headers: want an object of string lists, got string", "request.in.headers"},
		{"a coded unmarshaler error keeps its code", fail(apperr.New(apperr.CodeInvalidLabelQuery, "bad query"), "in", "context"),
			apperr.CodeInvalidLabelQuery, "in.context: bad query", "request.in.context"},
		{"a path that cannot be followed still names the argument", fail(fmt.Errorf("%T is not a map", "x"), "in", "missing"),
			apperr.CodeInvalidInput, "in.missing: expected an object", "request.in.missing"},
		{"resolver's coded error", graphql.AddFieldLocationToError(ctx, apperr.Invalid("name: required")),
			apperr.CodeInvalidInput, "name: required", "request"},
		{"resolver's other error", graphql.AddFieldLocationToError(ctx, errors.New("map[string]interface {} is not a string")),
			apperr.CodeInternal, "internal error, id ", "request"},
		{"below the field but not an argument", fail(errors.New("disk on fire"), "data"),
			apperr.CodeInternal, "internal error, id ", "request.data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := present(ctx, tc.err)
			if got.Extensions["code"] != string(tc.code) || !strings.HasPrefix(got.Message, tc.message) || got.Path.String() != tc.path {
				t.Fatalf("got %q %v at %s, want %s %q at %s", got.Message, got.Extensions, got.Path, tc.code, tc.message, tc.path)
			}
			if tc.code == apperr.CodeInternal && got.Extensions["errorId"] == nil {
				t.Fatalf("internal error without an id: %v", got.Extensions)
			}
		})
	}

	// Outside any field (a failed request, say) nothing is mistaken for an argument.
	got := present(context.Background(), gqlerror.WrapPath(ast.Path{ast.PathName("in")}, errors.New("boom")))
	if got.Extensions["code"] != string(apperr.CodeInternal) {
		t.Fatalf("outside a field: %q %v", got.Message, got.Extensions)
	}
}

func TestDescribeRefusal(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		got   any
		found bool
		want  string
	}{
		{"map[string]interface {} is not a string", map[string]any{}, true, "expected a string, got an object"},
		{"string is not a map", "x", true, "expected an object, got a string"},
		{"bool is not an int64", true, true, "expected an integer, got a boolean"},
		{"[]interface {} is not an float", []any{}, true, "expected a number, got a list"},
		{"string is not a uuid", "x", false, "expected a UUID"},
		{"time should be RFC3339Nano formatted string", "yesterday", true, "time should be RFC3339Nano formatted string"},
		{"string is not a Widget", "x", true, "string is not a Widget"},
	} {
		if got := describeRefusal(tc.msg, tc.got, tc.found); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.want)
		}
	}
}
