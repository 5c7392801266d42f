package e2e

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/fleetsim"
)

// BenchmarkFleet simulates N runtime agents in this process against the suite's plane (real sidecars) and
// reports what they cost it: each agent is a runtime registered in the Director and paired through the
// Connector (one-time token, CSR, a client certificate from the Connector's CA), and runs the agent's own
// packages over the gateway's TLS listener with that certificate — heartbeats every 10 s, the Governor's
// 25 s long poll and 60 s fallback fetch, APPLIED reports. Per N (MP_FLEET_SIZES, default 100,500,1000):
//
//   - enrolment: registerRuntime + one-time token + pairing, MP_FLEET_PAIR_PARALLEL (8) at a time; then
//     the agents start, spread over MP_FLEET_START_SPREAD (1m);
//   - steady state over MP_FLEET_WINDOW (60 s) after the fleet has started and settled: the CPU of the
//     plane's processes (apps, their sidecars, redis, sentry: utime+stime from /proc over wall time, in
//     cores), their resident memory, and the heartbeats' round trip;
//   - heartbeat → status: from an agent sending a heartbeat to an administrator's runtime(id) showing it
//     as lastHeartbeat, probed on 10 agents after the window (the probe's queries would load the window);
//   - fan-out: MP_FLEET_FANOUTS (3) changes of the label-selector configuration every agent follows, each
//     timed from updateConfiguration to every agent having received it (p50, p99, max over agents and
//     changes), and to its APPLIED report being answered;
//   - what failed: every failed call of the agents by phase, operation and kind.
//
// Each N runs once whatever -benchtime says. The machine's load average is printed next to the figures:
// the benchmark process itself (the simulated agents) runs on the same cores as the plane.
func BenchmarkFleet(b *testing.B) {
	for _, n := range fleetSizes(b) {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			r := fleetRun(b, n)
			for b.Loop() {
				// Measured once above; the loop only satisfies the framework.
			}
			r.report(b)
		})
	}
}

func fleetSizes(b *testing.B) []int {
	v := os.Getenv("MP_FLEET_SIZES")
	if v == "" {
		return []int{100, 500, 1000}
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			b.Fatalf("MP_FLEET_SIZES=%q: %q is not a positive number", v, s)
		}
		out = append(out, n)
	}
	return out
}

func benchDuration(env string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(env)); err == nil && d > 0 {
		return d
	}
	return def
}

var (
	fleetMu      sync.Mutex
	fleetResults = map[int]*fleetResult{}
)

// fleetRun measures a fleet of n once per process: the framework may call a benchmark more than once.
func fleetRun(b *testing.B, n int) *fleetResult {
	fleetMu.Lock()
	defer fleetMu.Unlock()
	if r, ok := fleetResults[n]; ok {
		return r
	}
	r := measureFleet(b, n)
	fleetResults[n] = r
	return r
}

// planeProcesses are the stack's processes that make up the plane the fleet talks to.
func planeProcesses(b *testing.B) map[string]int {
	all := stack.Processes()
	out := map[string]int{}
	for _, app := range []string{"gateway", "connector", "director", "governor"} {
		for _, name := range []string{app, app + "-daprd"} {
			pid, ok := all[name]
			if !ok {
				b.Fatalf("plane process %s is not running", name)
			}
			out[name] = pid
		}
	}
	for _, name := range []string{"redis", "sentry"} {
		if pid, ok := all[name]; ok {
			out[name] = pid
		}
	}
	return out
}

