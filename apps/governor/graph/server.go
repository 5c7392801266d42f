package graph

import (
	"log/slog"

	"github.com/99designs/gqlgen/graphql/handler"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
)

// NewServer returns the Governor's GraphQL handler: the plane's common server (limits, coded errors,
// audit of mutations) with a scope checked per root field. It reads the caller from the request context:
// wrap it with identity.Middleware.
func NewServer(svc *configuration.Service, log *slog.Logger, audit gqlserver.AuditPublisher) *handler.Server {
	srv := gqlserver.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{ConfigurationSvc: svc}}),
		log, "governor", gqlserver.DefaultLimits, audit)
	srv.AroundRootFields(access.Enforce)
	return srv
}
