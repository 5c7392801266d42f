// Package graph is the Runtime Governor's GraphQL transport: thin resolvers over the configuration
// service, converting at the boundary.
package graph

import "github.com/mgmtplane/mgmtplane/apps/governor/configuration"

// Resolver is the root of the resolvers and holds their dependencies.
type Resolver struct {
	ConfigurationSvc *configuration.Service
}
