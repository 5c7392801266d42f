package gqlserver

import (
	"context"
	"errors"
	"log/slog"
	"maps"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// ErrorPresenter returns the function that turns resolver errors into GraphQL errors: coded errors keep
// their message and put their code in extensions.code; anything else is logged once here and reaches the
// client as INTERNAL with an error id to look it up by.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var already *gqlerror.Error
		if errors.As(err, &already) && already.Extensions["code"] != nil {
			return gerr
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
