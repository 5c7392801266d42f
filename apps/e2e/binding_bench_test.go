package e2e

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// waitToken waits until the sink receives a line carrying token after t0 and returns when it arrived.
func (s *logSink) waitToken(t0 time.Time, token string, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, l := range s.since(t0) {
			if l.Token == token {
				return l.At, true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, false
}

var bindingBench sync.Once

// BenchmarkConfigurationToLiveBinding measures how long a Governor change takes to become the binding a
// runtime's workload uses: from the updateConfiguration request to the first log line that reaches the
// newly configured service with the new token. It alternates between two services MP_BENCH_SWITCHES times
// (default 50) and reports p50/p99; the demo workload writes a line every 20 ms, which bounds the error.
func BenchmarkConfigurationToLiveBinding(b *testing.B) {
	switches := 50
	if v, err := strconv.Atoi(os.Getenv("MP_BENCH_SWITCHES")); err == nil && v > 0 {
		switches = v
	}
	var durations []time.Duration
	var failed error
	bindingBench.Do(func() {
		sinks := [2]*logSink{newLogSink(b), newLogSink(b)}
		rt := startLocalRuntimeB(b, "bench", sinks[0], "bench-0")
		if _, ok := sinks[0].waitToken(time.Time{}, "bench-0", 60*time.Second); !ok {
			failed = fmt.Errorf("the runtime never delivered its first line")
			return
		}
		for i := 1; i <= switches; i++ {
			sink, token := sinks[i%2], fmt.Sprintf("bench-%d", i)
			start := time.Now()
			r := rt.configureB(b, loggingBinding(sink.srv.URL, token))
			if len(r.Errors) > 0 {
				failed = fmt.Errorf("switch %d: %s", i, r.Raw)
				return
			}
			at, ok := sink.waitToken(start, token, 30*time.Second)
			if !ok {
				failed = fmt.Errorf("switch %d never became live", i)
				return
			}
			durations = append(durations, at.Sub(start))
		}
	})
	if failed != nil {
		b.Fatal(failed)
	}
	for b.Loop() {
		// The switches ran once above; the loop only satisfies the framework.
	}
	reportLatency(b, append([]time.Duration(nil), durations...))
}
