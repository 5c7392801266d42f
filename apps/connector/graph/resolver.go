// Package graph is the Connector's GraphQL transport: thin resolvers over the trust service.
package graph

import "github.com/mgmtplane/mgmtplane/apps/connector/trust"

// The code in generated/ comes from schema/ through gqlgen; see the go:generate line in ../main.go.

// Resolver is the root of the resolvers and holds their dependencies.
type Resolver struct {
	Trust *trust.Service
}
