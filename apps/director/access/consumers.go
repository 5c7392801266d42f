package access

import (
	"context"
	"slices"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// allowedFor lists the root fields applications and runtimes (callers with a Connector certificate) may
// use, whatever their scopes: they act for themselves only, never administer the tenant.
var allowedFor = map[string][]string{
	identity.ConsumerRuntime: {
		"viewer", "application", "applications", "applicationsForRuntime", "runtime", "runtimes", "heartbeat",
		"requestBundleInstanceAuthCreation", "requestBundleInstanceAuthDeletion", "bundleInstanceAuth", "bundleByInstanceAuth",
		// a runtime's own contexts (apps/director/runtimecontext); nobody else may use these
		"runtimeContexts", "runtimeContext", "registerRuntimeContext", "updateRuntimeContext", "unregisterRuntimeContext",
	},
	identity.ConsumerApplication: {
		"viewer", "application", "applications", "setBundleInstanceAuth", "deleteBundleInstanceAuth", "bundleInstanceAuth",
		// An application describes itself, as in Compass, where its certificate carried application:write and
		// webhook:write: the integration levels "application" and "proxy" (the application, or a proxy
		// holding its certificate, registers its own APIs and the webhook that answers credential requests).
		// Each of these reaches only the caller's own application (OwnApplication).
		"updateApplication", "addWebhook", "updateWebhook", "deleteWebhook",
		"addBundle", "updateBundle", "deleteBundle",
		"addAPIDefinitionToBundle", "updateAPIDefinition", "deleteAPIDefinition", "refetchAPISpec",
		"addEventDefinitionToBundle", "updateEventDefinition", "deleteEventDefinition", "refetchEventDefinitionSpec",
		"addDocumentToBundle", "deleteDocument",
	},
}

// Caller is the identity of the request in ctx.
func Caller(ctx context.Context) identity.Identity {
	id, _ := identity.FromContext(ctx)
	return id
}

// NotAllowed is the error of an application or runtime reaching for an object that is not its own: an
// application other than itself, an application sharing no scenario with the runtime, another runtime's
// instance auth. The message is Compass's.
func NotAllowed() error { return apperr.New(apperr.CodeForbidden, "The operation is not allowed") }

// IsConsumer reports whether the caller is an application or a runtime (acting for itself only).
func IsConsumer(ctx context.Context) bool {
	t := Caller(ctx).ConsumerType
	return t == identity.ConsumerApplication || t == identity.ConsumerRuntime
}

// OwnApplication refuses a caller that may not change application appID, its webhooks or its bundles and
// their content: an application may change only itself, a runtime nothing (it consumes applications, never
// describes them). Users and integration systems pass: their scopes decide. Callers check the application
// an object belongs to as stored, never as given, and neither a bundle's application nor a definition's
// bundle ever changes, so a check before the write holds for the write.
func OwnApplication(ctx context.Context, appID string) error {
	c := Caller(ctx)
	switch c.ConsumerType {
	case identity.ConsumerApplication:
		if c.Subject == "" || c.Subject != appID {
			return NotAllowed()
		}
	case identity.ConsumerRuntime:
		return NotAllowed()
	}
	return nil
}

// ScenarioSource returns the scenarios a runtime is in.
type ScenarioSource func(ctx context.Context, runtimeID string) ([]string, error)

// ApplicationVisible reports whether the caller may see app: users always, an application only itself, a
// runtime only the applications sharing one of its scenarios.
func ApplicationVisible(ctx context.Context, app *model.Application, scenarios ScenarioSource) (bool, error) {
	id := Caller(ctx)
	switch id.ConsumerType {
	case identity.ConsumerApplication:
		return app.ID == id.Subject, nil
	case identity.ConsumerRuntime:
		if scenarios == nil {
			return false, nil
		}
		mine, err := scenarios(ctx, id.Subject)
		if err != nil {
			return false, err
		}
		appScenarios, _ := app.Labels["scenarios"].([]any)
		for _, s := range appScenarios {
			if name, ok := s.(string); ok && slices.Contains(mine, name) {
				return true, nil
			}
		}
		return false, nil
	}
	return true, nil
}

// RuntimeVisible reports whether the caller may see runtime id: a runtime only itself.
func RuntimeVisible(ctx context.Context, id string) bool {
	c := Caller(ctx)
	return c.ConsumerType != identity.ConsumerRuntime || c.Subject == id
}
