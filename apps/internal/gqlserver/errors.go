package gqlserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// ErrorPresenter returns the function that turns resolver errors into GraphQL errors: coded errors keep
// their message and put their code in extensions.code; an argument value gqlgen could not turn into its Go
// type is INVALID_INPUT, named by its path; anything else is logged once here and reaches the client as
// INTERNAL with an error id to look it up by.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var already *gqlerror.Error
		if errors.As(err, &already) && already.Extensions["code"] != nil {
			return gerr
		}
		if arg, ok := argumentPath(ctx, gerr); ok {
			return presentBadArgument(ctx, gerr, arg)
		}
		if msg, ok := apperr.Public(err); ok {
			gerr.Message = msg
			gerr.Extensions = map[string]any{"code": string(apperr.CodeOf(err))}
			return gerr
		}
		if already != nil && already.Err == nil {
			// Parse and validation errors from gqlgen itself.
			if gerr.Extensions == nil {
				gerr.Extensions = map[string]any{}
			}
			if gerr.Extensions["code"] == nil {
				gerr.Extensions["code"] = string(apperr.CodeInvalidInput)
			}
			return gerr
		}
		id := uuid.NewString()
		log.ErrorContext(ctx, "resolver failed", "error_id", id, "path", gerr.Path, "err", err)
		gerr.Message = "internal error, id " + id
		gerr.Extensions = map[string]any{"code": string(apperr.CodeInternal), "errorId": id}
		return gerr
	}
}

// ExtendErrors is ErrorPresenter followed by extend, for an app whose clients read more from an error than
// our extensions.code: extend gets a copy of the presented error (with an extensions map) to change.
func ExtendErrors(log *slog.Logger, extend func(ctx context.Context, err error, out *gqlerror.Error)) graphql.ErrorPresenterFunc {
	present := ErrorPresenter(log)
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := present(ctx, err)
		// The presenter may hand back the error it was given: change a copy.
		out := *gerr
		out.Extensions = maps.Clone(gerr.Extensions)
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		extend(ctx, err, &out)
		return &out
	}
}

// Bad argument values. gqlparser checks variables and literals against the built-in scalars and enums
// before anything runs, but takes any value for a custom scalar; gqlgen then turns each argument into its
// Go type while it resolves the field, and a custom scalar's unmarshaler may refuse the value (an object
// given for a JSON scalar that is a string, say). gqlgen reports that refusal on the argument's path, below
// the path of the field being resolved, with the unmarshaler's error inside; a resolver's own error sits on
// the field's path. The resolver has not run, so nothing changed: the caller sent bad input.

// argumentPath returns the part of gerr's path below the field being resolved in ctx: the argument (and
// the input fields and list positions within it) gqlgen could not unmarshal. ok is false for any other
// error.
func argumentPath(ctx context.Context, gerr *gqlerror.Error) (ast.Path, bool) {
	if gerr == nil || gerr.Err == nil {
		return nil, false
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil {
		return nil, false
	}
	field := fc.Path()
	if len(gerr.Path) <= len(field) {
		return nil, false
	}
	for i, el := range field {
		if gerr.Path[i] != el {
			return nil, false
		}
	}
	arg := gerr.Path[len(field):]
	if name, ok := arg[0].(ast.PathName); !ok || fc.Field.Definition.Arguments.ForName(string(name)) == nil {
		return nil, false
	}
	return arg, true
}

// presentBadArgument presents gqlgen's refusal of argument arg as INVALID_INPUT (or the code of an apperr
// the unmarshaler returned) with a message naming the argument, what it must be and what it was:
// "in.context: expected a string, got an object".
func presentBadArgument(ctx context.Context, gerr *gqlerror.Error, arg ast.Path) *gqlerror.Error {
	out := *gerr
	code := apperr.CodeInvalidInput
	detail, public := apperr.Public(gerr.Err)
	if public {
		code = apperr.CodeOf(gerr.Err)
	} else {
		got, found := argumentValue(ctx, arg)
		detail = describeRefusal(gerr.Err.Error(), got, found)
	}
	out.Message = fmt.Sprintf("%s: %s", argumentName(arg), detail)
	out.Extensions = map[string]any{"code": string(code)}
	return &out
}

// argumentName writes an argument path as a caller writes it: in.apiDefinitions[0].spec.
func argumentName(arg ast.Path) string {
	var b strings.Builder
	for _, el := range arg {
		switch e := el.(type) {
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(e))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(e))
		}
	}
	return b.String()
}

// notA matches the refusals of gqlgen's own unmarshalers (graphql.UnmarshalString and its kin):
// "map[string]interface {} is not a string", "bool is not an int64".
var notA = regexp.MustCompile(`is not an? (\w+)$`)

// expected names, in the caller's terms, what gqlgen's unmarshalers wanted.
var expected = map[string]string{
	"string": "a string", "bool": "a boolean", "map": "an object", "float": "a number", "float64": "a number",
	"int": "an integer", "int8": "an integer", "int16": "an integer", "int32": "an integer", "int64": "an integer",
	"uint": "an integer", "uint8": "an integer", "uint16": "an integer", "uint32": "an integer", "uint64": "an integer",
	"uuid": "a UUID", "Upload": "a file upload",
}

// describeRefusal says what an unmarshaler wanted and what it got. gqlgen's own refusals name Go types
// ("map[string]interface {} is not a string"), which say little to a caller, so they are rewritten in
// GraphQL's terms; other unmarshalers' messages are kept.
func describeRefusal(msg string, got any, found bool) string {
	m := notA.FindStringSubmatch(msg)
	if m == nil || expected[m[1]] == "" {
		return msg
	}
	if !found {
		return "expected " + expected[m[1]]
	}
	return "expected " + expected[m[1]] + ", got " + kindOf(got)
}

// argumentValue finds the value the caller gave at arg, from the field's arguments and the operation's
// variables. found is false when it cannot be followed.
func argumentValue(ctx context.Context, arg ast.Path) (v any, found bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return nil, false
	}
	v = fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	for _, el := range arg {
		switch e := el.(type) {
		case ast.PathName:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[string(e)]; !ok {
				return nil, false
			}
		case ast.PathIndex:
			l, ok := v.([]any)
			if !ok || int(e) < 0 || int(e) >= len(l) {
				return nil, false
			}
			v = l[e]
		}
	}
	return v, true
}

// kindOf names the kind of a JSON or GraphQL value as a caller knows it.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, float32, int, int32, int64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
