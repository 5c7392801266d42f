package graph

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// compassClass is one of Compass's error classes (its apperrors.ErrorType): the number and name its
// clients read from extensions.error_code and extensions.error, and the words its messages begin with.
type compassClass struct {
	code    int
	name    string
	message string
}

var (
	classInternal           = compassClass{10, "InternalError", "Internal Server Error"}
	classNotFound           = compassClass{20, "NotFound", "Object not found"}
	classNotUnique          = compassClass{21, "NotUnique", "Object is not unique"}
	classInvalidData        = compassClass{22, "InvalidData", "Invalid data"}
	classInsufficientScopes = compassClass{23, "InsufficientScopes", "insufficient scopes provided"}
	classTenantRequired     = compassClass{24, "TenantRequired", "Tenant is required"}
	classTenantNotFound     = compassClass{25, "TenantNotFound", "Tenant not found"}
	classUnauthorized       = compassClass{26, "Unauthorized", "Unauthorized"}
	classInvalidOperation   = compassClass{27, "InvalidOperation", "The operation is not allowed"}
	classNotUniqueName      = compassClass{31, "NotUniqueName", "Object name is not unique"}
)

// The extensions Compass's clients read, next to our extensions.code.
const (
	extErrorCode = "error_code"
	extError     = "error"
)

// PresentError is gqlserver's presenter (message, extensions.code, the error id of internal errors) made
// to answer as Compass's Director did: extensions.error_code and extensions.error carry the Compass class
// of the error, and the message begins with that class's words, our detail after them
// ("Object not found: application \"x\""). Internal errors read "Internal Server Error [errorID=<id>]".
func PresentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return gqlserver.ExtendErrors(log, func(ctx context.Context, err error, out *gqlerror.Error) {
		code, _ := out.Extensions["code"].(string)
		class := classify(ctx, err, code)
		out.Extensions[extErrorCode] = class.code
		out.Extensions[extError] = class.name
		if id, ok := out.Extensions["errorId"].(string); ok && code == string(apperr.CodeInternal) {
			out.Message = classInternal.message + " [errorID=" + id + "]"
		} else if !strings.HasPrefix(out.Message, class.message) {
			out.Message = class.message + ": " + out.Message
		}
	})
}

// classify returns the Compass class of err, presented with our code.
func classify(ctx context.Context, err error, code string) compassClass {
	switch apperr.Code(code) {
	case apperr.CodeInternal, apperr.CodeUnavailable:
		return classInternal
	case apperr.CodeNotFound:
		return classNotFound
	case apperr.CodeAlreadyExists:
		var e *apperr.Error
		if errors.As(err, &e) && e.NameTaken {
			return classNotUniqueName
		}
		return classNotUnique
	case apperr.CodeForbidden:
		var refused *gqlserver.Refusal
		if errors.As(err, &refused) {
			return classInsufficientScopes
		}
		return classInvalidOperation
	case apperr.CodeConflict, apperr.CodeNotImplemented:
		return classInvalidOperation
	case apperr.CodeUnauthenticated:
		id, ok := identity.FromContext(ctx)
		if !ok {
			return classUnauthorized
		}
		switch identity.ValidateTenant(id.Tenant) {
		case identity.ErrNoTenant:
			return classTenantRequired
		case identity.ErrInvalidTenant:
			return classTenantNotFound
		}
		return classUnauthorized
	}
	// INVALID_INPUT, INVALID_LABEL_FILTER, and what gqlgen refuses itself: parse and validation errors,
	// the depth and complexity limits.
	return classInvalidData
}