type fleetResult struct {
	n                 int
	enrol             fleetsim.Enrolment
	ready             int
	readyIn           time.Duration
	idle, steady      fleetsim.Usage
	peakRSS           int64
	final             fleetsim.Snapshot
	sim               float64 // cores used by this process during the window
	simFDs, simGorout int
	load              [2]float64 // 1-minute load average at the start and the end of the window
	rate              float64    // agent requests per second through the gateway during the window
	beats             fleetsim.Durations
	conditions        map[string]int
	probe             fleetsim.HeartbeatProbe
	fanouts           []fleetsim.Fanout
	fanoutCPU         []float64 // plane CPU-seconds spent per change, until every report's event was published
	// statusOut is, per change, the time from the change to the Governor's sidecar having published one
	// configuration.status event per APPLIED report (0 when it had not within the wait): the relay's lag.
	statusOut    []time.Duration
	fanoutUse    []fleetsim.Usage
	errors       []string
	errorCount   int
	intervals    [3]time.Duration // heartbeat, long poll, fallback fetch
	spread       time.Duration    // the agents' starts are spread over this
	broken       []string         // what failed outside the agents: a plane process gone, the administrator refused
	sidecarRates map[string][]fleetsim.Rate
	// fanoutOps are the Dapr operations of the first change, per agent, by sidecar.
	fanoutOps map[string][]fleetsim.Rate
}

// scrapeSidecars reads the counters of the plane's sidecars; a sidecar that cannot be read is logged and
// left out.
func scrapeSidecars(b *testing.B) map[string]fleetsim.Counters {
	out := map[string]fleetsim.Counters{}
	for _, app := range []string{"gateway", "connector", "director", "governor"} {
		url, err := stack.MetricsURL(app)
		if err == nil {
			out[app], err = fleetsim.ScrapeCounters(context.Background(), url)
		}
		if err != nil {
			b.Logf("metrics of %s's sidecar: %v", app, err)
		}
	}
	return out
}

// topicConfigurationStatus is the Governor's topic of agents' reports.
const topicConfigurationStatus = "configuration.status"

// waitPublished waits until app's sidecar has published want events on topic since the counters were
// at before, and returns how long after since that was; 0 if it had not when timeout passed.
func waitPublished(b *testing.B, app string, before fleetsim.Counters, topic string, want float64, since time.Time, timeout time.Duration) time.Duration {
	url, err := stack.MetricsURL(app)
	if err != nil {
		b.Logf("metrics of %s's sidecar: %v", app, err)
		return 0
	}
	published := func(c fleetsim.Counters) float64 {
		sum := 0.0
		for k, v := range c {
			if strings.HasPrefix(k, "dapr_component_pubsub_egress_count{") && strings.Contains(k, "success=true") &&
				strings.Contains(k, "topic="+topic+"}") {
				sum += v
			}
		}
		return sum
	}
	want += published(before)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		c, err := fleetsim.ScrapeCounters(context.Background(), url)
		if err != nil {
			b.Logf("metrics of %s's sidecar: %v", app, err)
			return 0
		}
		if published(c) >= want {
			return time.Since(since)
		}
	}
	return 0
}

