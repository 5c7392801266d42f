package main

import (
	nr "github.com/dapr/components-contrib/nameresolution"
	"github.com/dapr/components-contrib/nameresolution/sqlite"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	"github.com/dapr/kit/logger"

	"github.com/mgmtplane/mgmtplane/dapr/tools/daprd/nrcache"
)

// The sqlite name resolver (local runs: dapr/config.yaml) is dapr's, behind a short-lived cache of its answers
// (nrcache: dapr's asks it once per service invocation, with one SQL query each). It is registered here, not
// generated: daprdgen leaves dapr's own registration of this type out (ownTypes there), or which of the two
// registered last would depend on file order.
func init() {
	nrLoader.DefaultRegistry.RegisterComponent(func(log logger.Logger) nr.Resolver {
		return nrcache.New(sqlite.NewResolver(log), log)
	}, "sqlite")
}
