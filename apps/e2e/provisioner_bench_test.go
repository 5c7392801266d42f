package e2e

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var provisionBench sync.Once

// BenchmarkProvisionLocalRuntime measures provisionRuntime of a local runtime through the gateway until the
// operation is Succeeded (its sidecar, workload and agent running, the agent paired and CONNECTED in the
// Director): ten one after another (p50/p99), then ten at once (the time until the last one succeeded).
func BenchmarkProvisionLocalRuntime(b *testing.B) {
	const n = 10
	var (
		durations []time.Duration
		together  time.Duration
		failed    error
	)
	provisionBench.Do(func() {
		if failed = startProvisioner(); failed != nil {
			return
		}
		const tenant = "bench-provision"
		for i := range n {
			start := time.Now()
			op := provisionLocal(b, tenant, fmt.Sprintf("bench-seq-%d", i))
			waitOperation(b, tenant, op.ID, "Succeeded", 120*time.Second)
			durations = append(durations, time.Since(start))
			deprovision(b, tenant, op.RuntimeID)
		}
		// Ten requests one after another (each answers in milliseconds), then the ten operations run at once.
		start := time.Now()
		ops := make([]operationStatus, n)
		for i := range n {
			ops[i] = provisionLocal(b, tenant, fmt.Sprintf("bench-par-%d", i))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = awaitOperation(b, tenant, ops[i].ID, "Succeeded", 180*time.Second)
			}()
		}
		wg.Wait()
		together = time.Since(start)
		if failed = errors.Join(errs...); failed != nil {
			return
		}
		for _, op := range ops {
			deprovision(b, tenant, op.RuntimeID)
		}
	})
	if failed != nil {
		b.Fatal(failed)
	}
	for b.Loop() {
		// The provisioning ran once above; the loop only satisfies the framework.
	}
	reportLatency(b, append([]time.Duration(nil), durations...))
	b.ReportMetric(together.Seconds(), "s-for-10-at-once")
}
