package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/local"
)

// startProvisioner starts the Provisioner once, with short limits, its local runtimes under the stack's
// folder and pointed at the stack's gateway.
var startProvisioner = sync.OnceValue(func() error {
	root, err := stacktest.RepoRoot()
	if err != nil {
		return err
	}
	daprd, err := stacktest.Daprd(root)
	if err != nil {
		return err
	}
	env := provisionerEnv()
	env["DAPRD"] = daprd
	return stack.StartApp(context.Background(), stacktest.App{ID: "provisioner", Env: env})
})

// provisionerEnv is the suite's Provisioner's environment; a test that restarts it with other values
// restores these.
func provisionerEnv() map[string]string {
	return map[string]string{
		"BIN_DIR":                    filepath.Join(stack.Dir, "bin"),
		"RUNTIMES_DIR":               runtimesDir(),
		"RUNTIME_CONNECTOR_URL":      stack.AppURL("gateway") + "/connector/graphql",
		"RUNTIME_GATEWAY_SECURE_URL": stack.AppTLSURL("gateway"),
		"RUNTIME_GATEWAY_CA_FILE":    filepath.Join(stack.Dir, "tls", "gateway.crt"),
		"RUNTIME_HEARTBEAT_INTERVAL": "1s",
		"STAGE_TIMEOUT":              "60s",
		"OPERATION_LEASE":            "3s",
		"OPERATION_POLL":             "200ms",
		"OUTBOX_RELAY_INTERVAL":      "1s",
	}
}

func runtimesDir() string { return filepath.Join(stack.Dir, "runtimes") }

// stopLocalRuntimes ends whatever local runtimes the suite's Provisioner left running: they run in
// sessions of their own, outside the stack's process groups.
func stopLocalRuntimes() { local.StopAll(runtimesDir()) }

func provisioner(t testing.TB, tenant, query string, vars map[string]any) *stacktest.Response {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + userToken(t, tenant)}}
	r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/provisioner/graphql", h, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type operationStatus struct {
	ID, Operation, State, Message, RuntimeID, Stage string
	LastError                                       *struct{ ErrMessage, Reason, Component string }
}

const operationFields = `id operation state message runtimeID stage lastError { errMessage reason component }`

func waitOperation(t testing.TB, tenant, id string, want string, timeout time.Duration) operationStatus {
	t.Helper()
	op, err := awaitOperation(t, tenant, id, want, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// awaitOperation polls an operation until it is in state want; it may run off the test's goroutine.
func awaitOperation(t testing.TB, tenant, id string, want string, timeout time.Duration) (operationStatus, error) {
	var last operationStatus
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var out struct{ RuntimeOperationStatus operationStatus }
		r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/provisioner/graphql",
			http.Header{"Authorization": {"Bearer " + userToken(t, tenant)}},
			`query($id: String!) { runtimeOperationStatus(id: $id) { `+operationFields+` } }`, map[string]any{"id": id})
		if err != nil {
			return last, err
		}
		if r.Status == http.StatusServiceUnavailable {
			continue // a Provisioner the test restarted is not listening yet
		}
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			return last, fmt.Errorf("runtimeOperationStatus: %d %s", r.Status, r.Raw)
		}
		if err := json.Unmarshal(r.Data, &out); err != nil {
			return last, err
		}
		last = out.RuntimeOperationStatus
		if last.State == want {
			return last, nil
		}
		if last.State == "Failed" || last.State == "Succeeded" {
			break
		}
	}
	return last, fmt.Errorf("operation %s: %+v (last error %+v), want %s", id, last, last.LastError, want)
}

