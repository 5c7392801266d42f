package identity

// Kinds of caller (Identity.ConsumerType).
const (
	ConsumerUser              = "USER"
	ConsumerApplication       = "APPLICATION"
	ConsumerRuntime           = "RUNTIME"
	ConsumerIntegrationSystem = "INTEGRATION_SYSTEM"
	// ConsumerService is an app of the plane acting for itself (the gateway asking the Connector whether
	// a certificate was revoked); it has no tenant and no scopes.
	ConsumerService = "SERVICE"
)

// consumerScopes are what applications, runtimes and integration systems may do when they authenticate with
// credentials the Connector issued them (a client certificate or client credentials). The Director narrows
// applications and runtimes further to their own objects (apps/director/access); an integration system
// works across the tenant its credentials were created in, as in Compass.
var consumerScopes = map[string][]string{
	ConsumerRuntime: {ScopeApplicationRead, ScopeRuntimeRead, ScopeRuntimeWrite,
		ScopeConfigurationRead, ScopeConfigurationWrite},
	ConsumerApplication: {ScopeApplicationRead, ScopeApplicationWrite},
	ConsumerIntegrationSystem: {ScopeApplicationRead, ScopeApplicationWrite, ScopeApplicationTemplateRead,
		ScopeApplicationTemplateWrite, ScopeRuntimeRead, ScopeLabelDefinitionRead, ScopeIntegrationSystemRead,
		ScopeHealthChecksRead},
}

// ConsumerScopes returns the scopes of a consumer type that authenticates with Connector-issued
// credentials, and false for any other type.
func ConsumerScopes(consumerType string) ([]string, bool) {
	s, ok := consumerScopes[consumerType]
	return append([]string(nil), s...), ok
}
