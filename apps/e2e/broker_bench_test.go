package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

var brokerCatalogBench sync.Once

// BenchmarkBrokerCatalog measures GET /broker/v2/catalog through the gateway with HTTP Basic client
// credentials, for a runtime that sees 1,000 applications with 3 bundles each (an API definition in each):
// the gateway's check of the credentials with the Connector, the broker walking the Director's pages as the
// runtime, and the catalog's encoding. The size is fixed, so the figure is measured once (30 reads,
// p50/p99), whatever -benchtime says.
func BenchmarkBrokerCatalog(b *testing.B) {
	const (
		tenant  = "bench-broker"
		apps    = 1000
		bundles = 3
		reads   = 30
	)
	var (
		durations []time.Duration
		services  int
		failed    error
	)
	brokerCatalogBench.Do(func() {
		if failed = startBroker(); failed != nil {
			return
		}
		allowScenarios(b, tenant, "fleet")
		if failed = registerWithBundles(b, tenant, apps, bundles, 8); failed != nil {
			return
		}
		_, id, secret := brokerRuntime(b, tenant, "bench-cf", "fleet")
		for range reads {
			req, _ := http.NewRequest(http.MethodGet, stack.AppURL("gateway")+"/broker/v2/catalog", nil)
			req.SetBasicAuth(id, secret)
			req.Header.Set("X-Broker-API-Version", "2.17")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failed = err
				return
			}
			var cat struct {
				Services []struct{ Plans []json.RawMessage }
			}
			err = json.NewDecoder(resp.Body).Decode(&cat)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			durations = append(durations, time.Since(start))
			if err != nil || resp.StatusCode != http.StatusOK {
				failed = fmt.Errorf("catalog: %d %v", resp.StatusCode, err)
				return
			}
			services = len(cat.Services)
			if services != apps || len(cat.Services[0].Plans) != bundles {
				failed = fmt.Errorf("catalog has %d services, want %d with %d plans each", services, apps, bundles)
				return
			}
		}
	})
	if failed != nil {
		b.Fatal(failed)
	}
	reportLatency(b, durations)
	b.ReportMetric(float64(services), "services")
}

// registerWithBundles registers n applications of scenario fleet, each with the given number of bundles,
// through the gateway with c concurrent clients.
func registerWithBundles(t testing.TB, tenant string, n, bundles, c int) error {
	url := stack.AppURL("gateway") + "/director/graphql"
	h := http.Header{"Authorization": {"Bearer " + userToken(t, tenant)}}
	err := concurrently(n, c, func(i int) error {
		bs := make([]any, bundles)
		for j := range bs {
			bs[j] = map[string]any{"name": fmt.Sprintf("bundle-%d", j), "instanceAuthRequestInputSchema": bindSchema,
				"apiDefinitions": []any{map[string]any{"name": "api", "targetURL": fmt.Sprintf("https://app-%d.example.com/api-%d", i, j)}}}
		}
		in := map[string]any{"name": fmt.Sprintf("fleet-app-%05d", i), "labels": map[string]any{"scenarios": []string{"fleet"}}, "bundles": bs}
		return answerErr(stacktest.GraphQL(context.Background(), url, h, `mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id } }`, map[string]any{"in": in}))
	})
	if err != nil {
		return fmt.Errorf("register applications: %w", err)
	}
	return nil
}
