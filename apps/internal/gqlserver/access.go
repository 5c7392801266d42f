package gqlserver

import (
	"context"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// AnyCaller marks root fields open to every authenticated caller.
const AnyCaller = ""

// Access is an app's table of who may call which root field.
type Access struct {
	// Scopes is the scope each root field requires. A root field missing here is refused, so that a new
	// operation cannot be called before it is given a scope.
	Scopes map[string]string
	// Consumers lists, per consumer type (applications and runtimes, who hold Connector certificates), the
	// only root fields it may use whatever its scopes: they act for themselves, never administer the tenant.
	Consumers map[string][]string
}

// Refusal is the FORBIDDEN error of Enforce: the caller lacks the root field's scope, or is of a consumer
// type the field is not open to. Apps that present such refusals apart from other FORBIDDEN errors (the
// Director, as Compass's "insufficient scopes provided") find it with errors.As.
type Refusal struct {
	Field string
	err   error
}

func (r *Refusal) Error() string { return r.err.Error() }
func (r *Refusal) Unwrap() error { return r.err }

func refuse(field, format string, args ...any) error {
	return &Refusal{Field: field, err: apperr.New(apperr.CodeForbidden, format, args...)}
}

// Enforce is a gqlgen root-field middleware: a caller without the operation's scope gets a FORBIDDEN error
// (a *Refusal) for that field, and its resolver does not run, so nothing changes.
func (a Access) Enforce(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc == nil || strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	id, _ := identity.FromContext(ctx)
	if err := a.Allows(id, fc.Field.Name); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
}

// Allows returns nil when caller id may use the root field, and its *Refusal otherwise; for edges other
// than GraphQL that serve one of its operations (the Director's heartbeat batches).
func (a Access) Allows(id identity.Identity, field string) error {
	scope, known := a.Scopes[field]
	allowed, restricted := a.Consumers[id.ConsumerType]
	switch {
	case !known:
		return refuse(field, "%s is not open to any caller", field)
	case restricted && !slices.Contains(allowed, field):
		return refuse(field, "%s is not open to %s callers", field, id.ConsumerType)
	case scope != AnyCaller && !id.HasScope(scope):
		return refuse(field, "%s requires the scope %s", field, scope)
	}
	return nil
}
