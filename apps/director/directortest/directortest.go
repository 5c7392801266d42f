// Package directortest builds the Director's domain services over an in-memory state store, for unit tests.
package directortest

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// Registry returns a registry over a fresh in-memory store.
func Registry() *registry.Registry { return registry.New(memstate.New(), "registry") }

// Tenant returns a context of a caller in tenant.
func Tenant(tenant string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Tenant: tenant, Subject: "test"})
}

// Runtime returns a context of runtime id of tenant calling with its own credentials, as the gateway passes
// on a runtime's client certificate.
func Runtime(tenant, id string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Tenant: tenant, Subject: id, ConsumerType: identity.ConsumerRuntime,
		Scopes: []string{identity.ScopeRuntimeRead, identity.ScopeRuntimeWrite},
	})
}

// Application returns a context of application id of tenant calling with its own credentials, as the
// gateway passes on an application's client certificate.
func Application(tenant, id string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Tenant: tenant, Subject: id, ConsumerType: identity.ConsumerApplication,
		Scopes: []string{identity.ScopeApplicationRead, identity.ScopeApplicationWrite},
	})
}
