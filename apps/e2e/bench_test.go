package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// reportLatency adds p50 and p99 of the measured durations to the benchmark output.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkGatewayApplicationRead measures application(id) through the whole path: client → gateway →
// gateway's sidecar → director's sidecar → director → registry (state store) and back.
func BenchmarkGatewayApplicationRead(b *testing.B) {
	h := http.Header{"Authorization": {"Bearer " + userToken(b, "bench-read")}}
	benchRead(b, h, benchApp(b, h, "bench-read", "bench-app"))
}

// BenchmarkGatewayApplicationReadClientCredentials is the same read by the application itself with an
// access token from its client credentials: the gateway also asks the Connector whether the client still
// exists.
func BenchmarkGatewayApplicationReadClientCredentials(b *testing.B) {
	admin := http.Header{"Authorization": {"Bearer " + userToken(b, clientsTenant)}}
	id := benchApp(b, admin, clientsTenant, "bench-oauth-app")
	sa := requestCredentials(b, "requestClientCredentialsForApplication", id)
	status, tok := accessToken(b, sa.Auth.Credential.ClientID, sa.Auth.Credential.ClientSecret)
	if status != http.StatusOK {
		b.Fatalf("token: %d %s", status, tok)
	}
	benchRead(b, http.Header{"Authorization": {"Bearer " + tok}}, id)
}

// benchApp registers the application name in tenant (or finds it from an earlier run) and returns its id.
func benchApp(b *testing.B, h http.Header, tenant, name string) string {
	url := stack.AppURL("gateway") + "/director/graphql"
	ctx := context.Background()
	reg, err := stacktest.GraphQL(ctx, url, h, registerApp, map[string]any{"in": map[string]any{"name": name}})
	if err == nil && len(reg.Errors) == 0 {
		var out struct{ RegisterApplication appData }
		if err := reg.Decode(&out); err != nil {
			b.Fatal(err)
		}
		return out.RegisterApplication.ID
	}
	// A second run in the same stack finds it registered already.
	if err != nil || reg.Errors[0].Code() != "ALREADY_EXISTS" {
		b.Fatalf("register: %v %s", err, reg.Raw)
	}
	page, err := stacktest.GraphQL(ctx, url, h, `query { applications(first: 200) { data { id name } } }`, nil)
	if err != nil {
		b.Fatal(err)
	}
	var p appPage
	if err := page.Decode(&p); err != nil {
		b.Fatalf("list: %v %s", err, page.Raw)
	}
	for _, a := range p.Applications.Data {
		if a.Name == name {
			return a.ID
		}
	}
	b.Fatalf("%s is registered in %s but not listed", name, tenant)
	return ""
}

// benchRead measures application(id) with the credentials in h.
func benchRead(b *testing.B, h http.Header, id string) {
	url := stack.AppURL("gateway") + "/director/graphql"
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		r, err := stacktest.GraphQL(ctx, url, h, getApp, map[string]any{"id": id})
		durations = append(durations, time.Since(start))
		if err != nil || r.Status != http.StatusOK || len(r.Errors) > 0 {
			b.Fatalf("read: %v %s", err, r.Raw)
		}
	}
	reportLatency(b, durations)
}
