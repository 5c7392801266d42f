// Package gqlserver builds the GraphQL HTTP handler every GraphQL app of the plane uses: POST transport,
// a cache of parsed and validated documents, query depth and complexity limits (checked on every request,
// cached document or not), one error presenter (apperr codes in extensions.code), and an audit
// record for every mutation (for an app's liveness mutations, such as heartbeats, only when they change
// something or fail: see Audit).
package gqlserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

// Limits bound what one request may ask for.
type Limits struct {
	MaxDepth      int // nesting of selections
	MaxComplexity int // gqlgen complexity: by default one per field, lists included once
}

// queryCacheSize is how many distinct documents an app keeps parsed. The plane's clients send a few dozen;
// the Compass examples some seventy more.
const queryCacheSize = 1000

// DefaultLimits fit the Compass API: its deepest documents (applications with bundles, specs and fetch
// request credentials) nest 13 levels.
var DefaultLimits = Limits{MaxDepth: 13, MaxComplexity: 5000}

// AuditPublisher sends an audit record to pub/sub.
type AuditPublisher = audit.Publisher

// AuditTopic is where every mutation's audit record is published.
const AuditTopic = audit.Topic

// New returns a handler for schema with limits, the error presenter and auditing (audit may be nil: the
// log still gets every record). An Audit as audit also names the app's liveness mutations.
func New(schema graphql.ExecutableSchema, log *slog.Logger, app string, limits Limits, audit AuditPublisher) *handler.Server {
	srv := handler.New(schema)
	srv.AddTransport(transport.POST{})
	// Parsed and validated documents by query text: an agent's long poll, report and heartbeat are the same
	// few documents again and again, and parsing and validating one costs more than running it. Documents
	// that fail validation are not kept.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(limits.MaxComplexity))
	srv.Use(depthLimit{max: limits.MaxDepth})
	srv.Use(newAuditor(log, app, audit))
	srv.SetErrorPresenter(ErrorPresenter(log))
	return srv
}

// depthLimit refuses operations nested deeper than max, before anything runs.
type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, map[string]bool{}, oc.Doc); depth > d.max {
		err := gqlerror.Errorf("query is nested %d levels deep; at most %d are allowed", depth, d.max)
		err.Extensions = map[string]any{"code": "QUERY_TOO_DEEP"}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int, seen map[string]bool, doc *ast.QueryDocument) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = depth + 1
			} else {
				d = selectionDepth(s.SelectionSet, depth+1, seen, doc)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, seen, doc)
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue // a cycle; validation reports it
			}
			seen[s.Name] = true
			if f := doc.Fragments.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, depth, seen, doc)
			}
			delete(seen, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// auditor records every mutation (package audit), liveness mutations only when they change something or
// fail (see Audit).
type auditor struct {
	log      *slog.Logger
	app      string
	pub      AuditPublisher
	liveness []string
}

func (auditor) ExtensionName() string                   { return "Audit" }
func (auditor) Validate(graphql.ExecutableSchema) error { return nil }

func (a auditor) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return next(ctx)
	}
	var fields []string
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			fields = append(fields, f.Name)
		}
	}
	ctx, entry := audit.Begin(ctx, a.app, oc.OperationName, fields, a.pub)

	resp := next(ctx)

	var errs []string
	if resp != nil {
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			errs = append(errs, fmt.Sprintf("%s: %s", code, e.Message))
		}
	}
	if a.pub != nil && a.isLiveness(fields) {
		entry.FinishLiveness(ctx, a.log, a.pub, errs)
	} else {
		entry.Finish(ctx, a.log, a.pub, errs)
	}
	return resp
}