func measureFleet(b *testing.B, n int) *fleetResult {
	ctx := context.Background()
	r := &fleetResult{n: n}
	window := benchDuration("MP_FLEET_WINDOW", time.Minute)
	changes := benchCount("MP_FLEET_FANOUTS", 3)
	parallel := benchCount("MP_FLEET_PAIR_PARALLEL", 8)
	// A fleet comes up over a while, not in one second; a whole fleet reconnecting at once (the plane back
	// from an outage) is MP_FLEET_START_SPREAD=1s.
	r.spread = benchDuration("MP_FLEET_START_SPREAD", time.Minute)

	stamp := time.Now().Unix()
	tenant := fmt.Sprintf("tenant-fleet-%d-%d", n, stamp)
	tag := fmt.Sprintf("f%d-%d", n, stamp)
	admin := &fleetsim.Admin{GatewayURL: stack.AppURL("gateway"), Token: userToken(b, tenant), HTTP: fleetsim.DefaultHTTP()}
	ca, err := os.ReadFile(filepath.Join(stack.Dir, "tls", "gateway.crt"))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		b.Fatal("gateway.crt holds no certificate")
	}
	procs := planeProcesses(b)
	// A plane process that exits under the load is what broke: it is recorded, and the rest is measured.
	take := func() fleetsim.Snapshot {
		s, err := fleetsim.Take(procs)
		if err != nil {
			r.broken = append(r.broken, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), err))
		}
		return s
	}
	marker := func(k int) string { return fmt.Sprintf("http://127.0.0.1:1/%s/v%d", tag, k) }

	// What the plane costs with no fleet, to tell the fleet's share from the suite's own timers (health
	// rounds, the Governor's rollout tick, sidecars' housekeeping).
	a := take()
	time.Sleep(10 * time.Second)
	r.idle = fleetsim.Between(a, take())

	configID, err := admin.CreateConfiguration(ctx, "fleet", tag, marker(0))
	if err != nil {
		b.Fatal(err)
	}
	// The agent's intervals; the variables exist for experiments that take one kind of traffic away.
	r.intervals = [3]time.Duration{
		benchDuration("MP_FLEET_HEARTBEAT_INTERVAL", fleetsim.AgentHeartbeatInterval),
		benchDuration("MP_FLEET_POLL_WAIT", fleetsim.AgentPollWait),
		benchDuration("MP_FLEET_FULL_FETCH", fleetsim.AgentFullFetchEvery),
	}
	fleet := fleetsim.New(fleetsim.Config{
		GatewayURL: stack.AppURL("gateway"), GatewaySecureURL: stack.AppTLSURL("gateway"), GatewayCA: pool,
		Admin: admin, LabelKey: "fleet", LabelValue: tag,
		HeartbeatInterval: r.intervals[0], PollWait: r.intervals[1], FullFetchEvery: r.intervals[2],
	})
	defer func() {
		fleet.SetPhase("stop")
		fleet.Stop()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := fleet.Unenroll(cctx, parallel); err != nil {
			b.Logf("cleaning up: %v", err)
		}
		if err := admin.DeleteConfiguration(cctx, configID); err != nil {
			b.Logf("cleaning up: %v", err)
		}
	}()

	fmt.Printf("fleet %d: enrolling (%d at a time)...\n", n, parallel)
	r.enrol = fleet.Enroll(ctx, n, parallel, "fleet-"+tag)
	if r.enrol.Enrolled == 0 {
		b.Fatalf("no runtime enrolled:\n%s", strings.Join(fleet.Errors.Summary(), "\n"))
	}

	fleet.SetPhase("start")
	start := time.Now()
	fleet.Start(r.spread)
	r.ready = fleet.WaitReady(ctx, marker(0), r.spread+4*time.Minute)
	r.readyIn = time.Since(start)
	fmt.Printf("fleet %d: %d/%d agents beating and configured after %s\n", n, r.ready, len(fleet.Agents), r.readyIn.Round(time.Second))

	// Settle past the start's burst (first fetches, first reports) into the agents' own rhythm.
	fleet.SetPhase("steady")
	time.Sleep(15 * time.Second)
	self := os.Getpid()
	selfA, _ := fleetsim.ReadProc(self)
	a = take()
	countersA := scrapeSidecars(b)
	r.load[0] = fleetsim.LoadAvg()
	for end := time.Now().Add(window); time.Now().Before(end); {
		time.Sleep(min(5*time.Second, time.Until(end)))
		s := take()
		var rss int64
		for _, p := range s.Procs {
			rss += p.RSS
		}
		r.peakRSS = max(r.peakRSS, rss)
		r.final = s
	}
	r.steady = fleetsim.Between(a, r.final)
	countersB := scrapeSidecars(b)
	r.sidecarRates = map[string][]fleetsim.Rate{}
	for app, cb := range countersB {
		for _, rt := range fleetsim.Rates(countersA[app], cb, r.steady.Wall, 0.2) {
			// What Dapr did, not how the Go runtime under it fared.
			if strings.HasPrefix(rt.Series, "dapr_") && !strings.Contains(rt.Series, "bytes") && !strings.Contains(rt.Series, "latency") {
				r.sidecarRates[app] = append(r.sidecarRates[app], rt)
			}
		}
	}
	r.load[1] = fleetsim.LoadAvg()
	selfB, _ := fleetsim.ReadProc(self)
	r.sim = float64(selfB.CPU-selfA.CPU) / float64(r.steady.Wall)
	r.simFDs, r.simGorout = selfB.FDs, runtime.NumGoroutine()
	from, to := a.At, r.final.At
	r.beats = fleet.Beats.Between(from, to)
	calls := len(r.beats) + len(fleet.Polls.Between(from, to)) + len(fleet.Fetches.Between(from, to)) + len(fleet.Reports.Between(from, to))
	r.rate = float64(calls) / r.steady.Wall.Seconds()
	if r.conditions, err = admin.Conditions(ctx, "fleet", tag); err != nil {
		r.broken = append(r.broken, fmt.Sprintf("runtime conditions: %v", err))
	}

	fleet.SetPhase("probe")
	r.probe = fleet.ProbeHeartbeats(ctx, 10, 2*fleetsim.AgentHeartbeatInterval+time.Second, 20*time.Millisecond)

	fleet.SetPhase("fanout")
	for k := 1; k <= changes; k++ {
		before := take()
		if k == 1 {
			profileFanout(b, n)
		}
		opsBefore := scrapeSidecars(b)
		fo, err := fleet.Change(ctx, configID, marker(k), 2*time.Minute)
		if k == 1 {
			// Counted over the change, in operations per agent: Rates over a wall of n seconds.
			r.fanoutOps = map[string][]fleetsim.Rate{}
			for app, cb := range scrapeSidecars(b) {
				for _, rt := range fleetsim.Rates(opsBefore[app], cb, time.Duration(n)*time.Second, 0.05) {
					if strings.HasPrefix(rt.Series, "dapr_") && !strings.Contains(rt.Series, "bytes") && !strings.Contains(rt.Series, "latenc") {
						r.fanoutOps[app] = append(r.fanoutOps[app], rt)
					}
				}
			}
		}
		if err != nil {
			// The change itself did not go through: the plane refused or timed out its administrator.
			r.broken = append(r.broken, fmt.Sprintf("fan-out %d: %v", k, err))
		}
		// The change is done when what it set off is: the reports' events go out through the Governor's outbox
		// after the reports are answered, and that work is the change's too.
		r.statusOut = append(r.statusOut, waitPublished(b, "governor", opsBefore["governor"], topicConfigurationStatus,
			float64(len(fo.Reported)), before.At, 2*time.Minute))
		u := fleetsim.Between(before, take())
		r.fanouts = append(r.fanouts, fo)
		r.fanoutCPU = append(r.fanoutCPU, u.TotalCores*u.Wall.Seconds())
		r.fanoutUse = append(r.fanoutUse, u)
		time.Sleep(5 * time.Second)
	}
	for _, p := range []string{"enroll", "start", "steady", "probe", "fanout"} {
		r.errorCount += fleet.Errors.Total(p)
	}
	r.errors = fleet.Errors.Summary()
	r.print()
	return r
}

