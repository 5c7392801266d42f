package graph

import (
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// scopeOf is the scope each root field requires. A root field missing here is refused, so a new
// operation cannot be called before it is given a scope.
var scopeOf = map[string]string{
	"configurations":               identity.ScopeConfigurationRead,
	"configuration":                identity.ScopeConfigurationRead,
	"configurationRevisions":       identity.ScopeConfigurationRead,
	"runtimeConfiguration":         identity.ScopeConfigurationRead,
	"runtimeConfigurationStatus":   identity.ScopeConfigurationRead,
	"runtimeConfigurationState":    identity.ScopeConfigurationRead,
	"runtimeConfigurationStatuses": identity.ScopeConfigurationRead,
	"bindingTypes":                 identity.ScopeConfigurationRead,
	"rollout":                      identity.ScopeConfigurationRead,
	"pauseRollout":                 identity.ScopeConfigurationWrite,
	"resumeRollout":                identity.ScopeConfigurationWrite,
	"promoteRollout":               identity.ScopeConfigurationWrite,
	"abortRollout":                 identity.ScopeConfigurationWrite,
	"createConfiguration":          identity.ScopeConfigurationWrite,
	"updateConfiguration":          identity.ScopeConfigurationWrite,
	"deleteConfiguration":          identity.ScopeConfigurationWrite,
	"rollbackConfiguration":        identity.ScopeConfigurationWrite,
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

// access is the Governor's table for gqlserver.Access.
var access = gqlserver.Access{Scopes: scopeOf, Consumers: allowedFor}
