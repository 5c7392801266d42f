package graph

import (
	"context"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// scopeOf is the scope each root field requires. A root field missing here is refused, so a new
// operation cannot be called before it is given a scope.
var scopeOf = map[string]string{
	"configurations":             identity.ScopeConfigurationRead,
	"configuration":              identity.ScopeConfigurationRead,
	"configurationRevisions":     identity.ScopeConfigurationRead,
	"runtimeConfiguration":       identity.ScopeConfigurationRead,
	"runtimeConfigurationStatus": identity.ScopeConfigurationRead,
	"bindingTypes":               identity.ScopeConfigurationRead,
	"createConfiguration":        identity.ScopeConfigurationWrite,
	"updateConfiguration":        identity.ScopeConfigurationWrite,
	"deleteConfiguration":        identity.ScopeConfigurationWrite,
	"rollbackConfiguration":      identity.ScopeConfigurationWrite,
	// The agent reporting about its runtime, like the Director's heartbeat.
	"reportConfigurationStatus": identity.ScopeRuntimeWrite,
}

// allowedFor lists the root fields runtimes and applications (callers with a Connector certificate) may
// use, whatever their scopes: a runtime reads and reports about its own configuration only (the service
// checks it is its own); applications have no business here.
var allowedFor = map[string][]string{
	identity.ConsumerRuntime:     {"runtimeConfiguration", "runtimeConfigurationStatus", "reportConfigurationStatus", "bindingTypes"},
	identity.ConsumerApplication: {},
}

// EnforceScopes is a gqlgen root-field middleware: a caller without the operation's scope gets a FORBIDDEN
// error for that field, and its resolver does not run, so nothing changes.
func EnforceScopes(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc == nil || strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	id, _ := identity.FromContext(ctx)
	scope, known := scopeOf[fc.Field.Name]
	allowed, restricted := allowedFor[id.ConsumerType]
	switch {
	case !known:
		graphql.AddError(ctx, apperr.New(apperr.CodeForbidden, "%s is not open to any caller", fc.Field.Name))
		return graphql.Null
	case restricted && !slices.Contains(allowed, fc.Field.Name):
		graphql.AddError(ctx, apperr.New(apperr.CodeForbidden, "%s is not open to %s callers", fc.Field.Name, id.ConsumerType))
		return graphql.Null
	case !id.HasScope(scope):
		graphql.AddError(ctx, apperr.New(apperr.CodeForbidden, "%s requires the scope %s", fc.Field.Name, scope))
		return graphql.Null
	}
	return next(ctx)
}
