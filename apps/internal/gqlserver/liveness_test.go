package gqlserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

type published struct {
	mu      sync.Mutex
	records []audit.Record
}

func (p *published) Publish(_ context.Context, _, _ string, data []byte) error {
	var r audit.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, r)
	return nil
}

// outboxRecords counts the records waiting in the store's outboxes (no relay runs here).
func outboxRecords(st *memstate.Store) int {
	n := 0
	for _, k := range st.Keys() {
		if strings.Contains(k, "/outbox/e/") {
			n++
		}
	}
	return n
}

func TestLivenessMutationsAreRecordedOnlyWhenTheyChangeSomethingOrFail(t *testing.T) {
	type outcome int
	const (
		nothing outcome = iota // the resolver wrote nothing and succeeded
		wrote                  // it changed an entity through the registry
		failed                 // it answered an error
	)
	for _, tc := range []struct {
		name       string
		liveness   bool // the publisher is an Audit naming heartbeat
		fields     []string
		does       outcome
		direct     int    // records published directly
		rode       int    // records written with the change
		logLevel   string // of the audit log line
		logOutcome string
	}{
		{"steady heartbeat", true, []string{"heartbeat"}, nothing, 0, 0, "DEBUG", "success"},
		{"heartbeat that changes the condition", true, []string{"heartbeat"}, wrote, 0, 1, "INFO", "success"},
		{"refused heartbeat", true, []string{"heartbeat"}, failed, 1, 0, "INFO", "error"},
		{"heartbeat with another mutation", true, []string{"heartbeat", "registerRuntime"}, nothing, 1, 0, "INFO", "success"},
		{"another mutation", true, []string{"registerRuntime"}, nothing, 1, 0, "INFO", "success"},
		{"heartbeat of an app without liveness mutations", false, []string{"heartbeat"}, nothing, 1, 0, "INFO", "success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstate.New()
			reg := registry.New(st, "registry")
			pub := &published{}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var ap AuditPublisher = pub
			if tc.liveness {
				ap = Audit{Publisher: pub, Liveness: []string{"heartbeat"}}
			}
			a := newAuditor(log, "director", ap)

			var set ast.SelectionSet
			for _, f := range tc.fields {
				set = append(set, &ast.Field{Name: f})
			}
			ctx := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime})
			ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{
				Operation: &ast.OperationDefinition{Operation: ast.Mutation, SelectionSet: set},
			})
			resp := a.InterceptResponse(ctx, func(ctx context.Context) *graphql.Response {
				switch tc.does {
				case wrote:
					err := reg.Mutate(ctx, registry.Scope{Tenant: "t1", Kind: "runtime"}, "rt-1", "", func([]byte) (registry.Change, error) {
						return registry.Change{Data: map[string]string{"condition": "CONNECTED"}}, nil
					})
					if err != nil {
						t.Fatal(err)
					}
				case failed:
					return &graphql.Response{Errors: gqlerror.List{{Message: "only runtime rt-2 itself may send its heartbeat", Extensions: map[string]any{"code": "FORBIDDEN"}}}}
				}
				return &graphql.Response{Data: []byte(`{}`)}
			})
			if resp == nil {
				t.Fatal("no response")
			}
			if len(pub.records) != tc.direct {
				t.Errorf("%d records published directly, want %d: %+v", len(pub.records), tc.direct, pub.records)
			}
			if n := outboxRecords(st); n != tc.rode {
				t.Errorf("%d records written with a change, want %d", n, tc.rode)
			}
			var line struct {
				Level   string `json:"level"`
				Msg     string `json:"msg"`
				Outcome string `json:"outcome"`
				Tenant  string `json:"tenant"`
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("audit log line %q: %v", logs.String(), err)
			}
			if line.Msg != "audit" || line.Level != tc.logLevel || line.Outcome != tc.logOutcome || line.Tenant != "t1" {
				t.Errorf("audit log line %+v, want level %s, outcome %s", line, tc.logLevel, tc.logOutcome)
			}
		})
	}
}
