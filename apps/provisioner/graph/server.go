package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// NewServer returns the Provisioner's GraphQL handler: the plane's common server (limits, coded errors,
// audit of mutations) with a scope checked per root field, and errors that also carry the extensions the
// upstream provisioner's client reads. It reads the caller from the request context: wrap it with
// assertion.Middleware.
func NewServer(api provisioning.API, log *slog.Logger, audit gqlserver.AuditPublisher) *handler.Server {
	srv := gqlserver.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{Provisioner: api}}),
		log, "provisioner", gqlserver.DefaultLimits, audit)
	srv.SetErrorPresenter(presentError(log))
	srv.AroundRootFields(access.Enforce)
	return srv
}

// The extensions the upstream client (the Kyma Environment Broker) reads, next to our extensions.code.
const (
	extErrorCode      = "error_code"
	extErrorReason    = "error_reason"
	extErrorComponent = "error_component"
)

// presentError is gqlserver's presenter (message, extensions.code, the error id of internal errors) plus
// error_code, error_reason and error_component: those of the domain for coded errors, 500 err_internal
// for internal ones, and 400 err_invalid_input for what gqlgen refuses itself (parse, validation, limits).
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return gqlserver.ExtendErrors(log, func(_ context.Context, err error, out *gqlerror.Error) {
		code, reason, component := upstreamExtensions(err, out)
		out.Extensions[extErrorCode] = code
		out.Extensions[extErrorReason] = reason
		out.Extensions[extErrorComponent] = component
	})
}

func upstreamExtensions(err error, presented *gqlerror.Error) (code int, reason, component string) {
	var coded *apperr.Error
	if errors.As(err, &coded) {
		reason, component = provisioning.Reason(err)
		return provisioning.ErrorCode(err), reason, component
	}
	if presented.Extensions["code"] == string(apperr.CodeInternal) {
		return 500, provisioning.ReasonInternal, provisioning.ComponentProvisioner
	}
	return 400, provisioning.ReasonInvalidInput, provisioning.ComponentProvisioner
}
