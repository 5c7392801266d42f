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

// benchSwitches is how many times the binding benchmarks switch services: MP_BENCH_SWITCHES, default 50.
func benchSwitches() int {
	if v, err := strconv.Atoi(os.Getenv("MP_BENCH_SWITCHES")); err == nil && v > 0 {
		return v
	}
	return 50
}

// measureSwitches alternates rt's logging binding between the two sinks n times, starting with sinks[1],
// and returns how long each switch took from the updateConfiguration request to the first line carrying
// the new token at the new sink. prefix names the tokens (prefix-1, prefix-2, ...); slow, when set, hears
// of every switch that took longer than five seconds.
func measureSwitches(b *testing.B, rt *localRuntime, sinks [2]*logSink, prefix string, n int, wait time.Duration,
	slow func(i int, start time.Time, took time.Duration)) ([]time.Duration, error) {
	var durations []time.Duration
	for i := 1; i <= n; i++ {
		sink, token := sinks[i%2], fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		if r := rt.configureB(b, loggingBinding(sink.srv.URL, token)); len(r.Errors) > 0 {
			return nil, fmt.Errorf("switch %d: %s", i, r.Raw)
		}
		at, ok := sink.waitToken(start, token, wait)
		if !ok {
			return nil, fmt.Errorf("switch %d never became live", i)
		}
		took := at.Sub(start)
		durations = append(durations, took)
		if slow != nil && took > 5*time.Second {
			slow(i, start, took)
		}
	}
	return durations, nil
}

// BenchmarkConfigurationToLiveBinding measures how long a Governor change takes to become the binding a
// runtime's workload uses: from the updateConfiguration request to the first log line that reaches the
// newly configured service with the new token. It alternates between two services MP_BENCH_SWITCHES times
// (default 50) and reports p50/p99; the demo workload writes a line every 20 ms, which bounds the error.
func BenchmarkConfigurationToLiveBinding(b *testing.B) {
	var durations []time.Duration
	var failed error
	bindingBench.Do(func() {
		sinks := [2]*logSink{newLogSink(b), newLogSink(b)}
		rt := startLocalRuntimeB(b, "bench", sinks[0], "bench-0")
		if _, ok := sinks[0].waitToken(time.Time{}, "bench-0", 60*time.Second); !ok {
			failed = fmt.Errorf("the runtime never delivered its first line")
			return
		}
		durations, failed = measureSwitches(b, rt, sinks, "bench", benchSwitches(), 30*time.Second, nil)
	})
	if failed != nil {
		b.Fatal(failed)
	}
	for b.Loop() {
		// The switches ran once above; the loop only satisfies the framework.
	}
	reportLatency(b, append([]time.Duration(nil), durations...))
}
