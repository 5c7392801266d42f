package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
)

// fakeInvoker records the last invocation and answers with a canned response.
type fakeInvoker struct {
	appID, method string
	header        http.Header
	body          string
	err           error
	// status and answer replace the canned 200 answer when status is set.
	status int
	answer string
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
	if f.status != 0 {
		return &http.Response{StatusCode: f.status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(f.answer))}, nil
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

// kit signs the assertions the router sends on; the tests verify them with its keys.
var kit = assertiontest.MustNew()

func newTestRouter(inv Invoker) http.Handler {
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: &authn.FileKeys{Path: testKey.JWKSPath()}}}
	return newRouter(slog.New(slog.DiscardHandler), inv, kit.Signer, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Delegates: []string{"connector"},
			Auth: authn.Authenticate(users)}}, MaxBodyBytes: 64,
	})
}

func TestForwardsGraphQLWithTenant(t *testing.T) {
	inv := &fakeInvoker{}
	req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader(`{"query":"{a}"}`))
	req.Header.Set("Authorization", token(t, "acme"))
	req.Header.Set("Content-Type", "application/json")
	// A client trying to pass itself off as another tenant through the internal headers.
	req.Header.Set("X-Mp-Tenant", "victim")
	req.Header.Set(assertion.Header, "forged")
	rec := httptest.NewRecorder()
	newTestRouter(inv).ServeHTTP(rec, req)

	if rec.Code != http.StatusOK || rec.Body.String() != `{"data":{}}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if inv.appID != "director" || inv.method != "graphql" || inv.body != `{"query":"{a}"}` {
		t.Fatalf("forwarded to %s/%s with %q", inv.appID, inv.method, inv.body)
	}
	if inv.header.Get("Authorization") != "" || inv.header.Get("X-Mp-Tenant") != "" {
		t.Fatalf("credentials or client identity headers were forwarded: %v", inv.header)
	}
	// The caller travels as an assertion for the Director and the app it calls on the caller's behalf.
	for _, aud := range []string{"director", "connector"} {
		c, err := kit.Verifier(aud).Verify(context.Background(), inv.header.Get(assertion.Header))
		if err != nil {
			t.Fatalf("assertion for %s: %v", aud, err)
		}
		if id := c.Identity(); id.Tenant != "acme" || id.Subject != "tester" || len(id.Scopes) != 1 {
			t.Fatalf("identity passed on: %+v", id)
		}
	}
	if _, err := kit.Verifier("governor").Verify(context.Background(), inv.header.Get(assertion.Header)); err == nil {
		t.Fatal("the assertion is good for an app the Director does not call")
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
		{name: "own sidecar unreachable", tenant: "t", body: "{}", invErr: fmt.Errorf("invoke: %w", syscall.ECONNREFUSED), status: 503, code: "UPSTREAM_UNAVAILABLE"},
		{name: "own sidecar fails oddly", tenant: "t", body: "{}", invErr: errors.New("EOF"), status: 502, code: "UPSTREAM_UNAVAILABLE"},
		{name: "upstream timeout", tenant: "t", body: "{}", invErr: fmt.Errorf("invoke: %w", context.DeadlineExceeded), status: 504, code: "UPSTREAM_TIMEOUT"},
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

// The sidecar's own errors name internal addresses; the client gets the gateway's answer instead.
func TestSidecarErrorsBecomeGatewayErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		status       int
		answer, code string
		want         int
	}{
		"app down": {500, `{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: director, err: rpc error: code = Unavailable desc = dial tcp 127.0.0.1:3001: connect: connection refused"}`,
			"UPSTREAM_UNAVAILABLE", 503},
		"app slow": {500, `{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke: context deadline exceeded"}`, "UPSTREAM_TIMEOUT", 504},
		"refused by the mesh": {403, `{"errorCode":"ERR_PERMISSION_DENIED","message":"access control policy has denied access to id: spiffe://public/ns/default/gateway operation: graphql verb: POST"}`,
			"UPSTREAM_REFUSED", 502},
		// What daprd 1.16 answers when the callee's access policy refuses (seen with a local sentry).
		"refused by the access policy": {403, `{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: director, err: rpc error: code = PermissionDenied desc = access control policy has denied access to id: spiffe://public/ns/default/gateway operation: graphql verb: POST"}`,
			"UPSTREAM_REFUSED", 502},
	} {
		t.Run(name, func(t *testing.T) {
			inv := &fakeInvoker{status: tc.status, answer: tc.answer}
			req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader("{}"))
			req.Header.Set("Authorization", token(t, "t"))
			req.Header.Set("X-Request-Id", "req-1")
			rec := httptest.NewRecorder()
			newTestRouter(inv).ServeHTTP(rec, req)
			var body authn.ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tc.want || body.Error.Code != tc.code || body.Error.RequestID != "req-1" {
				t.Fatalf("got %d %s, want %d %s with the request id", rec.Code, rec.Body, tc.want, tc.code)
			}
			for _, leak := range []string{"127.0.0.1", "ERR_", "spiffe", "rpc error"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Fatalf("answer leaks %q: %s", leak, rec.Body)
				}
			}
		})
	}
	// An app's own error answer, with its own body, goes to the client unchanged.
	inv := &fakeInvoker{status: 401, answer: `{"error":{"code":"UNAUTHENTICATED","message":"no"}}`}
	req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader("{}"))
	req.Header.Set("Authorization", token(t, "t"))
	rec := httptest.NewRecorder()
	newTestRouter(inv).ServeHTTP(rec, req)
	if rec.Code != 401 || rec.Body.String() != inv.answer {
		t.Fatalf("app answer: %d %s", rec.Code, rec.Body)
	}
}