// pids returns the processes a local runtime runs, from the pid files the backend keeps.
func pids(t *testing.T, runtimeID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(runtimesDir(), runtimeID, "pids", "*.pid"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(raw))
		if len(fields) == 0 {
			t.Fatalf("pid file %s is empty: the backend writes them whole (rename), so none should be", f)
		}
		pid, _ := strconv.Atoi(fields[0])
		out[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	return out
}

func TestProvisionAndDeprovisionALocalRuntime(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	const tenant = "tenant-provisioner"
	var prov struct{ ProvisionRuntime operationStatus }
	ok(t, provisioner(t, tenant, `mutation { provisionRuntime(config: {
		runtimeInput: {name: "edge-one", description: "a local runtime", labels: {team: "blue"}}
		clusterConfig: {localConfig: {logInterval: "100ms"}}
	}) { `+operationFields+` } }`, nil), &prov)
	op := prov.ProvisionRuntime
	if op.Operation != "Provision" || (op.State != "Pending" && op.State != "InProgress") || op.RuntimeID == "" {
		t.Fatalf("provisionRuntime answered %+v", op)
	}

	// A second mutating operation while this one runs is refused with a 400 for the upstream client.
	r := provisioner(t, tenant, `mutation($id: String!) { deprovisionRuntime(id: $id) }`, map[string]any{"id": op.RuntimeID})
	if len(r.Errors) == 0 || !strings.Contains(string(r.Raw), `"error_code":400`) || !strings.Contains(string(r.Raw), "err_operation_in_progress") {
		t.Fatalf("second operation: %s", r.Raw)
	}

	waitOperation(t, tenant, op.ID, "Succeeded", 90*time.Second)

	// The Director knows it as a connected runtime, labelled with its backend.
	var rt struct {
		Runtime struct {
			Name   string
			Labels map[string]any
			Status struct{ Condition string }
		}
	}
	ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { name labels status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
	if rt.Runtime.Status.Condition != "CONNECTED" || rt.Runtime.Labels["provisioner_backend"] != "local" || rt.Runtime.Labels["team"] != "blue" {
		t.Fatalf("runtime in the Director: %+v", rt.Runtime)
	}
	// And with its cluster: this machine (set by the Director from the operation's events, so a moment later).
	host, _ := os.Hostname()
	for deadline := time.Now().Add(15 * time.Second); rt.Runtime.Labels["provisioner_cluster"] != "local/"+host; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runtime labels %v, want provisioner_cluster=local/%s", rt.Runtime.Labels, host)
		}
		ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { name labels status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
	}
	var st struct {
		RuntimeStatus struct {
			LastOperationStatus     operationStatus
			RuntimeConnectionStatus struct{ Status string }
			RuntimeConfiguration    struct {
				Backend     string
				LocalConfig struct{ LogInterval string }
			}
		}
	}
	ok(t, provisioner(t, tenant, `query($id: String!) { runtimeStatus(id: $id) {
		lastOperationStatus { `+operationFields+` }
		runtimeConnectionStatus { status }
		runtimeConfiguration { backend localConfig { logInterval } }
	} }`, map[string]any{"id": op.RuntimeID}), &st)
	if st.RuntimeStatus.RuntimeConnectionStatus.Status != "Connected" || st.RuntimeStatus.LastOperationStatus.ID != op.ID ||
		st.RuntimeStatus.RuntimeConfiguration.Backend != "local" || st.RuntimeStatus.RuntimeConfiguration.LocalConfig.LogInterval != "100ms" {
		t.Fatalf("runtimeStatus: %+v", st.RuntimeStatus)
	}
	// Another tenant sees nothing of it.
	other := provisioner(t, "tenant-provisioner-other", `query($id: String!) { runtimeStatus(id: $id) { runtimeConnectionStatus { status } } }`,
		map[string]any{"id": op.RuntimeID})
	if len(other.Errors) == 0 || !strings.Contains(string(other.Raw), "err_db_not_found") {
		t.Fatalf("another tenant: %s", other.Raw)
	}

	// The Governor's configuration for it becomes a live binding in its own sidecar.
	sink := newLogSink(t)
	t0 := time.Now()
	ok(t, governor(t, tenant, createConfiguration, map[string]any{"in": map[string]any{
		"runtimeID": op.RuntimeID, "bindings": []any{loggingBinding(sink.srv.URL, "provisioned-token")},
	}}), nil)
	if line := sink.waitLine(t, t0, 30*time.Second); line.Token != "provisioned-token" {
		t.Fatalf("the provisioned runtime's workload logged %+v", line)
	}

	procs := pids(t, op.RuntimeID)
	if len(procs) != 3 {
		t.Fatalf("processes of the runtime: %v", procs)
	}
	// The Provisioner's records hold tokens: encrypted at rest, none of them readable in the database.
	files, _ := filepath.Glob(filepath.Join(stack.Dir, "provisionerstore.db*"))
	if len(files) == 0 {
		t.Fatal("no provisioner database")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// state.sqlite keeps each value base64-encoded: a readable registry record starts with the
		// encoding of {"data": — an encrypted one with that of random bytes.
		if strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte(`{"data":`))[:10]) {
			t.Errorf("%s holds registry records in the clear", filepath.Base(f))
		}
	}
	var dep struct{ DeprovisionRuntime string }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { deprovisionRuntime(id: $id) }`, map[string]any{"id": op.RuntimeID}), &dep)
	waitOperation(t, tenant, dep.DeprovisionRuntime, "Succeeded", 60*time.Second)
	for name, pid := range procs {
		if local.Alive(pid) {
			t.Errorf("%s (pid %d) still runs after deprovisioning", name, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(runtimesDir(), op.RuntimeID)); !os.IsNotExist(err) {
		t.Errorf("the runtime's folder is still there: %v", err)
	}
	var gone struct{ Runtime *struct{ ID string } }
	ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { id } }`, map[string]any{"id": op.RuntimeID}), &gone)
	if gone.Runtime != nil {
		t.Fatal("the runtime is still registered in the Director")
	}
}

