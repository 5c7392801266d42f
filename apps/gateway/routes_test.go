package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// fakeInvoker records the last invocation and answers with a canned response.
type fakeInvoker struct {
	appID, method string
	header        http.Header
	body          string
	err           error
}

func (f *fakeInvoker) Do(_ context.Context, appID, _, method string, h http.Header, body io.Reader) (*http.Response, error) {
	f.appID, f.method, f.header = appID, method, h
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	f.body = string(b)
	if f.err != nil {
		return nil, f.err
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"data":{}}`))}, nil
}

func (f *fakeInvoker) Ready(context.Context) error { return f.err }

// testKey signs the tokens of these tests; the router verifies against its public half.
var testKey = func() devtoken.LocalKey {
	dir, err := os.MkdirTemp("", "gateway-test-")
	if err != nil {
		panic(err)
	}
	k := devtoken.LocalKey{Dir: dir}
	if err := k.Ensure(); err != nil {
		panic(err)
	}
	return k
}()

func token(t *testing.T, tenant string) string {
	t.Helper()
	tok, err := testKey.Sign(tenant, "tester", []string{"application:read"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func newTestRouter(inv Invoker) http.Handler {
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: &authn.FileKeys{Path: testKey.JWKSPath()}}}
	return newRouter(slog.New(slog.DiscardHandler), inv, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Auth: authn.Authenticate(users)}}, MaxBodyBytes: 64,
	})
}

func TestForwardsGraphQLWithTenant(t *testing.T) {
	inv := &fakeInvoker{}
	req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader(`{"query":"{a}"}`))
	req.Header.Set("Authorization", token(t, "acme"))
	req.Header.Set("Content-Type", "application/json")
	// A client trying to pass itself off as another tenant through the internal header.
	req.Header.Set(identity.HeaderTenant, "victim")
	rec := httptest.NewRecorder()
	newTestRouter(inv).ServeHTTP(rec, req)

	if rec.Code != http.StatusOK || rec.Body.String() != `{"data":{}}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if inv.appID != "director" || inv.method != "graphql" || inv.body != `{"query":"{a}"}` {
		t.Fatalf("forwarded to %s/%s with %q", inv.appID, inv.method, inv.body)
	}
	if got := identity.FromHeaders(inv.header).Tenant; got != "acme" {
		t.Fatalf("tenant passed on = %q, want acme", got)
	}
	if inv.header.Get("Authorization") != "" {
		t.Fatal("credentials were forwarded")
	}
	if id := identity.FromHeaders(inv.header); id.Subject != "tester" || len(id.Scopes) != 1 {
		t.Fatalf("identity passed on: %+v", id)
	}
}

func TestRejectsRequests(t *testing.T) {
	tests := []struct {
		name, tenant, body string
		invErr             error
		status             int
		code               string
	}{
		{name: "no credentials", body: "{}", status: 401, code: "UNAUTHENTICATED"},
		{name: "tenant claim not a tenant id", tenant: "a/b", body: "{}", status: 401, code: "UNAUTHENTICATED"},
		{name: "body too large", tenant: "t", body: strings.Repeat("x", 65), status: 413, code: "BODY_TOO_LARGE"},
		{name: "director down", tenant: "t", body: "{}", invErr: errors.New("connection refused"), status: 502, code: "UPSTREAM_UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{err: tt.invErr}
			req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader(tt.body))
			if tt.tenant != "" {
				req.Header.Set("Authorization", token(t, tt.tenant))
			}
			rec := httptest.NewRecorder()
			newTestRouter(inv).ServeHTTP(rec, req)
			var body authn.ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tt.status || body.Error.Code != tt.code || body.Error.Message == "" {
				t.Fatalf("got %d %s, want %d with code %s", rec.Code, rec.Body, tt.status, tt.code)
			}
		})
	}
}

func TestHealthIsOpen(t *testing.T) {
	rec := httptest.NewRecorder()
	newTestRouter(&fakeInvoker{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}
}