func (r *fleetResult) fanout() (received, reported fleetsim.Durations, missed int) {
	for _, f := range r.fanouts {
		received = append(received, f.Received...)
		reported = append(reported, f.Reported...)
		missed += f.Missed
	}
	return received, reported, missed
}

func (r *fleetResult) report(b *testing.B) {
	received, reported, missed := r.fanout()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(r.enrol.Enrolled), "agents")
	b.ReportMetric(r.enrol.Rate(), "paired/s")
	b.ReportMetric(r.steady.TotalCores, "plane-cores")
	b.ReportMetric(r.idle.TotalCores, "idle-plane-cores")
	b.ReportMetric(float64(r.steady.TotalRSS)/(1<<20), "plane-RSS-MB")
	b.ReportMetric(r.sim, "sim-cores")
	if r.rate > 0 {
		// The plane's CPU per agent request: comparable across fleet sizes, and what a budget divides.
		b.ReportMetric(1000*(r.steady.TotalCores-r.idle.TotalCores)/r.rate, "cpu-ms/agent-req")
	}
	b.ReportMetric(r.rate, "agent-req/s")
	b.ReportMetric(fleetsim.Ms(r.beats.Percentile(0.5)), "hb-p50-ms")
	b.ReportMetric(fleetsim.Ms(r.beats.Percentile(0.99)), "hb-p99-ms")
	b.ReportMetric(fleetsim.Ms(r.probe.Visible.Percentile(0.5)), "hb-visible-p50-ms")
	b.ReportMetric(fleetsim.Ms(r.probe.Visible.Percentile(0.99)), "hb-visible-p99-ms")
	b.ReportMetric(fleetsim.Ms(received.Percentile(0.5)), "fanout-p50-ms")
	b.ReportMetric(fleetsim.Ms(received.Percentile(0.99)), "fanout-p99-ms")
	b.ReportMetric(fleetsim.Ms(received.Max()), "fanout-max-ms")
	b.ReportMetric(fleetsim.Ms(reported.Max()), "applied-max-ms")
	b.ReportMetric(float64(missed), "fanout-missed")
	b.ReportMetric(float64(r.errorCount), "errors")
	b.ReportMetric(float64(r.enrol.Enrolled-r.ready), "not-ready")
	b.ReportMetric(r.load[1], "load1")
}

