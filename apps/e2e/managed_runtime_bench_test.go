package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var managedBench sync.Once

// BenchmarkManagedConfigurationToLiveBinding is BenchmarkConfigurationToLiveBinding (P3) on the managed
// path: from the updateConfiguration request to the first log line at the newly configured service with
// the new token, where the agent writes a Secret and a Component resource to a real kube-apiserver, Dapr's
// operator streams the component to a daprd in Kubernetes mode, and that sidecar hot-reloads it. Same
// workload (a line every 20 ms), same alternation between two services, MP_BENCH_SWITCHES times (50).
func BenchmarkManagedConfigurationToLiveBinding(b *testing.B) {
	var durations []time.Duration
	var failed error
	managedBench.Do(func() {
		sinks := [2]*logSink{newLogSink(b), newLogSink(b)}
		rt := startManagedRuntime(b, "managed-bench", sinks[0], "mbench-0")
		if _, ok := sinks[0].waitToken(time.Time{}, "mbench-0", 2*time.Minute); !ok {
			failed = fmt.Errorf("the managed runtime never delivered its first line")
			return
		}
		durations, failed = measureSwitches(b, rt.localRuntime, sinks, "mbench", benchSwitches(), 60*time.Second,
			func(i int, start time.Time, took time.Duration) {
				// Rare outliers (one of 50 switches, once) are to be explained: say when, to find it in the logs.
				b.Logf("switch %d at %s took %s (logs in %s)", i, start.UTC().Format(time.RFC3339Nano), took, rt.dir)
			})
	})
	if failed != nil {
		b.Fatal(failed)
	}
	for b.Loop() {
		// The switches ran once above; the loop only satisfies the framework.
	}
	reportLatency(b, append([]time.Duration(nil), durations...))
}
