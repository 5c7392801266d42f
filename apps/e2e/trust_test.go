package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
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
	h.Set("X-Mp-Tenant", "tenant-victim")
	h.Set("X-Mp-Consumer-Type", identity.ConsumerRuntime)
	h.Set(assertion.Header, "forged")
	var got struct{ Application *appData }
	ok(t, raw(t, h, getApp, map[string]any{"id": reg.RegisterApplication.ID}), &got)
	if got.Application != nil {
		t.Fatal("a forged tenant header reached the Director")
	}
}

func TestMutationsAreAudited(t *testing.T) {
	ok(t, gql(t, "tenant-audit", registerApp, map[string]any{"in": map[string]any{"name": "audited"}}), nil)
	r := gql(t, "tenant-audit", registerApp, map[string]any{"in": map[string]any{"name": ""}})
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
	req.Header.Set("X-Mp-Tenant", "tenant-victim")
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

// auditRecords returns the audit records of tenant on the broker's audit topic, one per record id and
// outcome (delivery is at least once, so a record may be there twice).
func auditRecords(t *testing.T, tenant string) map[string]int {
	t.Helper()
	host, port, _ := strings.Cut(stack.RedisAddr, ":")
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "XRANGE", "audit", "-", "+").Output()
	if err != nil {
		t.Fatalf("redis-cli: %v", err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		var ev struct {
			Data struct{ ID, Tenant, Outcome string }
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil || ev.Data.Tenant != tenant {
			continue
		}
		seen[ev.Data.ID+" "+ev.Data.Outcome] = 1
	}
	outcomes := map[string]int{}
	for k := range seen {
		_, outcome, _ := strings.Cut(k, " ")
		outcomes[outcome]++
	}
	return outcomes
}

// Every change has its audit record, however many arrive at once: the record is written with the change.
func TestBurstOfMutationsIsFullyAudited(t *testing.T) {
	const tenant, n = "tenant-audit-burst", 100
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": fmt.Sprintf("burst-%d", i)}})
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				failed.Add(1)
				t.Errorf("registration %d: %d %s", i, r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	var got map[string]int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = auditRecords(t, tenant); got["success"] >= n {
			break
		}
	}
	if got["success"] != n || got["error"] != 0 {
		t.Fatalf("audit records for %d successful registrations: %v", n, got)
	}
}
