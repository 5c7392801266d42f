package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/fleetsim"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// pathConcurrency is how many requests are in flight at once, as `wrk -c16` keeps them.
const pathConcurrency = 16

// pathRounds is how many alternating rounds each path gets: the machine is shared, and alternating short
// rounds lets a burst of someone else's load fall on both paths alike instead of on one.
const pathRounds = 8

// pathTarget is one way of sending application(id) to the Director.
type pathTarget struct {
	name string
	url  string
	// header returns the headers of the requests of one round (an assertion is good for a minute, so the
	// direct paths sign one per round).
	header func() http.Header
}

// BenchmarkGatewayPath measures the throughput of application(id) at 16 concurrent requests three ways in
// one run, in alternating rounds:
//
//   - direct: at the Director's own port, as its sidecar would call it (the app token and a caller
//     assertion), the Director reading the Registry through its sidecar;
//   - mesh: through the gateway's sidecar to the Director's (service invocation, mTLS, access policy),
//     with an assertion, but without the gateway;
//   - gateway: the whole public path, with a user's JWT: gateway (token check, assertion signing) → its
//     sidecar → the Director's sidecar → the Director.
//
// It reports each path's requests/s and gateway/direct, the ratio issue 15 asks to be at least 0.5.
func BenchmarkGatewayPath(b *testing.B) {
	const tenant = "bench-path"
	user := http.Header{"Authorization": {"Bearer " + userToken(b, tenant)}}
	id := benchApp(b, user, tenant, "path-app")
	body, err := json.Marshal(map[string]any{"query": getApp, "variables": map[string]any{"id": id}})
	if err != nil {
		b.Fatal(err)
	}
	targets := pathTargets(b, tenant, user)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 4 * pathConcurrency, MaxIdleConnsPerHost: 4 * pathConcurrency, IdleConnTimeout: time.Minute,
	}}
	want := []byte(`"id":"` + id + `"`)

	// Warm up every path (connections, the Director's key cache, the gateway's and sidecars' pools), once
	// it answers at all: on a loaded machine a sidecar's name resolution entry can lapse for a moment.
	for _, t := range targets {
		if err := pathReady(client, t, body, want); err != nil {
			b.Fatalf("%s: %v", t.name, err)
		}
		if _, err := pathRound(client, t, body, want, 4*pathConcurrency); err != nil {
			b.Fatalf("%s: %v", t.name, err)
		}
	}
	per := max(1, b.N/pathRounds)
	elapsed := make([]time.Duration, len(targets))
	done := make([]int, len(targets))
	// CPU time of each process on the path, per target: throughput on a shared machine moves with everyone
	// else's load, the CPU a request costs much less.
	cpu := make([]map[string]time.Duration, len(targets))
	for i := range cpu {
		cpu[i] = map[string]time.Duration{}
	}
	b.ResetTimer()
	for round := 0; round < pathRounds; round++ {
		for i, t := range targets {
			before := pathCPU()
			d, err := pathRound(client, t, body, want, per)
			if err != nil {
				b.Fatalf("%s: %v", t.name, err)
			}
			for p, c := range pathCPU() {
				cpu[i][p] += c - before[p]
			}
			elapsed[i] += d
			done[i] += per
		}
	}
	b.StopTimer()
	rate := make([]float64, len(targets))
	total := make([]float64, len(targets))
	for i, t := range targets {
		rate[i] = float64(done[i]) / elapsed[i].Seconds()
		b.ReportMetric(rate[i], t.name+"-req/s")
		for _, c := range cpu[i] {
			total[i] += float64(c.Microseconds()) / 1000 / float64(done[i])
		}
	}
	b.ReportMetric(rate[2]/rate[0], "gateway/direct")
	b.ReportMetric(rate[1]/rate[0], "mesh/direct")
	if total[0] > 0 && total[2] > 0 {
		// Where a request through the gateway spends CPU, and the ratio of CPU per request (direct over
		// gateway), which is what the throughput ratio tends to on a machine that is CPU-bound.
		for _, p := range pathProcesses {
			b.ReportMetric(float64(cpu[2][p].Microseconds())/1000/float64(done[2]), "gw-path-"+p+"-cpu-ms/op")
		}
		b.ReportMetric(total[0], "direct-cpu-ms/op")
		b.ReportMetric(total[0]/total[2], "cpu-direct/gateway")
	}
	if dir := os.Getenv("MP_PROFILE_DIR"); dir != "" && !pathProfiled {
		// Once: the benchmark runs with b.N = 1 before the real run, and profiles cost 10 s.
		pathProfiled = true
		pathProfiles(b, dir, client, targets[2], body, want)
	}
}

// pathProfiled is set once pathProfiles has run in this process.
var pathProfiled bool

// pathProfileSeconds is how long pathProfiles keeps the gateway path busy while the apps profile it.
const pathProfileSeconds = 10