func TestHealthIsOpen(t *testing.T) {
	rec := httptest.NewRecorder()
	newTestRouter(&fakeInvoker{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}
}

// cockpitInvoker answers as the Cockpit would: a redirect that sets two cookies.
type cockpitInvoker struct {
	fakeInvoker
	httpMethod string
}

func (c *cockpitInvoker) Do(ctx context.Context, appID, httpMethod, method string, h http.Header, body io.Reader) (*http.Response, error) {
	c.httpMethod = httpMethod
	if _, err := c.fakeInvoker.Do(ctx, appID, httpMethod, method, h, body); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusSeeOther, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{
		"Location":   {"/cockpit/"},
		"Set-Cookie": {"old=; Max-Age=0", "session=abc; HttpOnly"},
		"X-Internal": {"not for the browser"},
	}}, nil
}

// The Cockpit's requests pass as they came, with the session cookie (its credential) but never a bearer
// token, and what the Cockpit sets comes back whole: both cookies, the redirect.
func TestForwardsCockpitPagesWithTheirCookies(t *testing.T) {
	inv := &cockpitInvoker{}
	r := newRouter(slog.New(slog.DiscardHandler), inv, kit.Signer, routeConfig{CockpitAppID: "cockpit", MaxBodyBytes: 1 << 10})
	req := httptest.NewRequest(http.MethodPost, "/cockpit/applications/a-1/labels?x=1", strings.NewReader("key=env"))
	req.Header.Set("Cookie", "session=abc")
	req.Header.Set("Authorization", token(t, "t1"))
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)

	if inv.appID != "cockpit" || inv.httpMethod != http.MethodPost || inv.method != "cockpit/applications/a-1/labels?x=1" {
		t.Errorf("invoked %s %s %s", inv.appID, inv.httpMethod, inv.method)
	}
	if inv.header.Get("Cookie") != "session=abc" || inv.header.Get("Authorization") != "" {
		t.Errorf("passed Cookie %q and Authorization %q", inv.header.Get("Cookie"), inv.header.Get("Authorization"))
	}
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/cockpit/" {
		t.Errorf("answered %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie %q, want both", got)
	}
	if rec.Header().Get("X-Internal") != "" {
		t.Error("a header the Cockpit does not need to send came back")
	}

	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cockpit/", nil))
	if inv.method != "cockpit/" {
		t.Errorf("/cockpit/ invoked %q", inv.method)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/cockpit/applications/a-1", nil))
	if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE reached the Cockpit: %d", rec.Code)
	}
}

// waitingInvoker answers nothing until the call's context ends, as an app that hangs.
type waitingInvoker struct{ fakeInvoker }

func (w *waitingInvoker) Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("invoke %s: %w", appID, ctx.Err())
}

// A service's own timeout ends a hanging call with UPSTREAM_TIMEOUT; the mesh sets none (see
// service.Timeout).
func TestServiceTimeoutEndsAHangingCall(t *testing.T) {
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: &authn.FileKeys{Path: testKey.JWKSPath()}}}
	r := newRouter(slog.New(slog.DiscardHandler), &waitingInvoker{}, kit.Signer, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Auth: authn.Authenticate(users),
			Timeout: 50 * time.Millisecond}}, MaxBodyBytes: 64,
	})
	req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader(`{"query":"{a}"}`))
	req.Header.Set("Authorization", token(t, "acme"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "UPSTREAM_TIMEOUT") {
		t.Fatalf("got %d %s, want 504 UPSTREAM_TIMEOUT", rec.Code, rec.Body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v", took)
	}
}
