package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// intruder is an extra app in the plane's own mesh — same name resolution, same sidecar API token, a
// certificate from the plane's sentry for its own app id — as any Dapr-enabled pod in the plane's namespace
// is. No access policy names it, so every app's sidecar refuses it.
var intruder = sync.OnceValue(func() error {
	return stack.StartApp(context.Background(), stacktest.App{ID: "intruder", Bin: "demo-logger", NoAppPort: true,
		Env: map[string]string{"LOG_INTERVAL": "1h"}})
})

// viaSidecar invokes method on app through the sidecar of from, with header, and returns status and body.
func viaSidecar(t *testing.T, from, app, method string, header http.Header, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, stack.SidecarURL(from)+"/v1.0/invoke/"+app+"/method/"+method, strings.NewReader(body))
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", stack.SidecarToken(from))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// claims are an assertion's claims as the gateway would write them for a user of tenant.
func claims(tenant string, audience ...string) assertion.Claims {
	now := time.Now()
	return assertion.Claims{
		Claims: jwt.Claims{Issuer: assertion.Issuer, Subject: "mallory", Audience: audience, ID: "e2e-" + tenant,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(30 * time.Second))},
		Tenant: tenant, ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes,
	}
}

func signed(t *testing.T, c assertion.Claims) string {
	t.Helper()
	raw, err := stack.SignAssertion(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// deniedByPolicy reports whether an invocation was refused by the callee's sidecar for its access policy,
// naming the caller's mTLS identity, rather than answered by the app.
func deniedByPolicy(status int, body, caller string) bool {
	return status == http.StatusForbidden && strings.Contains(body, "access control policy has denied access") &&
		strings.Contains(body, "spiffe://public/ns/"+stacktest.MeshNamespace+"/"+caller+" ")
}

// Each app's sidecar lets through only the callers, operations and verbs its access policy names
// (dapr/access), whatever the request carries: a member of the mesh that no policy names is refused before
// the app sees anything, even with an assertion the gateway would have made.
func TestAccessPolicyRefusesCallersItDoesNotName(t *testing.T) {
	if err := intruder(); err != nil {
		t.Fatal(err)
	}
	const tenant = "tenant-acl-victim"
	register := `{"query":"mutation { registerApplication(in: {name: \"intruded\"}) { id } }"}`
	for _, c := range []struct{ from, app, method, body, audience string }{
		// Callers no policy names.
		{"intruder", "director", "graphql", register, "director"},
		{"intruder", "governor", "graphql", `{"query":"{ configurations { data { id } } }"}`, "governor"},
		{"intruder", "connector", "tokens", `{"tenant":"` + tenant + `","consumerID":"x","consumerType":"APPLICATION"}`, "connector"},
		{"intruder", "connector", "ca.pem", ``, "connector"},
		// Callers the policy names, for operations it does not give them.
		{"gateway", "connector", "tokens", `{"tenant":"` + tenant + `","consumerID":"x","consumerType":"APPLICATION"}`, "connector"},
		{"governor", "connector", "tokens", `{"tenant":"` + tenant + `","consumerID":"x","consumerType":"APPLICATION"}`, "connector"},
		{"director", "governor", "graphql", `{"query":"{ configurations { data { id } } }"}`, "governor"},
		{"gateway", "director", "healthcron", `{}`, "director"},
		// Runtimes' heartbeats reach the Director in the gateway's batches only; the Governor, which holds
		// runtimes' assertions addressed to the Director, may not hand any over.
		{"governor", "director", "heartbeats", `{"heartbeats":[]}`, "director"},
	} {
		t.Run(c.from+" to "+c.app+" "+c.method, func(t *testing.T) {
			h := http.Header{assertion.Header: {signed(t, claims(tenant, c.audience))}}
			if status, body := viaSidecar(t, c.from, c.app, c.method, h, c.body); !deniedByPolicy(status, body, c.from) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}

	// Nothing reached the victim's tenant.
	var apps struct{ Applications struct{ TotalCount int } }
	ok(t, gql(t, tenant, `{ applications { totalCount } }`, nil), &apps)
	if apps.Applications.TotalCount != 0 {
		t.Fatalf("%d applications registered in the victim's tenant", apps.Applications.TotalCount)
	}

	// The control: the path the policy allows, gateway to director, with the same request.
	status, body := viaSidecar(t, "gateway", "director", "graphql",
		http.Header{assertion.Header: {signed(t, claims(tenant, "director"))}}, `{"query":"{ applications { totalCount } }"}`)
	if status != http.StatusOK || !strings.Contains(body, `"totalCount":0`) {
		t.Fatalf("gateway to director: %d %s", status, body)
	}
}

// Sentry signs a certificate only for the identity a sidecar's token names (its jwks validator): a member of
// the mesh cannot take another app's identity, and with it that app's place in the access policies, by
// asking for it. (Without a validator, a self-hosted sentry signs any identity for anyone.)
func TestSidecarCannotTakeAnotherAppsIdentity(t *testing.T) {
	err := stack.StartApp(context.Background(), stacktest.App{ID: "impostor", Bin: "demo-logger", NoAppPort: true,
		Env: map[string]string{"LOG_INTERVAL": "1h"}, SidecarEnv: map[string]string{"SENTRY_LOCAL_IDENTITY": "director"}})
	if !errors.Is(err, stacktest.ErrSidecarExited) {
		t.Fatalf("a sidecar asking for the director's identity with its own token: %v", err)
	}
	if log := stack.Log("impostor-daprd"); !strings.Contains(log, "token validation failed") {
		t.Fatalf("the impostor's sidecar did not end for its token:\n%s", log)
	}
}

// A member of the mesh that the access policy lets through — compromised, or confused — still cannot make
// an app believe a caller the gateway did not vouch for: each app checks the assertion itself.
func TestMeshMemberCannotForgeTheCaller(t *testing.T) {
	const tenant = "tenant-mesh-victim"
	register := `{"query":"mutation { registerApplication(in: {name: \"forged\"}) { id } }"}`

	expired := claims(tenant, "director")
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Minute))
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	longLived := claims(tenant, "director")
	longLived.Expiry = jwt.NewNumericDate(time.Now().Add(time.Hour))
	// A valid assertion of another tenant's caller, with the payload swapped for one naming the victim.
	good := strings.Split(signed(t, claims("tenant-mesh-other", "director")), ".")
	payload, _ := json.Marshal(claims(tenant, "director"))
	tampered := good[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + good[2]

	forgedHeaders := http.Header{"X-Mp-Tenant": {tenant}, "X-Mp-Subject": {"mallory"},
		"X-Mp-Consumer-Type": {"USER"}, "X-Mp-Scopes": {strings.Join(identity.AllScopes, " ")}}
	for name, h := range map[string]http.Header{
		"identity headers":          forgedHeaders,
		"assertion for another app": {assertion.Header: {signed(t, claims(tenant, "runtime-agent"))}},
		"expired assertion":         {assertion.Header: {signed(t, expired)}},
		"long-lived assertion":      {assertion.Header: {signed(t, longLived)}},
		"tampered assertion":        {assertion.Header: {tampered}},
		"garbage assertion":         {assertion.Header: {"e30.e30.e30"}},
	} {
		t.Run(name, func(t *testing.T) {
			// Each through the sidecar of a caller the callee's policy allows for that operation.
			status, body := viaSidecar(t, "governor", "director", "graphql", h, register)
			if status != http.StatusUnauthorized || !strings.Contains(body, `"UNAUTHENTICATED"`) {
				t.Fatalf("director: %d %s", status, body)
			}
			status, body = viaSidecar(t, "gateway", "governor", "graphql", h, `{"query":"{ configurations { data { id } } }"}`)
			if status != http.StatusUnauthorized {
				t.Fatalf("governor: %d %s", status, body)
			}
			// The Connector's internal routes, which the Director uses to mint tokens and credentials.
			status, body = viaSidecar(t, "director", "connector", "tokens", h,
				`{"tenant":"`+tenant+`","consumerID":"x","consumerType":"APPLICATION"}`)
			if status != http.StatusUnauthorized {
				t.Fatalf("connector: %d %s", status, body)
			}
		})
	}

	// Nothing reached the victim's tenant.
	var apps struct{ Applications struct{ TotalCount int } }
	ok(t, gql(t, tenant, `{ applications { totalCount } }`, nil), &apps)
	if apps.Applications.TotalCount != 0 {
		t.Fatalf("%d applications registered in the victim's tenant", apps.Applications.TotalCount)
	}

	// The control: the same path with an assertion the gateway would have made is believed, so the
	// refusals above are the assertion's doing, not the path's.
	status, body := viaSidecar(t, "governor", "director", "graphql",
		http.Header{assertion.Header: {signed(t, claims(tenant, "director"))}}, `{"query":"{ applications { totalCount } }"}`)
	if status != http.StatusOK || !strings.Contains(body, `"totalCount":0`) {
		t.Fatalf("valid assertion: %d %s", status, body)
	}
}

// The signing key is out of reach of every sidecar but the gateway's: a member of the mesh that could read
// it could sign any caller it liked.
func TestOnlyTheGatewayCanReadTheSigningKey(t *testing.T) {
	if err := intruder(); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"intruder", "director", "connector", "governor"} {
		for _, path := range []string{
			"gatewaysecrets/" + assertion.SigningKeySecret + ":" + assertion.SigningKeyField,
			"secretstore/" + assertion.SigningKeySecret + ":" + assertion.SigningKeyField,
		} {
			req, _ := http.NewRequest(http.MethodGet, stack.SidecarURL(app)+"/v1.0/secrets/"+path, nil)
			req.Header.Set("dapr-api-token", stack.SidecarToken(app))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("%s's sidecar handed out %s", app, path)
			}
		}
	}
	// The control: the gateway's own sidecar does, so the refusals above are the scoping's doing.
	req, _ := http.NewRequest(http.MethodGet, stack.SidecarURL("gateway")+"/v1.0/secrets/gatewaysecrets/"+
		assertion.SigningKeySecret+":"+assertion.SigningKeyField, nil)
	req.Header.Set("dapr-api-token", stack.SidecarToken("gateway"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the gateway's sidecar: %d", resp.StatusCode)
	}
}

// A runtime's sidecar is in a mesh of its own: it cannot even find the plane's apps, and the plane's
// sidecars do not take its API token.
func TestRuntimeSidecarIsOutsideThePlane(t *testing.T) {
	if err := stack.StartApp(context.Background(), stacktest.App{ID: "runtime-probe", Bin: "demo-logger", NoAppPort: true,
		Outside: true, Env: map[string]string{"LOG_INTERVAL": "1h"}}); err != nil {
		t.Fatal(err)
	}
	forged := http.Header{"X-Mp-Tenant": {"tenant-mesh-victim"}, "X-Mp-Scopes": {"application:write"}}
	status, body := viaSidecar(t, "runtime-probe", "director", "graphql", forged, `{"query":"{ applications { totalCount } }"}`)
	if status == http.StatusOK || strings.Contains(body, "totalCount") {
		t.Fatalf("the runtime's sidecar reached the director: %d %s", status, body)
	}
	// Its token opens no sidecar of the plane.
	req, _ := http.NewRequest(http.MethodPost, stack.SidecarURL("director")+"/v1.0/invoke/director/method/graphql", strings.NewReader(`{}`))
	req.Header.Set("dapr-api-token", stack.SidecarToken("runtime-probe"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the plane's sidecar took the runtime's token: %d", resp.StatusCode)
	}
}

// When the Director is down the client hears it from the gateway: 503, the project's error body with a
// request id, nothing of the mesh's insides.
func TestGatewayAnswers503WhenTheDirectorIsDown(t *testing.T) {
	if err := stack.Kill("director"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Respawn("director"); err != nil {
			t.Fatal(err)
		}
		// Wait until the Director answers through the gateway again, for the tests after this one.
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if r := gql(t, "tenant-down", `{ applications { totalCount } }`, nil); r.Status == http.StatusOK && len(r.Errors) == 0 {
				return
			}
		}
		t.Fatal("the director did not come back")
	})
	r := gql(t, "tenant-down", `{ applications { totalCount } }`, nil)
	var body struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(r.Raw, &body); err != nil || r.Status != http.StatusServiceUnavailable ||
		body.Error.Code != "UPSTREAM_UNAVAILABLE" || body.Error.RequestID == "" {
		t.Fatalf("with the director down: %d %s", r.Status, r.Raw)
	}
	for _, leak := range []string{"127.0.0.1", "ERR_", "dial tcp", "connection refused"} {
		if strings.Contains(string(r.Raw), leak) {
			t.Fatalf("the answer leaks %q: %s", leak, r.Raw)
		}
	}
}
