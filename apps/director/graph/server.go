package graph

import (
	"log/slog"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
)

// queryCacheSize is how many distinct query texts the Director keeps parsed.
const queryCacheSize = 1000

// NewServer returns the Director's GraphQL handler: the plane's common server (limits, coded errors, audit
// of mutations) with errors in Compass's classes too (PresentError), empty argument lists accepted as
// Compass's clients send them (`labelDefinitions()`), and the access rules checked per root field. It reads
// the caller from the request context: wrap it with assertion.Middleware.
func NewServer(r *Resolver, log *slog.Logger, audit gqlserver.AuditPublisher) *handler.Server {
	srv := gqlserver.New(generated.NewExecutableSchema(generated.Config{Resolvers: r}), log, "director",
		gqlserver.DefaultLimits, audit)
	srv.SetErrorPresenter(PresentError(log))
	srv.Use(gqlserver.EmptyArguments{})
	srv.AroundRootFields(access.Rules.Enforce)
	// Clients send the same few query texts again and again, and parsing and validating one was a tenth of
	// the Director's CPU on application(id). Only documents that validated are kept; the depth and
	// complexity limits and the access rules still run on every request, with its variables.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	return srv
}
