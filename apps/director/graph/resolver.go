// Package graph is the Director's GraphQL transport: thin resolvers over the domain services.
// The code in generated/ comes from schema/ through gqlgen; see the go:generate line in ../main.go.
package graph

import (
	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/apptemplate"
	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/eventing"
	"github.com/mgmtplane/mgmtplane/apps/director/health"
	"github.com/mgmtplane/mgmtplane/apps/director/integrationsystem"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimecontext"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/director/tenant"
)

// Resolver is the root of the resolvers and holds their dependencies.
type Resolver struct {
	Apps       *application.Service
	RuntimeSvc *runtimes.Service
	Labels     *label.Definitions

	RuntimeContextSvc    *runtimecontext.Service // the calling runtime's own contexts
	IntegrationSystemSvc *integrationsystem.Service
	AppTemplateSvc       *apptemplate.Service
	TenantSvc            *tenant.Service
	HealthSvc            *health.Service
	EventingSvc          *eventing.Service
	Bundles              *bundle.Service
	Pairing              *pairing.Service
}
