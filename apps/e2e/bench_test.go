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
	url := stack.AppURL("gateway") + "/director/graphql"
	ctx := context.Background()
	reg, err := stacktest.GraphQL(ctx, url, h, registerApp, map[string]any{"in": map[string]any{"name": "bench-app"}})
	if err != nil || len(reg.Errors) > 0 {
		// A second run in the same stack finds it registered already.
		if err != nil || reg.Errors[0].Code() != "ALREADY_EXISTS" {
			b.Fatalf("register: %v %s", err, reg.Raw)
		}
	}
	page, err := stacktest.GraphQL(ctx, url, h, listApps, map[string]any{"first": 1})
	if err != nil {
		b.Fatal(err)
	}
	var p appPage
	if err := page.Decode(&p); err != nil || len(p.Applications.Data) != 1 {
		b.Fatalf("list: %v %s", err, page.Raw)
	}
	id := p.Applications.Data[0].ID
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
