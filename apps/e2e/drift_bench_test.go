package e2e

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

var driftBench sync.Once

// BenchmarkDriftDetection times drift on a real runtime (its daprd, its agent with the default drift
// settings: a file watch, 500 ms of quiet before comparing): a component file deleted or edited by hand,
// alternately, and how long until
//   - detect: the Governor stored the DRIFTED report (its detectedAt, same clock);
//   - restore: the file is back, byte for byte, in the resources folder;
//   - resolved: the Governor stored the APPLIED report with the drift corrected (after the sidecar
//     loaded the component again).
//
// It drifts MP_BENCH_DRIFTS times (default 10), once per run whatever -benchtime says, 6 s apart (more
// than the 5 s after a correction within which corrections back off), and reports p50/p99 of each.
func BenchmarkDriftDetection(b *testing.B) {
	var detect, restore, resolved []time.Duration
	driftBench.Do(func() { detect, restore, resolved = measureDrift(b, benchCount("MP_BENCH_DRIFTS", 10)) })
	for b.Loop() {
		// The drifts ran once above; the loop only satisfies the framework.
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"detect", detect}, {"restore", restore}, {"resolved", resolved}} {
		if len(m.d) == 0 {
			continue
		}
		slices.Sort(m.d)
		pct := func(p float64) float64 {
			return float64(m.d[min(len(m.d)-1, int(float64(len(m.d))*p))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), m.name+"-p50-ms")
		b.ReportMetric(pct(0.99), m.name+"-p99-ms")
	}
}

func measureDrift(b *testing.B, n int) (detect, restore, resolved []time.Duration) {
	rt := startDriftRuntime(b, "drift-bench", []any{archiveBinding(b.TempDir())})
	waitState(b, driftTenant, rt.id, 90*time.Second, "first revision applied", appliedAt(1))
	want, err := os.ReadFile(rt.file())
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		time.Sleep(6 * time.Second)
		start := time.Now()
		if i%2 == 0 {
			err = os.Remove(rt.file())
		} else {
			err = os.WriteFile(rt.file(), append(slices.Clone(want), "# edited by hand\n"...), 0o644)
		}
		if err != nil {
			b.Fatal(err)
		}
		var back time.Duration
		for deadline := start.Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			if got, err := os.ReadFile(rt.file()); err == nil && string(got) == string(want) {
				back = time.Since(start)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("drift %d: the file was not restored within 30 s", i)
			}
		}
		st := waitState(b, driftTenant, rt.id, 30*time.Second, "drift corrected", func(st runtimeState) bool {
			return st.Drift != nil && st.Drift.DetectedAt.After(start) && st.Drift.ResolvedAt != nil && st.Drift.Corrected
		})
		detect = append(detect, st.Drift.DetectedAt.Sub(start))
		restore = append(restore, back)
		resolved = append(resolved, st.Drift.ResolvedAt.Sub(start))
	}
	return detect, restore, resolved
}
