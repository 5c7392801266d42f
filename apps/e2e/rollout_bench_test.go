package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// simulatedAgent is a runtime whose agent is this benchmark: it long-polls the Governor for its effective
// configuration and reports each revision APPLIED, as the runtime itself (an assertion for consumer type
// RUNTIME, as the gateway writes after checking the runtime's client certificate), through the gateway's
// sidecar — the path the gateway takes.
type simulatedAgent struct {
	tenant, id string
}

func (a *simulatedAgent) call(ctx context.Context, query string, vars map[string]any, out any) error {
	now := time.Now()
	scopes, _ := identity.ConsumerScopes(identity.ConsumerRuntime)
	raw, err := stack.SignAssertion(assertion.Claims{
		Claims: jwt.Claims{Issuer: assertion.Issuer, Subject: a.id, Audience: jwt.Audience{"governor", "director"},
			ID: fmt.Sprintf("bench-%s-%d", a.id, now.UnixNano()), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))},
		Tenant: a.tenant, ConsumerType: identity.ConsumerRuntime, Scopes: scopes,
	})
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, stack.SidecarURL("gateway")+"/v1.0/invoke/governor/method/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", stack.SidecarToken("gateway"))
	req.Header.Set(assertion.Header, raw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(b, &env); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("%s", env.Errors[0].Message)
	}
	return json.Unmarshal(env.Data, out)
}

// run long-polls and reports until ctx ends.
func (a *simulatedAgent) run(ctx context.Context, errs chan<- error) {
	after := 0
	for ctx.Err() == nil {
		var got struct{ RuntimeConfiguration struct{ Revision int } }
		err := a.call(ctx, `query($id: ID!, $after: Int) { runtimeConfiguration(runtimeID: $id, afterRevision: $after, waitSeconds: 30) { revision } }`,
			map[string]any{"id": a.id, "after": after}, &got)
		if err == nil && got.RuntimeConfiguration.Revision > after {
			after = got.RuntimeConfiguration.Revision
			err = a.call(ctx, `mutation($id: ID!, $rev: Int!) { reportConfigurationStatus(runtimeID: $id, revision: $rev, status: APPLIED) { revision } }`,
				map[string]any{"id": a.id, "rev": after}, &struct{}{})
		}
		if err != nil && ctx.Err() == nil {
			select {
			case errs <- fmt.Errorf("agent %s: %w", a.id, err):
			default:
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

var rolloutBench sync.Once

// BenchmarkConfigurationRollout times a 3-step rollout (a canary of 2, then batches of 50%) of a
// label-selector configuration over 20 runtimes whose agents are simulated, with no soak: the time from
// updateConfiguration to the rollout SUCCEEDED, every runtime having reported the new revision APPLIED.
// What it measures is the Governor's own machinery: releasing steps, long-polls waking, reports moving the
// rollout on (ROLLOUT_TICK is 250 ms in the suite, and a report moves it at once). It rolls out
// MP_BENCH_ROLLOUTS times (default 10), once per run whatever -benchtime says, and reports p50/p99.
func BenchmarkConfigurationRollout(b *testing.B) {
	var took []time.Duration
	rolloutBench.Do(func() { took = measureRollouts(b, benchCount("MP_BENCH_ROLLOUTS", 10)) })
	for b.Loop() {
		// The rollouts ran once above; the loop only satisfies the framework.
	}
	reportLatency(b, took)
}

func benchCount(env string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

func measureRollouts(b *testing.B, n int) []time.Duration {
	const runtimes = 20
	tenant := fmt.Sprintf("tenant-rollout-bench-%d", time.Now().UnixNano())
	group := "bench"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range runtimes {
		var reg struct{ RegisterRuntime struct{ ID string } }
		ok(b, gql(b, tenant, `mutation($n: String!, $l: Labels) { registerRuntime(in: {name: $n, labels: $l}) { id } }`,
			map[string]any{"n": fmt.Sprintf("sim-%02d", i), "l": map[string]any{"rolloutGroup": group}}), &reg)
		a := &simulatedAgent{tenant: tenant, id: reg.RegisterRuntime.ID}
		wg.Add(1)
		go func() { defer wg.Done(); a.run(ctx, errs) }()
	}
	selector := []map[string]any{{"key": "rolloutGroup", "value": group}}
	binding := func(i int) []any {
		return []any{map[string]any{"name": "logging", "type": "bindings.http",
			"metadata": []map[string]any{{"name": "url", "value": fmt.Sprintf("http://127.0.0.1:1/v%d", i)}}}}
	}
	var created struct{ CreateConfiguration struct{ ID string } }
	ok(b, governor(b, tenant, createConfiguration, map[string]any{"in": map[string]any{"labelSelector": selector, "bindings": binding(0)}}), &created)
	id := created.CreateConfiguration.ID
	strategy := map[string]any{"canaryCount": 2, "batchPercent": 50, "soakSeconds": 0, "stepTimeoutSeconds": 120}

	var took []time.Duration
	for i := 1; i <= n; i++ {
		start := time.Now()
		ok(b, governor(b, tenant, `mutation($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { revision } }`,
			map[string]any{"id": id, "in": map[string]any{"labelSelector": selector, "bindings": binding(i), "rollout": strategy}}), nil)
		for deadline := start.Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			var v struct {
				Rollout struct {
					Phase string
					Steps int
					Done  int
				}
			}
			ok(b, governor(b, tenant, `query($id: ID!) { rollout(configurationID: $id) { phase steps done } }`, map[string]any{"id": id}), &v)
			if v.Rollout.Phase == "SUCCEEDED" && v.Rollout.Done == runtimes {
				if v.Rollout.Steps != 3 {
					b.Fatalf("%d steps, want 3", v.Rollout.Steps)
				}
				break
			}
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			if v.Rollout.Phase != "PROGRESSING" || time.Now().After(deadline) {
				b.Fatalf("rollout %d: %+v", i, v.Rollout)
			}
		}
		took = append(took, time.Since(start))
	}
	return took
}
