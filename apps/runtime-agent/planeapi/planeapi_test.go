package planeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"

	"github.com/mgmtplane/mgmtplane/apps/internal/schematest"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// TestDocumentsMatchTheSchemas checks the agent's GraphQL documents against the Governor's and the
// Director's checked-in schemas: the contract between them, without importing their code.
func TestDocumentsMatchTheSchemas(t *testing.T) {
	for _, tc := range []struct {
		schema string
		docs   []string
	}{
		{"../../governor/graph/schema/*.graphqls", []string{runtimeConfigurationQuery, reportStatusMutation}},
		{"../../director/graph/schema/*.graphqls", []string{heartbeatMutation}},
	} {
		s := schematest.Load(t, tc.schema)
		for _, doc := range tc.docs {
			if _, errs := gqlparser.LoadQuery(s, doc); len(errs) > 0 {
				t.Errorf("%s against %s: %v", strings.SplitN(doc, "(", 2)[0], tc.schema, errs)
			}
		}
	}
}

func TestRuntimeConfigurationDecodesAndPassesVariables(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Variables map[string]any `json:"variables"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		got = req.Variables
		_, _ = w.Write([]byte(`{"data":{"runtimeConfiguration":{"runtimeID":"rt-1","revision":7,"secretsIncluded":true,
			"bindings":[{"name":"logging","type":"bindings.http","version":"v1","metadata":[{"name":"url","value":"http://x"}],
			"secretMetadata":[{"name":"securityToken","value":"t"}],"scopes":["app"]}]}}}`))
	}))
	defer srv.Close()
	rev, err := New(srv.URL, srv.Client()).RuntimeConfiguration(context.Background(), "rt-1", 6, 25*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got["afterRevision"] != float64(6) || got["waitSeconds"] != float64(25) || got["runtimeID"] != "rt-1" {
		t.Errorf("variables %v", got)
	}
	want := revision.Binding{Name: "logging", Type: "bindings.http", Version: "v1",
		Metadata: []revision.Item{{Name: "url", Value: "http://x"}}, SecretMetadata: []revision.Item{{Name: "securityToken", Value: "t"}}, Scopes: []string{"app"}}
	if rev.Number != 7 || !rev.SecretsIncluded || len(rev.Bindings) != 1 || rev.Bindings[0].Name != want.Name || rev.Bindings[0].SecretMetadata[0] != want.SecretMetadata[0] {
		t.Errorf("revision %+v", rev)
	}
}

func TestGraphQLErrorsComeBackWithTheirCode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"errors":[{"message":"runtime not found","extensions":{"code":"NOT_FOUND"}}],"data":null}`))
	}))
	defer srv.Close()
	err := New(srv.URL, srv.Client()).ReportConfigurationStatus(context.Background(), "rt-1", revision.Report{Revision: 1, Status: revision.Applied})
	var gqlErr *Error
	if !errors.As(err, &gqlErr) || gqlErr.Code != "NOT_FOUND" {
		t.Fatalf("err %v, want a GraphQL error with code NOT_FOUND", err)
	}
}

// TestHeartbeatPostsToTheGatewaysRoute checks the heartbeat's request and that the gateway's JSON errors
// and bare failures come back as errors the agent can tell apart.
func TestHeartbeatPostsToTheGatewaysRoute(t *testing.T) {
	var path, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		path, body = r.Method+" "+r.URL.Path, string(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"runtimeID":"rt-1"}`))
	}))
	defer srv.Close()
	if err := New(srv.URL+"/", srv.Client()).Heartbeat(context.Background(), "rt-1"); err != nil {
		t.Fatal(err)
	}
	if path != "POST /director/heartbeat" || body != `{"runtimeID":"rt-1"}` {
		t.Errorf("request %q %q", path, body)
	}

	refused := answering(http.StatusForbidden, `{"error":{"code":"FORBIDDEN","message":"only runtime rt-1 itself may send its heartbeat"}}`)
	defer refused.Close()
	err := New(refused.URL, refused.Client()).Heartbeat(context.Background(), "rt-1")
	var coded *Error
	if !errors.As(err, &coded) || coded.Code != "FORBIDDEN" {
		t.Fatalf("err %v, want an error with code FORBIDDEN", err)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream unavailable", http.StatusBadGateway)
	}))
	defer down.Close()
	if err := New(down.URL, down.Client()).Heartbeat(context.Background(), "rt-1"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err %v, want the status", err)
	}
}

// A gateway older than the heartbeat route answers 404 with no JSON error: the agent sends the Director's
// GraphQL mutation instead, and from then on only that.
func TestHeartbeatFallsBackToTheMutationOnAnOlderGateway(t *testing.T) {
	var routeHits, mutations int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/director/heartbeat":
			routeHits++
			http.NotFound(w, r)
		case "/director/graphql":
			var req struct {
				Query     string         `json:"query"`
				Variables map[string]any `json:"variables"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			if !strings.Contains(req.Query, "heartbeat(runtimeID: $runtimeID)") || req.Variables["runtimeID"] != "rt-1" {
				t.Errorf("mutation %q %v", req.Query, req.Variables)
			}
			mutations++
			_, _ = w.Write([]byte(`{"data":{"heartbeat":{"id":"rt-1"}}}`))
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, srv.Client())
	for range 3 {
		if err := c.Heartbeat(context.Background(), "rt-1"); err != nil {
			t.Fatal(err)
		}
	}
	if routeHits != 1 || mutations != 3 {
		t.Errorf("route asked %d times, mutation sent %d times; want 1 and 3", routeHits, mutations)
	}

	// A 404 that is the Director's answer (the runtime is gone) is an error, not an older gateway.
	gone := answering(http.StatusNotFound, `{"error":{"code":"NOT_FOUND","message":"runtime \"rt-1\" not found"}}`)
	defer gone.Close()
	var coded *Error
	if err := New(gone.URL, gone.Client()).Heartbeat(context.Background(), "rt-1"); !errors.As(err, &coded) || coded.Code != "NOT_FOUND" {
		t.Errorf("err %v, want NOT_FOUND", err)
	}
}

// answering is a gateway that answers every request with status and the JSON body.
func answering(status int, body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
}
