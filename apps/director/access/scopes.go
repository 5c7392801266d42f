// Package access decides what a caller may do in the Director: the scope each root operation needs, and
// what applications and runtimes (callers with a Connector certificate) may see.
package access

import (
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

const anyCaller = gqlserver.AnyCaller

// scopeOf is the scope each root field requires. A root field missing here is refused: new operations
// must be given a scope before anyone can call them.
var scopeOf = map[string]string{
	// queries
	"applications": identity.ScopeApplicationRead, "application": identity.ScopeApplicationRead,
	"applicationByName":      identity.ScopeApplicationRead,
	"applicationsForRuntime": identity.ScopeApplicationRead, "bundleByInstanceAuth": identity.ScopeApplicationRead,
	"bundleInstanceAuth": identity.ScopeApplicationRead, "bundleInstanceAuthsByCondition": identity.ScopeApplicationRead,
	"runtimes": identity.ScopeRuntimeRead, "runtime": identity.ScopeRuntimeRead,
	"runtimeContexts": identity.ScopeRuntimeRead, "runtimeContext": identity.ScopeRuntimeRead,
	"labelDefinitions": identity.ScopeLabelDefinitionRead, "labelDefinition": identity.ScopeLabelDefinitionRead,
	"automaticScenarioAssignmentForScenario":  identity.ScopeLabelDefinitionRead,
	"automaticScenarioAssignmentsForSelector": identity.ScopeLabelDefinitionRead,
	"automaticScenarioAssignments":            identity.ScopeLabelDefinitionRead,
	"integrationSystems":                      identity.ScopeIntegrationSystemRead, "integrationSystem": identity.ScopeIntegrationSystemRead,
	"applicationTemplates": identity.ScopeApplicationTemplateRead, "applicationTemplate": identity.ScopeApplicationTemplateRead,
	"tenants": identity.ScopeTenantRead, "healthChecks": identity.ScopeHealthChecksRead,
	"viewer": anyCaller,

	// mutations on applications and what they own
	"registerApplication": identity.ScopeApplicationWrite, "updateApplication": identity.ScopeApplicationWrite,
	"unregisterApplication": identity.ScopeApplicationWrite, "setApplicationLabel": identity.ScopeApplicationWrite,
	"deleteApplicationLabel": identity.ScopeApplicationWrite, "addWebhook": identity.ScopeApplicationWrite,
	"updateWebhook": identity.ScopeApplicationWrite, "deleteWebhook": identity.ScopeApplicationWrite,
	"addBundle": identity.ScopeApplicationWrite, "updateBundle": identity.ScopeApplicationWrite,
	"deleteBundle": identity.ScopeApplicationWrite, "addAPIDefinitionToBundle": identity.ScopeApplicationWrite,
	"updateAPIDefinition": identity.ScopeApplicationWrite, "deleteAPIDefinition": identity.ScopeApplicationWrite,
	"refetchAPISpec": identity.ScopeApplicationWrite, "addEventDefinitionToBundle": identity.ScopeApplicationWrite,
	"updateEventDefinition": identity.ScopeApplicationWrite, "deleteEventDefinition": identity.ScopeApplicationWrite,
	"refetchEventDefinitionSpec": identity.ScopeApplicationWrite, "addDocumentToBundle": identity.ScopeApplicationWrite,
	"deleteDocument": identity.ScopeApplicationWrite, "setBundleInstanceAuth": identity.ScopeApplicationWrite,
	"deleteBundleInstanceAuth": identity.ScopeApplicationWrite, "requestOneTimeTokenForApplication": identity.ScopeApplicationWrite,
	"requestClientCredentialsForApplication": identity.ScopeApplicationWrite, "deleteSystemAuthForApplication": identity.ScopeApplicationWrite,
	// a runtime asks an application for credentials
	"requestBundleInstanceAuthCreation": identity.ScopeRuntimeWrite, "requestBundleInstanceAuthDeletion": identity.ScopeRuntimeWrite,

	// mutations on runtimes
	"registerRuntime": identity.ScopeRuntimeWrite, "updateRuntime": identity.ScopeRuntimeWrite,
	"unregisterRuntime": identity.ScopeRuntimeWrite, "setRuntimeLabel": identity.ScopeRuntimeWrite,
	"deleteRuntimeLabel": identity.ScopeRuntimeWrite, "requestOneTimeTokenForRuntime": identity.ScopeRuntimeWrite,
	"requestClientCredentialsForRuntime": identity.ScopeRuntimeWrite, "deleteSystemAuthForRuntime": identity.ScopeRuntimeWrite,
	"registerRuntimeContext": identity.ScopeRuntimeWrite, "updateRuntimeContext": identity.ScopeRuntimeWrite,
	"unregisterRuntimeContext": identity.ScopeRuntimeWrite, "heartbeat": identity.ScopeRuntimeWrite,

	// labels, scenarios, integration systems, templates, eventing
	"createLabelDefinition": identity.ScopeLabelDefinitionWrite, "updateLabelDefinition": identity.ScopeLabelDefinitionWrite,
	"deleteLabelDefinition": identity.ScopeLabelDefinitionWrite, "createAutomaticScenarioAssignment": identity.ScopeLabelDefinitionWrite,
	"deleteAutomaticScenarioAssignmentForScenario":  identity.ScopeLabelDefinitionWrite,
	"deleteAutomaticScenarioAssignmentsForSelector": identity.ScopeLabelDefinitionWrite,
	"registerIntegrationSystem":                     identity.ScopeIntegrationSystemWrite, "updateIntegrationSystem": identity.ScopeIntegrationSystemWrite,
	"unregisterIntegrationSystem": identity.ScopeIntegrationSystemWrite, "requestClientCredentialsForIntegrationSystem": identity.ScopeIntegrationSystemWrite,
	"deleteSystemAuthForIntegrationSystem": identity.ScopeIntegrationSystemWrite,
	"createApplicationTemplate":            identity.ScopeApplicationTemplateWrite, "updateApplicationTemplate": identity.ScopeApplicationTemplateWrite,
	"deleteApplicationTemplate": identity.ScopeApplicationTemplateWrite, "registerApplicationFromTemplate": identity.ScopeApplicationTemplateWrite,
	"setDefaultEventingForApplication": identity.ScopeEventingManage, "deleteDefaultEventingForApplication": identity.ScopeEventingManage,
}

// Rules are the Director's rules for gqlserver.Access: the scope of each root field, and the only root
// fields applications and runtimes may use.
var Rules = gqlserver.Access{Scopes: scopeOf, Consumers: allowedFor}