// daprdsFor counts the daprd processes serving a local runtime's folder: exactly one, or something leaked.
func daprdsFor(t *testing.T, runtimeID string) int {
	t.Helper()
	dir := filepath.Join(runtimesDir(), runtimeID)
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(raw), "\x00", " ")
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if strings.Contains(cmd, "daprd") && strings.Contains(cmd, dir+"/") && local.Alive(pid) {
			n++
		}
	}
	return n
}

func provisionLocal(t testing.TB, tenant, name string) operationStatus {
	t.Helper()
	var prov struct{ ProvisionRuntime operationStatus }
	ok(t, provisioner(t, tenant, `mutation($n: String!) { provisionRuntime(config: {
		runtimeInput: {name: $n}, clusterConfig: {localConfig: {}}
	}) { `+operationFields+` } }`, map[string]any{"n": name}), &prov)
	return prov.ProvisionRuntime
}

func deprovision(t testing.TB, tenant, runtimeID string) {
	t.Helper()
	var dep struct{ DeprovisionRuntime string }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { deprovisionRuntime(id: $id) }`, map[string]any{"id": runtimeID}), &dep)
	waitOperation(t, tenant, dep.DeprovisionRuntime, "Succeeded", 60*time.Second)
}

// kill -9 of the Provisioner in the middle of provisioning: the operation resumes where it was and
// succeeds, adopting what it had started rather than starting it again.
func TestProvisioningSurvivesAKilledProvisioner(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	const tenant = "tenant-provisioner-crash"
	op := provisionLocal(t, tenant, "edge-crash")
	// Wait until the runtime's sidecar is up, then kill the Provisioner.
	for deadline := time.Now().Add(30 * time.Second); daprdsFor(t, op.RuntimeID) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the runtime's sidecar never started")
		}
	}
	if err := stack.Kill("provisioner"); err != nil {
		t.Fatal(err)
	}
	if err := stack.Respawn("provisioner"); err != nil {
		t.Fatal(err)
	}
	done := waitOperation(t, tenant, op.ID, "Succeeded", 90*time.Second)
	if n := daprdsFor(t, op.RuntimeID); n != 1 {
		t.Fatalf("%d sidecars for the runtime after the resumed operation, want 1 (%+v)", n, done)
	}
	if procs := pids(t, op.RuntimeID); len(procs) != 3 {
		t.Fatalf("processes %v", procs)
	}
	for name, pid := range pids(t, op.RuntimeID) {
		if !local.Alive(pid) {
			t.Errorf("%s (pid %d) is not running", name, pid)
		}
	}
	deprovision(t, tenant, op.RuntimeID)
	if n := daprdsFor(t, op.RuntimeID); n != 0 {
		t.Fatalf("%d sidecars left after deprovisioning", n)
	}
}

// An agent that never connects ends the operation Failed after the stage's limit, and the Director's
// runtime FAILED.
func TestProvisioningFailsWhenTheAgentNeverConnects(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	// A provisioner whose runtimes' agents are sent to a gateway that is not there, with a short limit.
	restartProvisioner(t, map[string]string{
		"RUNTIME_CONNECTOR_URL": "http://127.0.0.1:9/connector/graphql", "RUNTIME_GATEWAY_SECURE_URL": "https://127.0.0.1:9",
		"STAGE_TIMEOUT": "6s",
	})
	t.Cleanup(func() { restartProvisioner(t, provisionerEnv()) })
	const tenant = "tenant-provisioner-fail"
	op := provisionLocal(t, tenant, "edge-lonely")
	failed := waitOperation(t, tenant, op.ID, "Failed", 60*time.Second)
	if failed.LastError == nil || failed.LastError.Reason != "err_timeout" || failed.LastError.Component != "runtime-agent" || failed.Stage != "wait-connected" {
		t.Fatalf("failed operation: %+v %+v", failed, failed.LastError)
	}
	var rt struct {
		Runtime struct {
			Status struct{ Condition, Reason string }
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { status { condition reason } } }`, map[string]any{"id": op.RuntimeID}), &rt)
		if rt.Runtime.Status.Condition == "FAILED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Director's runtime is %+v, want FAILED", rt.Runtime.Status)
		}
	}
	if !strings.Contains(rt.Runtime.Status.Reason, "did not finish") {
		t.Fatalf("reason %q", rt.Runtime.Status.Reason)
	}
	deprovision(t, tenant, op.RuntimeID)
}

