// Package gqlserver builds the GraphQL HTTP handler every GraphQL app of the plane uses: POST transport,
// query depth and complexity limits, one error presenter (apperr codes in extensions.code), and an audit
// record for every mutation.
package gqlserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Limits bound what one request may ask for.
type Limits struct {
	MaxDepth      int // nesting of selections
	MaxComplexity int // gqlgen complexity: by default one per field, lists included once
}

// DefaultLimits fit the Compass API: its deepest documents (applications with bundles, specs and fetch
// request credentials) nest 13 levels.
var DefaultLimits = Limits{MaxDepth: 13, MaxComplexity: 5000}

// AuditPublisher sends an audit record to pub/sub.
type AuditPublisher interface {
	Publish(ctx context.Context, topic, id string, data []byte) error
}

// AuditTopic is where every mutation's audit record is published.
const AuditTopic = "audit"

// New returns a handler for schema with limits, the error presenter and auditing (audit may be nil: the
// log still gets every record).
func New(schema graphql.ExecutableSchema, log *slog.Logger, app string, limits Limits, audit AuditPublisher) *handler.Server {
	srv := handler.New(schema)
	srv.AddTransport(transport.POST{})
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(limits.MaxComplexity))
	srv.Use(depthLimit{max: limits.MaxDepth})
	srv.Use(auditor{log: log, app: app, pub: audit})
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

// auditRecord is what is recorded of each mutation. ID identifies the mutation: a mutation that changed
// something and then failed has two records with the same ID, the second with outcome "error".
type auditRecord struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	App          string    `json:"app"`
	Tenant       string    `json:"tenant"`
	Subject      string    `json:"subject"`
	ConsumerType string    `json:"consumerType"`
	Operation    string    `json:"operation"`
	Fields       []string  `json:"fields"`
	Outcome      string    `json:"outcome"` // success or error
	Errors       []string  `json:"errors,omitempty"`
}

// auditor records every mutation: in the log, and on the audit topic.
//
// The record of a change is written to the Registry in the same transaction as the change (it rides on
// the first write the mutation makes, see registry.WithFirstWrite) and the outbox relay publishes it, so
// a change without its record cannot happen, however busy the broker is. A mutation that wrote nothing —
// refused, invalid, or acting outside this app's Registry — is published directly once its response is
// known, falling back to the outbox when the broker refuses.
type auditor struct {
	log *slog.Logger
	app string
	pub AuditPublisher
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
	id, _ := identity.FromContext(ctx)
	rec := auditRecord{
		ID: uuid.NewString(), Time: time.Now().UTC(), App: a.app, Tenant: id.Tenant, Subject: id.Subject,
		ConsumerType: id.ConsumerType, Operation: oc.OperationName, Outcome: "success",
	}
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			rec.Fields = append(rec.Fields, f.Name)
		}
	}
	var written *registry.FirstWrite
	if a.pub != nil {
		ctx, written = registry.WithFirstWrite(ctx, registry.Event{Topic: AuditTopic, Data: rec})
	}

	resp := next(ctx)

	if resp != nil && len(resp.Errors) > 0 {
		rec.Outcome = "error"
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			rec.Errors = append(rec.Errors, fmt.Sprintf("%s: %s", code, e.Message))
		}
	}
	a.log.InfoContext(ctx, "audit", "id", rec.ID, "tenant", rec.Tenant, "subject", rec.Subject, "consumer", rec.ConsumerType,
		"fields", rec.Fields, "outcome", rec.Outcome, "errors", rec.Errors)
	if a.pub == nil || (written.Written() && rec.Outcome == "success") {
		return resp
	}
	data, _ := json.Marshal(rec)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.pub.Publish(pctx, AuditTopic, rec.ID+"-outcome", data); err != nil {
		a.log.ErrorContext(ctx, "audit record not published; it is in this log", "id", rec.ID, "err", err)
	}
	return resp
}
