package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestApplicationHealthIsProbed: the Director's cron binding probes healthCheckURL; results show up in
// healthChecks and the application's status follows them.
func TestApplicationHealthIsProbed(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	const tenant = "tenant-health"
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "probed", "healthCheckURL": srv.URL}}), &reg)
	id := reg.RegisterApplication.ID

	waitFor := func(cond, check string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got struct {
				Application  *appData
				HealthChecks struct {
					Data []struct{ Condition string }
				}
			}
			ok(t, gql(t, tenant, `query($id: ID!) { application(id: $id) { id status { condition } }
				healthChecks(origin: $id) { data { condition } } }`, map[string]any{"id": id}), &got)
			if got.Application.Status.Condition == cond && len(got.HealthChecks.Data) == 1 && got.HealthChecks.Data[0].Condition == check {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %s, health checks %+v; want %s / %s", got.Application.Status.Condition, got.HealthChecks.Data, cond, check)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitFor("CONNECTED", "SUCCEEDED")
	healthy.Store(false)
	waitFor("FAILED", "FAILED")
}