// restartProvisioner restarts the Provisioner with env over its current environment and waits until it
// answers through the gateway.
func restartProvisioner(t *testing.T, env map[string]string) {
	t.Helper()
	if err := stack.Kill("provisioner"); err != nil {
		t.Fatal(err)
	}
	if err := stack.RespawnWith("provisioner", env); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := provisioner(t, "tenant-provisioner", `{ runtimeOperationStatus(id: "none") { id } }`, nil)
		if r.Status != http.StatusServiceUnavailable {
			return
		}
	}
	t.Fatal("the Provisioner did not come back")
}

// reconnectRuntimeAgent gives the agent a new one-time token and has it pair again (a new certificate);
// hibernateRuntime stops the runtime's processes and keeps its folder.
func TestReconnectAndHibernateALocalRuntime(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	const tenant = "tenant-provisioner-reconnect"
	op := provisionLocal(t, tenant, "edge-again")
	waitOperation(t, tenant, op.ID, "Succeeded", 90*time.Second)
	cert := filepath.Join(runtimesDir(), op.RuntimeID, "agent", "runtime-agent", "credentials", "cert.pem")
	before, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ ReconnectRuntimeAgent string }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { reconnectRuntimeAgent(id: $id) }`, map[string]any{"id": op.RuntimeID}), &rec)
	done := waitOperation(t, tenant, rec.ReconnectRuntimeAgent, "Succeeded", 60*time.Second)
	if done.Operation != "ReconnectRuntime" {
		t.Fatalf("reconnect operation %+v", done)
	}
	after, err := os.ReadFile(cert)
	if err != nil || string(after) == string(before) {
		t.Fatalf("the agent did not pair again (new certificate: %v, %v)", string(after) != string(before), err)
	}

	procs := pids(t, op.RuntimeID)
	var hib struct{ HibernateRuntime operationStatus }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { hibernateRuntime(id: $id) { `+operationFields+` } }`,
		map[string]any{"id": op.RuntimeID}), &hib)
	waitOperation(t, tenant, hib.HibernateRuntime.ID, "Succeeded", 60*time.Second)
	for name, pid := range procs {
		if local.Alive(pid) {
			t.Errorf("%s (pid %d) still runs in a hibernated runtime", name, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(runtimesDir(), op.RuntimeID)); err != nil {
		t.Fatalf("a hibernated runtime's folder is gone: %v", err)
	}
	var st struct {
		RuntimeStatus struct {
			HibernationStatus struct{ Hibernated, HibernationPossible bool }
		}
	}
	ok(t, provisioner(t, tenant, `query($id: String!) { runtimeStatus(id: $id) { hibernationStatus { hibernated hibernationPossible } } }`,
		map[string]any{"id": op.RuntimeID}), &st)
	if !st.RuntimeStatus.HibernationStatus.Hibernated || st.RuntimeStatus.HibernationStatus.HibernationPossible {
		t.Fatalf("hibernation status %+v", st.RuntimeStatus.HibernationStatus)
	}
	deprovision(t, tenant, op.RuntimeID)
}

// A provisioned local runtime whose processes ended (make run stopped, the machine restarted) runs again
// when the Provisioner starts, with its certificate from before.
func TestProvisionerRevivesStoppedRuntimes(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	const tenant = "tenant-provisioner-revive"
	op := provisionLocal(t, tenant, "edge-phoenix")
	waitOperation(t, tenant, op.ID, "Succeeded", 90*time.Second)
	before := pids(t, op.RuntimeID)
	for _, pid := range before {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := 0
		for _, pid := range before {
			if local.Alive(pid) {
				n++
			}
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runtime's processes did not end")
		}
	}
	restartProvisioner(t, provisionerEnv())
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		after := pids(t, op.RuntimeID)
		n := 0
		for name, pid := range after {
			if local.Alive(pid) && pid != before[name] {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runtime was not revived: %v (before %v)", after, before)
		}
	}
	if n := daprdsFor(t, op.RuntimeID); n != 1 {
		t.Fatalf("%d sidecars for the revived runtime", n)
	}
	// The Director still has it CONNECTED (its revived agent heartbeats with the certificate from before).
	var rt struct {
		Runtime struct{ Status struct{ Condition string } }
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
		if rt.Runtime.Status.Condition == "CONNECTED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revived runtime is %s", rt.Runtime.Status.Condition)
		}
	}
	deprovision(t, tenant, op.RuntimeID)
}
