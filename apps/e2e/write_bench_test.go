package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/fleetsim"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// writeConcurrency is how many registrations are in flight at once.
const writeConcurrency = 16

// BenchmarkRegistrationThroughput registers applications through the gateway (registerApplication, with a
// label, as BenchmarkApplicationsAtScale does) at 16 in flight, b.N of them in each of four setups: into one
// tenant and spread over ten, first with the one Director of the stack and then with a second replica
// sharing its Registry (a Director of its own with its own sidecar and the same app id, so that the
// gateway's sidecar spreads the calls over both). Besides registrations/s it reports, from the Directors'
// sidecars' own metrics, what each registration cost the Registry: state transactions committed and
// refused (an ETag or first-write conflict, after which the Registry reads again and retries), and reads.
func BenchmarkRegistrationThroughput(b *testing.B) {
	fmt.Printf("BenchmarkRegistrationThroughput: registry store %s (MP_E2E_REGISTRY)\n", registryStore())
	run := time.Now().UnixNano()
	var calls atomic.Int64 // the framework calls each sub-benchmark more than once: fresh tenants each time
	for _, replicas := range []int{1, 2} {
		for _, tenants := range []int{1, 10} {
			b.Run(fmt.Sprintf("replicas=%d/tenants=%d", replicas, tenants), func(b *testing.B) {
				if replicas == 2 {
					if err := secondDirector(); err != nil {
						b.Fatal(err)
					}
				}
				names := make([]string, tenants)
				for i := range names {
					names[i] = fmt.Sprintf("writes-%d-%d-%d", run, calls.Add(1), i)
				}
				directorReachable(b, names[0])
				before, cpuBefore := registryCalls(b), planeCPU()
				rate := registerSpread(b, names, b.N)
				after, cpuAfter := registryCalls(b), planeCPU()
				n := float64(b.N)
				b.ReportMetric(rate, "registrations/s")
				// CPU-bound when rate × CPU per registration is about the machine's cores.
				b.ReportMetric(float64((cpuAfter-cpuBefore).Microseconds())/1000/n, "plane-cpu-ms/op")
				b.ReportMetric(float64(after.committed-before.committed)/n, "commits/op")
				b.ReportMetric(float64(after.refused-before.refused)/n, "conflicts/op")
				b.ReportMetric(float64(after.reads-before.reads)/n, "reads/op")
			})
		}
	}
}

// secondDirector starts a second Director replica once: the same binary, app id and Registry, its own
// sidecar. It stays up for the rest of the run (the stack stops it), so later calls that name "director"
// reach one replica or the other, as they would on a cluster with two.
var secondDirector = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stack.StartApp(ctx, stacktest.App{ID: "director", Env: map[string]string{"OUTBOX_RELAY_INTERVAL": "1h"}}); err != nil {
		return fmt.Errorf("second director: %w", err)
	}
	// Its sidecar is healthy; the gateway's sidecar finds it by name resolution once it has registered.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if directorDaprdPIDs() == 2 {
			return nil
		}
	}
	return fmt.Errorf("second director: %d director sidecars running", directorDaprdPIDs())
})

// directorReachable waits up to 30 s until a read of tenant through the gateway succeeds: on a loaded
// machine a sidecar's name resolution entry can lapse for a moment, which is not what this measures.
func directorReachable(b *testing.B, tenant string) {
	b.Helper()
	h := http.Header{"Authorization": {"Bearer " + userToken(b, tenant)}}
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/director/graphql", h, `{ applications(first: 1) { totalCount } }`, nil)
		if err == nil && r.Status == http.StatusOK && len(r.Errors) == 0 {
			return
		}
		if last = fmt.Sprint(err); r != nil {
			last = fmt.Sprintf("status %d %.200s", r.Status, r.Raw)
		}
	}
	b.Fatalf("the Director is not reachable through the gateway: %s", last)
}

// registerSpread registers n applications over tenants, round robin, with writeConcurrency in flight, and
// returns registrations per second. Each must succeed.
func registerSpread(b *testing.B, tenants []string, n int) float64 {
	b.Helper()
	url := stack.AppURL("gateway") + "/director/graphql"
	tokens := make([]string, len(tenants))
	for i, t := range tenants {
		tokens[i] = "Bearer " + userToken(b, t)
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 2 * writeConcurrency, MaxIdleConnsPerHost: 2 * writeConcurrency,
	}}
	const mutation = `mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id } }`
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range writeConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				in := map[string]any{"name": fmt.Sprintf("app-%07d", i), "labels": map[string]any{"group": fmt.Sprintf("g%d", i%10)}}
				body, _ := json.Marshal(map[string]any{"query": mutation, "variables": map[string]any{"in": in}})
				if err := registerOne(client, url, tokens[i%len(tokens)], body); err != nil {
					err = fmt.Errorf("registration %d in %s: %w", i, tenants[i%len(tenants)], err)
					failed.Store(&err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	return float64(n) / elapsed.Seconds()
}

func registerOne(client *http.Client, url, auth string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
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
	if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	// Each executed mutation leaves an audit record, which the suite checks at the end.
	stacktest.MutationsAnswered.Add(1)
	return nil
}

// stateCalls counts the Registry's calls to the state API, summed over the Directors' sidecars.
type stateCalls struct {
	committed, refused, reads int64
}

// registryCalls reads the Directors' sidecars' metrics: gRPC calls completed per method and status.
// A refused transaction is one that did not complete OK: the store's ETag or first-write check failed
// (the Registry retries those) or the store failed.
func registryCalls(b *testing.B) stateCalls {
	b.Helper()
	var sum stateCalls
	for _, port := range directorMetricsPorts() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			b.Fatalf("director sidecar metrics: %v", err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "dapr_grpc_io_server_completed_rpcs{") {
				continue
			}
			sp := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[sp+1:], 64)
			if err != nil {
				continue
			}
			ok := strings.Contains(line, `grpc_server_status="OK"`)
			switch {
			case strings.Contains(line, "/ExecuteStateTransaction\""):
				if ok {
					sum.committed += int64(v)
				} else {
					sum.refused += int64(v)
				}
			case strings.Contains(line, "/GetState\""), strings.Contains(line, "/GetBulkState\""):
				sum.reads += int64(v)
			}
		}
		resp.Body.Close()
	}
	return sum
}

// directorMetricsPorts returns the metrics ports of the running Director sidecars, read from their command
// lines: the stack does not keep them.
func directorMetricsPorts() []int {
	var ports []int
	forEachDirectorDaprd(func(args []string) {
		for i, a := range args {
			if a == "--metrics-port" && i+1 < len(args) {
				if p, err := strconv.Atoi(args[i+1]); err == nil {
					ports = append(ports, p)
				}
			}
		}
	})
	return ports
}

func directorDaprdPIDs() int {
	n := 0
	forEachDirectorDaprd(func([]string) { n++ })
	return n
}

// planeCPU returns the CPU time (user and system) used so far by the stack's apps and sidecars: the
// processes running in its folder.
func planeCPU() time.Duration {
	var sum time.Duration
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err != nil || cwd != stack.Dir {
			continue
		}
		if cpu, err := fleetsim.ProcCPU(pid); err == nil {
			sum += cpu
		}
	}
	return sum
}

// forEachDirectorDaprd calls fn with the arguments of each daprd of this stack whose app id is director.
func forEachDirectorDaprd(fn func(args []string)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(raw, []byte(stack.Dir)) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasSuffix(args[0], "daprd") {
			continue
		}
		for i, a := range args {
			if a == "--app-id" && i+1 < len(args) && args[i+1] == "director" {
				fn(args)
				break
			}
		}
	}
}
