package fleetsim

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func TestPercentile(t *testing.T) {
	var d Durations
	if d.Percentile(0.5) != 0 || d.Max() != 0 {
		t.Fatal("none measured must give 0")
	}
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0.001: time.Millisecond} {
		if got := d.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if d[0] != 100*time.Millisecond {
		t.Error("Percentile sorted the caller's slice")
	}
	if got := (Durations{7 * time.Second}).Percentile(0.99); got != 7*time.Second {
		t.Errorf("one value: p99 = %v", got)
	}
}

func TestClassify(t *testing.T) {
	for want, err := range map[string]error{
		"UPSTREAM_TIMEOUT":    fmt.Errorf("heartbeat: %w", &gqlclient.Error{Code: "UPSTREAM_TIMEOUT", Message: "x"}),
		"http 502":            fmt.Errorf("poll: %w", &gqlclient.StatusError{Status: 502}),
		"too many open files": &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.EMFILE)},
		"connection refused":  &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		"connection reset":    fmt.Errorf("read: %w", syscall.ECONNRESET),
		"timeout":             fmt.Errorf("post: %w", context.DeadlineExceeded),
		"connection closed":   fmt.Errorf("post: %w", io.ErrUnexpectedEOF),
		"other":               fmt.Errorf("something else"),
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestErrorsCountPerPhase(t *testing.T) {
	var e Errors
	e.Add("steady", "heartbeat", &gqlclient.StatusError{Status: 503})
	e.Add("steady", "heartbeat", &gqlclient.StatusError{Status: 503})
	e.Add("fanout", "poll", context.DeadlineExceeded)
	e.Add("fanout", "poll", nil)
	if e.Total("steady") != 2 || e.Total("fanout") != 1 || e.Total("") != 3 || e.Total("start") != 0 {
		t.Fatalf("totals: steady %d fanout %d all %d", e.Total("steady"), e.Total("fanout"), e.Total(""))
	}
	s := e.Summary()
	if len(s) != 2 || !strings.Contains(s[0], "http 503") || !strings.Contains(s[0], "     2  ") {
		t.Fatalf("summary, most frequent first:\n%s", strings.Join(s, "\n"))
	}
}

func TestCallsBetween(t *testing.T) {
	var c Calls
	t0 := time.Now()
	for i := range 10 {
		c.Add(t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Millisecond)
	}
	got := c.Between(t0.Add(2*time.Second), t0.Add(5*time.Second))
	if len(got) != 3 || got[0] != 2*time.Millisecond || got[2] != 4*time.Millisecond {
		t.Fatalf("window [2s, 5s): %v", got)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc shows it verbatim.
	stat := []byte("4242 (daprd (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 1000 2000000 3000 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3250*time.Millisecond {
		t.Fatalf("utime 250 + stime 75 ticks = %v, want 3.25s", cpu)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1")); err == nil {
		t.Fatal("a short stat line must fail")
	}
	rss, threads := parseStatus([]byte("Name:\tdaprd\nVmRSS:\t  153600 kB\nThreads:\t12\n"))
	if rss != 150<<20 || threads != 12 {
		t.Fatalf("rss %d threads %d", rss, threads)
	}
}

func TestReadProcOfItself(t *testing.T) {
	// Burn a little CPU so that the counter has moved past zero ticks.
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.CPU <= 0 || p.RSS <= 0 || p.FDs <= 0 || p.Threads <= 0 {
		t.Fatalf("implausible: %+v", p)
	}
	a := Snapshot{At: time.Now().Add(-time.Second), Procs: map[string]Proc{"me": {PID: 1, CPU: 0}, "gone": {PID: 2}}}
	b := Snapshot{At: a.At.Add(time.Second), Procs: map[string]Proc{"me": {PID: 1, CPU: 500 * time.Millisecond, RSS: 10}, "new": {PID: 3, CPU: time.Hour}}}
	u := Between(a, b)
	if u.Cores["me"] != 0.5 || u.TotalCores != 0.5 || u.TotalRSS != 10 || len(u.Cores) != 1 {
		t.Fatalf("usage: %+v", u)
	}
}

// The fleet must beat, poll and fetch at the real agent's pace: hold the constants to the defaults the
// agent's main declares.
func TestIntervalsAreTheAgents(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "runtime-agent", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]time.Duration{
		"HEARTBEAT_INTERVAL":  AgentHeartbeatInterval,
		"LONG_POLL_WAIT":      AgentPollWait,
		"FULL_FETCH_INTERVAL": AgentFullFetchEvery,
	} {
		m := regexp.MustCompile(`conf:"default:([0-9a-z]+),env:` + env + `"`).FindSubmatch(src)
		if m == nil {
			t.Errorf("%s: no default in the agent's main.go", env)
			continue
		}
		if d, err := time.ParseDuration(string(m[1])); err != nil || d != want {
			t.Errorf("%s: the agent's default is %s, the fleet's %s", env, m[1], want)
		}
	}
}

func TestMarkerOfRevision(t *testing.T) {
	rev := revision.Revision{Bindings: []revision.Binding{
		{Name: "other", Metadata: []revision.Item{{Name: "url", Value: "http://no"}}},
		{Name: FleetBinding, Metadata: []revision.Item{{Name: "method", Value: "POST"}, {Name: "url", Value: "http://x/v3"}}},
	}}
	if got := markerOfRevision(rev); got != "http://x/v3" {
		t.Fatalf("marker %q", got)
	}
	if got := markerOfRevision(revision.Revision{}); got != "" {
		t.Fatalf("marker of an empty revision %q", got)
	}
}

func TestParseCounters(t *testing.T) {
	text := `# HELP dapr_http_server_request_count The number of HTTP requests started in a server.
# TYPE dapr_http_server_request_count counter
dapr_http_server_request_count{app_id="director",method="POST",path="/v1.0/state/registry/transaction",status="204"} 10
dapr_http_server_request_count{app_id="director",method="POST",path="/v1.0/state/registry/transaction",status="500"} 2
dapr_http_server_request_count{app_id="director",method="GET",path="/v1.0/healthz",status="200"} 5
# TYPE dapr_http_server_latency histogram
dapr_http_server_latency_bucket{app_id="director",le="1"} 3
dapr_http_server_latency_count{app_id="director",path="/v1.0/healthz"} 5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.5e+08
# TYPE odd_total counter
odd_total{path="a, \"b\" c"} 1.5
`
	c, err := parseCounters(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{
		"dapr_http_server_request_count{method=POST,path=/v1.0/state/registry/transaction}": 12,
		"dapr_http_server_request_count{method=GET,path=/v1.0/healthz}":                     5,
		"dapr_http_server_latency_count{path=/v1.0/healthz}":                                5,
		`odd_total{path=a, \"b\" c}`:                                                        1.5,
	}
	if len(c) != len(want) {
		t.Fatalf("got %v", c)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, c[k], v, c)
		}
	}
	r := Rates(Counters{"a": 1, "b": 0}, Counters{"a": 11, "b": 100, "c": 1}, 10*time.Second, 0.5)
	if len(r) != 2 || r[0].Series != "b" || r[0].PerSecond != 10 || r[1].PerSecond != 1 {
		t.Fatalf("rates %+v", r)
	}
}
