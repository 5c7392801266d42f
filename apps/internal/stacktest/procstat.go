package stacktest

import (
	"fmt"
	"slices"
)

// Processes returns the process id of every process the stack started that is still running, by name
// ("<app>", "<app>-daprd", "redis", "sentry", or a StartProcess name), so that benchmarks can read what
// the plane costs from /proc.
func (s *Stack) Processes() map[string]int {
	out := map[string]int{}
	for name := range s.byName {
		if pid, alive := s.Running(name); alive {
			out[name] = pid
		}
	}
	return out
}

// MetricsURL returns the Prometheus endpoint of an app's sidecar (the --metrics-port it was started with).
func (s *Stack) MetricsURL(appID string) (string, error) {
	cmd := s.byName[appID+"-daprd"]
	if cmd == nil {
		return "", fmt.Errorf("no sidecar for %s", appID)
	}
	i := slices.Index(cmd.Args, "--metrics-port")
	if i < 0 || i+1 >= len(cmd.Args) {
		return "", fmt.Errorf("sidecar of %s has no --metrics-port", appID)
	}
	return "http://127.0.0.1:" + cmd.Args[i+1] + "/metrics", nil
}
