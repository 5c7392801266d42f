// Package graph is the Runtime Provisioner's GraphQL transport: the Kyma Control Plane provisioner's API
// (with our extensions) as thin resolvers over provisioning.API, converting at the boundary.
package graph

import "github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"

// Resolver is the root of the resolvers and holds their dependencies.
type Resolver struct {
	Provisioner provisioning.API
}
