package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/broker/osb"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// emptyDirector shows no applications and fails loudly on anything else.
type emptyDirector struct{}

func (emptyDirector) Applications(context.Context) ([]director.Application, error) { return nil, nil }
func (emptyDirector) Plan(context.Context, string, string) (*director.Plan, error) {
	return nil, director.ErrNoPlan
}
func (emptyDirector) RequestInstanceAuth(context.Context, string, string, json.RawMessage, json.RawMessage) (*director.InstanceAuth, error) {
	panic("not reached")
}
func (emptyDirector) InstanceAuth(context.Context, string) (*director.Binding, error) {
	return nil, nil
}
func (emptyDirector) RequestInstanceAuthDeletion(context.Context, string) error { return nil }
func (emptyDirector) Specification(context.Context, string, string, string, bool) (*director.Specification, error) {
	return nil, nil
}

// serve runs the edge with the caller the assertion middleware would have put in the context.
func serve(t *testing.T, caller identity.Identity, method, path string, h http.Header, body string) (*http.Response, map[string]any) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := osb.New(emptyDirector{}, registry.New(memstate.New(), "s"), log, osb.Config{SpecURL: func(_, _, _, _ string) string { return "" }})
	edge := Handler(b, log, "broker", nil)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range h {
		for _, x := range v {
			req.Header.Add(k, x)
		}
	}
	req = req.WithContext(identity.NewContext(req.Context(), caller))
	rec := httptest.NewRecorder()
	edge.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Result(), out
}

var runtime = identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime}

func TestVersionHeader(t *testing.T) {
	for _, v := range []string{"", "1.13", "3.0", "2", "2.x"} {
		resp, body := serve(t, runtime, "GET", "/v2/catalog", http.Header{HeaderAPIVersion: {v}}, "")
		if resp.StatusCode != http.StatusPreconditionFailed || body["error"] != "UnsupportedAPIVersion" || body["description"] == "" {
			t.Errorf("version %q: %d %v", v, resp.StatusCode, body)
		}
	}
	resp, body := serve(t, runtime, "GET", "/v2/catalog", http.Header{HeaderAPIVersion: {"2.17"}, HeaderRequestIdentity: {"r-1"}}, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderRequestIdentity) != "r-1" {
		t.Fatalf("2.17: %d %v %v", resp.StatusCode, body, resp.Header)
	}
	if services, ok := body["services"].([]any); !ok || len(services) != 0 {
		t.Fatalf("an empty catalog is an empty list: %v", body)
	}
}

func TestOnlyRuntimes(t *testing.T) {
	for _, ct := range []string{identity.ConsumerUser, identity.ConsumerApplication, identity.ConsumerIntegrationSystem, ""} {
		resp, body := serve(t, identity.Identity{Tenant: "t1", Subject: "x", ConsumerType: ct}, "GET", "/v2/catalog",
			http.Header{HeaderAPIVersion: {"2.17"}, HeaderRequestIdentity: {"r-2"}}, "")
		if resp.StatusCode != http.StatusForbidden || body["error"] != "Forbidden" || resp.Header.Get(HeaderRequestIdentity) != "r-2" {
			t.Errorf("%q: %d %v", ct, resp.StatusCode, body)
		}
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	h := http.Header{HeaderAPIVersion: {"2.17"}}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v2/service_instances/i1", `{"service_id":`},
		{"PUT", "/v2/service_instances/i1", `{"service_id":"s"}`},
		{"PUT", "/v2/service_instances/i1", `{"service_id":"s","plan_id":"p","parameters":"x"}`},
		{"PUT", "/v2/service_instances/i1/service_bindings/b1", `[]`},
		{"DELETE", "/v2/service_instances/i1", ``},
		{"PATCH", "/v2/service_instances/i1", `{}`},
	} {
		resp, body := serve(t, runtime, c.method, c.path, h, c.body)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "BadRequest" || body["description"] == "" {
			t.Errorf("%s %s %s: %d %v", c.method, c.path, c.body, resp.StatusCode, body)
		}
	}
	resp, _ := serve(t, runtime, "DELETE", "/v2/service_instances/i1?service_id=s&plan_id=p", h, "")
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("deprovision of nothing: %d", resp.StatusCode)
	}
	resp, body := serve(t, runtime, "GET", "/v2/nothing", h, "")
	if resp.StatusCode != http.StatusNotFound || body["error"] != "NotFound" {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, body)
	}
}