func (r *fleetResult) print() {
	received, reported, missed := r.fanout()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", fleetsim.Ms(d)) }
	var w strings.Builder
	fmt.Fprintf(&w, "\n== fleet of %d simulated agents (load average %.2f → %.2f over the window) ==\n", r.n, r.load[0], r.load[1])
	e := r.enrol
	fmt.Fprintf(&w, "enrolment     %d enrolled, %d failed in %s: %.1f runtimes/s (register p50 %s, token p50 %s, pair p50 %s p99 %s)\n",
		e.Enrolled, e.Failed, e.Wall.Round(time.Second), e.Rate(), ms(e.Register.Percentile(0.5)), ms(e.Token.Percentile(0.5)),
		ms(e.Pair.Percentile(0.5)), ms(e.Pair.Percentile(0.99)))
	if r.intervals != [3]time.Duration{fleetsim.AgentHeartbeatInterval, fleetsim.AgentPollWait, fleetsim.AgentFullFetchEvery} {
		fmt.Fprintf(&w, "EXPERIMENT    not the agent's intervals: heartbeat %s, long poll %s, fallback fetch %s\n", r.intervals[0], r.intervals[1], r.intervals[2])
	}
	fmt.Fprintf(&w, "start         %d agents beating and configured after %s (starts spread over %s)\n", r.ready, r.readyIn.Round(time.Second), r.spread)
	perReq := 0.0
	if r.rate > 0 {
		perReq = 1000 * (r.steady.TotalCores - r.idle.TotalCores) / r.rate
	}
	fmt.Fprintf(&w, "steady state  plane %.2f cores (idle before the fleet: %.2f; %.1f ms of CPU per agent request above idle), RSS %.0f MB (peak %.0f MB), %.0f agent requests/s; this process %.2f cores, %d fds, %d goroutines\n",
		r.steady.TotalCores, r.idle.TotalCores, perReq, float64(r.steady.TotalRSS)/(1<<20), float64(r.peakRSS)/(1<<20), r.rate, r.sim, r.simFDs, r.simGorout)
	names := make([]string, 0, len(r.final.Procs))
	for name := range r.final.Procs {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(&w, "  %-16s %6s %6s %6s %6s %6s %8s\n", "process", "cores", "idle", "RSS MB", "fds", "socks", "threads")
	for _, name := range names {
		p := r.final.Procs[name]
		fmt.Fprintf(&w, "  %-16s %6.3f %6.3f %6.0f %6d %6d %8d\n", name, r.steady.Cores[name], r.idle.Cores[name], float64(p.RSS)/(1<<20), p.FDs, p.Sockets, p.Threads)
	}
	for _, app := range []string{"gateway", "connector", "director", "governor"} {
		printRates(&w, fmt.Sprintf("  %s-daprd, per second over the window:", app), r.sidecarRates[app], 16, "%8.1f")
	}
	fmt.Fprintf(&w, "heartbeats    %d in the window, round trip p50 %s p99 %s; runtimes by condition %v\n",
		len(r.beats), ms(r.beats.Percentile(0.5)), ms(r.beats.Percentile(0.99)), r.conditions)
	p := r.probe
	fmt.Fprintf(&w, "hb → status   %d probed: stamped by the Director p50 %s p99 %s, visible to runtime(id) p50 %s p99 %s; %d not shown, %d not CONNECTED\n",
		len(p.Visible), ms(p.Stamped.Percentile(0.5)), ms(p.Stamped.Percentile(0.99)), ms(p.Visible.Percentile(0.5)), ms(p.Visible.Percentile(0.99)), p.Missed, p.NotConnected)
	for i, f := range r.fanouts {
		out := "not all within 2 min"
		if r.statusOut[i] > 0 {
			out = ms(r.statusOut[i])
		}
		fmt.Fprintf(&w, "fan-out %d     write %s; received p50 %s p99 %s max %s; APPLIED answered max %s; their status events out %s; missed %d; plane CPU %.1f s\n",
			i+1, ms(f.Write), ms(f.Received.Percentile(0.5)), ms(f.Received.Percentile(0.99)), ms(f.Received.Max()), ms(f.Reported.Max()), out, f.Missed, r.fanoutCPU[i])
		// Where a change's CPU went, in CPU-seconds per process, largest first.
		u := r.fanoutUse[i]
		names := slices.SortedFunc(maps.Keys(u.Cores), func(a, b string) int { return cmp.Compare(u.Cores[b], u.Cores[a]) })
		var parts []string
		for _, n := range names {
			if sec := u.Cores[n] * u.Wall.Seconds(); sec >= 0.1 {
				parts = append(parts, fmt.Sprintf("%s %.1f", n, sec))
			}
		}
		fmt.Fprintf(&w, "              over %s: %s\n", u.Wall.Round(100*time.Millisecond), strings.Join(parts, ", "))
		if i == 0 {
			for _, app := range []string{"gateway", "director", "governor"} {
				printRates(&w, fmt.Sprintf("              %s-daprd, per agent over the change:", app), r.fanoutOps[app], 12, "%8.2f")
			}
		}
	}
	fmt.Fprintf(&w, "fan-out all   received p50 %s p99 %s max %s; APPLIED answered p99 %s max %s; missed %d\n",
		ms(received.Percentile(0.5)), ms(received.Percentile(0.99)), ms(received.Max()), ms(reported.Percentile(0.99)), ms(reported.Max()), missed)
	for _, l := range r.broken {
		fmt.Fprintf(&w, "BROKE         %s\n", l)
	}
	fmt.Fprintf(&w, "failures      %d calls of the agents\n", r.errorCount)
	for _, l := range r.errors {
		fmt.Fprintf(&w, "  %s\n", l)
	}
	fmt.Print(w.String())
}

// fanoutProfileSeconds is how long profileFanout profiles the apps from the moment a change is written.
const fanoutProfileSeconds = 8

// profileFanout takes, when MP_PROFILE_DIR is set, CPU profiles of the gateway, the Governor and the
// Director for the first seconds of a change reaching the fleet of n agents, into
// MP_PROFILE_DIR/fanout-<n>-<app>.pprof, in the background. As for BenchmarkGatewayPath, the apps serve
// profiles only when the stack inherits PPROF_ADDR=127.0.0.1:0.
func profileFanout(b *testing.B, n int) {
	dir := os.Getenv("MP_PROFILE_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, app := range []string{"gateway", "governor", "director"} {
		addr := pprofAddr(stack.Log(app))
		if addr == "" {
			b.Fatalf("MP_PROFILE_DIR: %s serves no profiles; run with PPROF_ADDR=127.0.0.1:0", app)
		}
		go func() {
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, fanoutProfileSeconds)
			if err := fetchProfile(url, filepath.Join(dir, fmt.Sprintf("fanout-%d-%s.pprof", n, app))); err != nil {
				b.Logf("profile of %s: %v", app, err)
			}
		}()
	}
}

// printRates prints title and then the first max of rates, one per line, each value in format.
func printRates(w io.Writer, title string, rates []fleetsim.Rate, max int, format string) {
	fmt.Fprint(w, title)
	for i, rt := range rates {
		if i == max {
			fmt.Fprintf(w, " (%d more)", len(rates)-i)
			break
		}
		fmt.Fprintf(w, "\n    "+format+"  %s", rt.PerSecond, rt.Series)
	}
	fmt.Fprintln(w)
}
