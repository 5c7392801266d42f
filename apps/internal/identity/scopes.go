package identity

import "slices"

// Scopes a caller may hold, in the spirit of Compass's @hasScopes. Each operation of the Director, the
// Governor and the Connector requires one of them; the gateway puts the caller's scopes on the request.
const (
	ScopeApplicationRead          = "application:read"
	ScopeApplicationWrite         = "application:write"
	ScopeRuntimeRead              = "runtime:read"
	ScopeRuntimeWrite             = "runtime:write"
	ScopeLabelDefinitionRead      = "label_definition:read"
	ScopeLabelDefinitionWrite     = "label_definition:write"
	ScopeIntegrationSystemRead    = "integration_system:read"
	ScopeIntegrationSystemWrite   = "integration_system:write"
	ScopeApplicationTemplateRead  = "application_template:read"
	ScopeApplicationTemplateWrite = "application_template:write"
	ScopeTenantRead               = "tenant:read"
	ScopeHealthChecksRead         = "health_checks:read"
	ScopeEventingManage           = "eventing:manage"
	ScopeConfigurationRead        = "configuration:read"
	ScopeConfigurationWrite       = "configuration:write"
)

// AllScopes lists every scope, for development tokens.
var AllScopes = []string{
	ScopeApplicationRead, ScopeApplicationWrite, ScopeRuntimeRead, ScopeRuntimeWrite,
	ScopeLabelDefinitionRead, ScopeLabelDefinitionWrite, ScopeIntegrationSystemRead, ScopeIntegrationSystemWrite,
	ScopeApplicationTemplateRead, ScopeApplicationTemplateWrite, ScopeTenantRead, ScopeHealthChecksRead,
	ScopeEventingManage, ScopeConfigurationRead, ScopeConfigurationWrite,
}

// HasScope reports whether the identity holds scope.
func (id Identity) HasScope(scope string) bool { return slices.Contains(id.Scopes, scope) }