// pathProfiles takes CPU profiles of the gateway and the Director while requests take the gateway path
// (pathConcurrency in flight, as in the measured rounds), into dir/gateway.pprof and dir/director.pprof:
// where a request's CPU goes in the apps, for `go tool pprof`. It runs after the measurement, so the
// profiler's own cost does not count there. The apps serve profiles only when the stack inherits
// PPROF_ADDR (package profiling), so run the benchmark as
//
//	MP_REQUIRE_E2E=1 PPROF_ADDR=127.0.0.1:0 MP_PROFILE_DIR=/tmp/prof go test -run '^$' -bench 'BenchmarkGatewayPath$' ./apps/e2e/
func pathProfiles(b *testing.B, dir string, client *http.Client, t pathTarget, body, want []byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	apps := []string{"gateway", "director"}
	addrs := make([]string, len(apps))
	for i, app := range apps {
		if addrs[i] = pprofAddr(stack.Log(app)); addrs[i] == "" {
			b.Fatalf("MP_PROFILE_DIR: %s serves no profiles; run with PPROF_ADDR=127.0.0.1:0", app)
		}
	}
	stop := make(chan struct{})
	load := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				load <- nil
				return
			default:
			}
			if _, err := pathRound(client, t, body, want, 4*pathConcurrency); err != nil {
				load <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(apps))
	for i, app := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addrs[i], pathProfileSeconds),
				filepath.Join(dir, app+".pprof"))
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-load; err != nil {
		b.Fatalf("load while profiling: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			b.Fatalf("profile %s: %v", apps[i], err)
		}
	}
	b.Logf("CPU profiles of %v on the gateway path in %s", apps, dir)
}

// pprofAddr returns the address an app's log says it serves profiles at (package profiling), or "".
func pprofAddr(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "pprof listening") {
			return rec.Addr
		}
	}
	return ""
}

// fetchProfile saves the profile at url to path.
func fetchProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, raw)
	}
	return os.WriteFile(path, raw, 0o644)
}

// pathProcesses are the processes a request through the gateway passes, by their stack names.
var pathProcesses = []string{"gateway", "gateway-daprd", "director-daprd", "director"}

// pathCPU returns the CPU time (user and system) each of pathProcesses has used so far; none on a system
// without /proc.
func pathCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, name := range pathProcesses {
		pid, alive := stack.Running(name)
		if !alive {
			continue
		}
		if cpu, err := fleetsim.ProcCPU(pid); err == nil {
			out[name] = cpu
		}
	}
	return out
}

// pathTargets returns the three paths to the Director (direct, mesh, gateway), for a user of tenant whose
// token is in user.
func pathTargets(tb testing.TB, tenant string, user http.Header) []pathTarget {
	signed := func(audience ...string) http.Header {
		now := time.Now()
		raw, err := stack.SignAssertion(assertion.Claims{
			Claims: jwt.Claims{Issuer: assertion.Issuer, Subject: "e2e", Audience: audience,
				ID: fmt.Sprintf("bench-path-%d", now.UnixNano()), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))},
			Tenant: tenant, ConsumerType: identity.ConsumerUser, Scopes: identity.AllScopes,
		})
		if err != nil {
			tb.Fatal(err)
		}
		return http.Header{assertion.Header: {raw}}
	}
	targets := []pathTarget{
		{name: "direct", url: stack.AppURL("director") + "/graphql", header: func() http.Header {
			h := signed("director", "connector")
			h.Set("dapr-api-token", stack.AppToken)
			return h
		}},
		{name: "mesh", url: stack.SidecarURL("gateway") + "/v1.0/invoke/director/method/graphql", header: func() http.Header {
			h := signed("director", "connector")
			h.Set("dapr-api-token", stack.SidecarToken("gateway"))
			return h
		}},
		{name: "gateway", url: stack.AppURL("gateway") + "/director/graphql", header: func() http.Header { return user }},
	}
	return targets
}

// pathReady waits up to 30 s for t to answer one request.
func pathReady(client *http.Client, t pathTarget, body, want []byte) error {
	h := t.header()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err = pathRequest(client, t.url, h, body, want); err == nil {
			return nil
		}
	}
	return err
}

// pathRound sends n requests to t with pathConcurrency in flight and returns how long they took. Every
// answer must be 200 with the application and no GraphQL errors.
func pathRound(client *http.Client, t pathTarget, body, want []byte, n int) (time.Duration, error) {
	h := t.header()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range pathConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && failed.Load() == nil {
				if err := pathRequest(client, t.url, h, body, want); err != nil {
					failed.Store(&err)
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return 0, *p
	}
	return time.Since(start), nil
}

func pathRequest(client *http.Client, url string, h http.Header, body, want []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, want) || bytes.Contains(raw, []byte(`"errors"`)) {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	return nil
}
