package graph

import (
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// scopeOf is the scope each root field requires. A root field missing here is refused, so a new
// operation cannot be called before it is given a scope.
var scopeOf = map[string]string{
	"runtimeStatus":          identity.ScopeRuntimeRead,
	"runtimeOperationStatus": identity.ScopeRuntimeRead,
	"runtimeOperations":      identity.ScopeRuntimeRead,
	"provisionRuntime":       identity.ScopeRuntimeWrite,
	"upgradeShoot":           identity.ScopeRuntimeWrite,
	"deprovisionRuntime":     identity.ScopeRuntimeWrite,
	"hibernateRuntime":       identity.ScopeRuntimeWrite,
	"reconnectRuntimeAgent":  identity.ScopeRuntimeWrite,
}

// allowedFor shuts applications and runtimes (callers with Connector credentials) out, whatever their
// scopes: a runtime holds runtime:write to report about itself to the Director, not to provision or
// remove runtimes. Users and integration systems go by their scopes.
var allowedFor = map[string][]string{
	identity.ConsumerRuntime:     {},
	identity.ConsumerApplication: {},
}

// access is the Provisioner's table for gqlserver.Access.
var access = gqlserver.Access{Scopes: scopeOf, Consumers: allowedFor}
