package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// raw sends query to the Director through the gateway with exactly the given headers.
func raw(t *testing.T, h http.Header, query string, vars map[string]any) *stacktest.Response {
	t.Helper()
	r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/director/graphql", h, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestBadCredentialsAreRefusedAndChangeNothing(t *testing.T) {
	const tenant = "tenant-trust"
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongKey, _ := devtoken.SignES256(other, tenant, "mallory", identity.AllScopes, time.Hour)
	local := devtoken.LocalKey{Dir: stack.Dir + "/jwt"}
	expired, _ := local.Sign(tenant, "alice", identity.AllScopes, -time.Hour)
	noTenant, _ := local.Sign("", "alice", identity.AllScopes, time.Hour)

	register := map[string]any{"in": map[string]any{"name": "should-not-exist"}}
	for name, h := range map[string]http.Header{
		"no credentials":                 {},
		"JWT signed with another key":    bearer(wrongKey),
		"expired JWT":                    bearer(expired),
		"JWT without tenant":             bearer(noTenant),
		"not a JWT":                      bearer("nonsense"),
		"one-time token on the Director": {"Connector-Token": {"abc"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := raw(t, h, registerApp, register)
			var body struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(r.Raw, &body)
			if r.Status != http.StatusUnauthorized || body.Error.Code != "UNAUTHENTICATED" || body.Error.Message == "" {
				t.Fatalf("status %d %s", r.Status, r.Raw)
			}
		})
	}
	var page appPage
	ok(t, gql(t, tenant, listApps, map[string]any{"first": 10}), &page)
	if page.Applications.TotalCount != 0 {
		t.Fatalf("refused requests registered %d applications", page.Applications.TotalCount)
	}
}

func TestMissingScopeIsForbiddenAndChangesNothing(t *testing.T) {
	const tenant = "tenant-scopes"
	readOnly := bearer(userToken(t, tenant, identity.ScopeApplicationRead))
	r := raw(t, readOnly, registerApp, map[string]any{"in": map[string]any{"name": "no-scope"}})
	if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
		t.Fatalf("register without application:write: %s", r.Raw)
	}
	var page appPage
	ok(t, raw(t, readOnly, listApps, map[string]any{"first": 10}), &page)
	if page.Applications.TotalCount != 0 {
		t.Fatalf("forbidden mutation registered an application")
	}
	r = raw(t, bearer(userToken(t, tenant, identity.ScopeRuntimeRead)), listApps, nil)
	if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
		t.Fatalf("list without application:read: %s", r.Raw)
	}
}

func TestIdentityHeadersCannotBeForged(t *testing.T) {
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, "tenant-victim", registerApp, map[string]any{"in": map[string]any{"name": "secret-app"}}), &reg)
	h := bearer(userToken(t, "tenant-attacker"))
	h.Set(identity.HeaderTenant, "tenant-victim")
	h.Set(identity.HeaderConsumerType, identity.ConsumerRuntime)
	var got struct{ Application *appData }
	ok(t, raw(t, h, getApp, map[string]any{"id": reg.RegisterApplication.ID}), &got)
	if got.Application != nil {
		t.Fatal("a forged tenant header reached the Director")
	}
}

func TestMutationsAreAudited(t *testing.T) {
	ok(t, gql(t, "tenant-audit", registerApp, map[string]any{"in": map[string]any{"name": "audited"}}), nil)
	r := gql(t, "tenant-audit", registerApp, map[string]any{"in": map[string]any{"name": "Bad Name"}})
	if len(r.Errors) == 0 {
		t.Fatal("invalid registration accepted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !(streamHas(t, "audit", `"outcome":"success"`) && streamHas(t, "audit", `INVALID_INPUT`) && streamHas(t, "audit", "tenant-audit")) {
		if time.Now().After(deadline) {
			t.Fatal("no audit records for the two mutations on the audit topic")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestQueryLimits(t *testing.T) {
	var q strings.Builder
	q.WriteString("{")
	for i := range 3000 {
		fmt.Fprintf(&q, " a%d: viewer { id }", i)
	}
	q.WriteString(" }")
	r := gql(t, "tenant-limits", q.String(), nil)
	if len(r.Errors) == 0 || r.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("query of complexity 6000: %.300s", r.Raw)
	}
	// A body over the gateway's limit (1 MiB by default) is refused before it reaches the Director.
	r = gql(t, "tenant-limits", "{ viewer { id } }", map[string]any{"padding": strings.Repeat("x", 2<<20)})
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.Raw), "BODY_TOO_LARGE") {
		t.Fatalf("2 MiB body: status %d %.200s", r.Status, r.Raw)
	}
}

func TestAppsAcceptOnlyTheirSidecar(t *testing.T) {
	body := strings.NewReader(`{"query":"{ applications { totalCount } }"}`)
	// Straight to the director, around the gateway and the sidecars, with a forged identity.
	req, _ := http.NewRequest(http.MethodPost, stack.AppURL("director")+"/graphql", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(identity.HeaderTenant, "tenant-victim")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("director answered a caller that is not its sidecar: %d", resp.StatusCode)
	}
	// Through the director's sidecar without its API token.
	req, _ = http.NewRequest(http.MethodPost, stack.SidecarURL("director")+"/v1.0/invoke/director/method/graphql", strings.NewReader(`{}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sidecar accepted a call without DAPR_API_TOKEN: %d", resp.StatusCode)
	}
}
