package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// logSink is a fake logging service: it keeps the lines it receives and the token each came with.
type logSink struct {
	srv   *httptest.Server
	mu    sync.Mutex
	lines []sinkLine
}

type sinkLine struct {
	Token string
	Seq   int
	At    time.Time
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var line struct{ Seq int }
		_ = json.Unmarshal(body, &line)
		s.mu.Lock()
		s.lines = append(s.lines, sinkLine{Token: r.Header.Get("X-Log-Token"), Seq: line.Seq, At: time.Now()})
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// since returns the lines received after t0.
func (s *logSink) since(t0 time.Time) []sinkLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sinkLine
	for _, l := range s.lines {
		if l.At.After(t0) {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits until the sink receives a line after t0 and returns when it arrived.
func (s *logSink) waitLine(t testing.TB, t0 time.Time, timeout time.Duration) sinkLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if got := s.since(t0); len(got) > 0 {
			return got[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no log line at %s within %s", s.srv.URL, timeout)
	return sinkLine{}
}

// localRuntime is a runtime as make run has one: a demo workload with its own sidecar, whose binding
// components the runtime's agent writes from the Governor's configuration.
type localRuntime struct {
	id, configID, demo string
}

const runtimeTenant = "tenant-runtime"

func startLocalRuntime(t testing.TB, name string, sink *logSink, token string) *localRuntime {
	return startLocalRuntimeB(t, name, sink, token)
}

func startLocalRuntimeB(t testing.TB, name string, sink *logSink, token string) *localRuntime {
	t.Helper()
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, runtimeTenant, `mutation($n: String!) { registerRuntime(in: {name: $n}) { id } }`, map[string]any{"n": name}), &rt)
	r := &localRuntime{id: rt.RegisterRuntime.ID, demo: "demo-" + name}

	var created struct{ CreateConfiguration struct{ ID string } }
	ok(t, governor(t, runtimeTenant, createConfiguration, map[string]any{"in": map[string]any{
		"runtimeID": r.id, "bindings": []any{loggingBinding(sink.srv.URL, token)},
	}}), &created)
	r.configID = created.CreateConfiguration.ID

	startRuntimeProcesses(t, runtimeTenant, name, r.id, r.demo)
	return r
}

// startRuntimeProcesses starts what runs in a local runtime: the demo workload with its own sidecar, and
// the runtime's agent, paired with a one-time token of runtime id in tenant. It returns the folder the
// agent writes the runtime's components into.
func startRuntimeProcesses(t testing.TB, tenant, name, id, demo string) string {
	t.Helper()
	ctx := context.Background()
	var tok struct{ RequestOneTimeTokenForRuntime struct{ Token string } }
	ok(t, gql(t, tenant, `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`,
		map[string]any{"id": id}), &tok)

	dir := filepath.Join(stack.Dir, "runtime-"+name)
	resources := filepath.Join(dir, "resources")
	// The runtime's sidecar is not a member of the plane's mesh: it reaches the plane through the gateway.
	if err := stack.StartApp(ctx, stacktest.App{ID: demo, Bin: "demo-logger", ResourcesDir: resources, NoAppPort: true, Outside: true,
		Env: map[string]string{"LOG_INTERVAL": "20ms", "RUNTIME_NAME": name}}); err != nil {
		t.Fatal(err)
	}
	err := stack.StartProcess(ctx, "agent-"+name, "runtime-agent", map[string]string{
		"RUNTIME_ID":             id,
		"ONE_TIME_TOKEN":         tok.RequestOneTimeTokenForRuntime.Token,
		"CONNECTOR_URL":          stack.AppURL("gateway") + "/connector/graphql",
		"GATEWAY_SECURE_URL":     stack.AppTLSURL("gateway"),
		"GATEWAY_CA_FILE":        filepath.Join(stack.Dir, "tls", "gateway.crt"),
		"MP_DATA_DIR":            dir,
		"RESOURCES_DIR":          resources,
		"RUNTIME_SIDECAR_URL":    stack.SidecarURL(demo),
		"RUNTIME_DAPR_API_TOKEN": stack.SidecarToken(demo),
		"HEARTBEAT_INTERVAL":     "1s",
		"VERIFY_SETTLE":          "300ms",
		"VERIFY_TIMEOUT":         "5s",
		"APP_PORT":               "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	return resources
}

// configure replaces the runtime's configuration with bindings and returns when the Governor answered.
func (r *localRuntime) configure(t testing.TB, bindings ...any) *stacktest.Response {
	return r.configureB(t, bindings...)
}

func (r *localRuntime) configureB(t testing.TB, bindings ...any) *stacktest.Response {
	t.Helper()
	return governor(t, runtimeTenant, `mutation($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { revision } }`,
		map[string]any{"id": r.configID, "in": map[string]any{"runtimeID": r.id, "bindings": bindings}})
}

type applyStatus struct {
	RuntimeConfigurationStatus *struct {
		Revision int
		Status   string
		Reason   *string
	}
}

func (r *localRuntime) status(t *testing.T) applyStatus {
	var st applyStatus
	ok(t, governor(t, runtimeTenant, `query($id: ID!) { runtimeConfigurationStatus(runtimeID: $id) { revision status reason } }`,
		map[string]any{"id": r.id}), &st)
	return st
}

// TestGovernorSwitchesTheLoggingBinding is the heart of runtime governance: one mutation at the Governor
// moves a runtime's log lines to another logging service, with its own token, without restarting anything.
func TestGovernorSwitchesTheLoggingBinding(t *testing.T) {
	first, second := newLogSink(t), newLogSink(t)
	rt := startLocalRuntime(t, "switch", first, "token-one")

	line := first.waitLine(t, time.Time{}, 60*time.Second)
	if line.Token != "token-one" {
		t.Fatalf("first service got token %q", line.Token)
	}
	daprdPID, _ := stack.Running(rt.demo + "-daprd")

	// The agent's heartbeats make the runtime CONNECTED in the Director.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got struct {
			Runtime struct{ Status struct{ Condition string } }
		}
		ok(t, gql(t, runtimeTenant, `query($id: ID!) { runtime(id: $id) { status { condition } } }`, map[string]any{"id": rt.id}), &got)
		if got.Runtime.Status.Condition == "CONNECTED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime status %q, want CONNECTED", got.Runtime.Status.Condition)
		}
		time.Sleep(200 * time.Millisecond)
	}

	switched := time.Now()
	ok(t, rt.configure(t, loggingBinding(second.srv.URL, "token-two")), nil)
	got := second.waitLine(t, switched, 30*time.Second)
	if got.Token != "token-two" {
		t.Fatalf("second service got token %q, want the new one", got.Token)
	}
	t.Logf("configuration to live binding: %s", got.At.Sub(switched))
	time.Sleep(500 * time.Millisecond)
	if late := first.since(got.At.Add(300 * time.Millisecond)); len(late) > 0 {
		t.Fatalf("the first service still gets lines after the switch: %d", len(late))
	}

	t.Run("an invalid configuration is refused by the Governor", func(t *testing.T) {
		r := rt.configure(t, map[string]any{"name": "logging", "type": "bindings.http"})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "INVALID_INPUT" {
			t.Fatalf("configuration without url accepted: %s", r.Raw)
		}
	})

	t.Run("a configuration Dapr cannot load is reported failed and the sidecar lives on", func(t *testing.T) {
		// Valid for the Governor (known type, required metadata present) but not for Dapr: the folder
		// cannot be created.
		broken := map[string]any{"name": "archive", "type": "bindings.localstorage",
			"metadata": []map[string]any{{"name": "rootPath", "value": "/proc/mgmtplane/archive"}}}
		var upd struct{ UpdateConfiguration struct{ Revision int } }
		ok(t, rt.configure(t, loggingBinding(second.srv.URL, "token-two"), broken), &upd)
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := rt.status(t).RuntimeConfigurationStatus
			if st != nil && st.Status == "FAILED" && st.Reason != nil && strings.Contains(*st.Reason, "archive") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status after a broken binding: %+v", st)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The runtime keeps working: same sidecar process, lines still flowing.
		if pid, alive := stack.Running(rt.demo + "-daprd"); !alive || pid != daprdPID {
			t.Fatalf("the runtime's sidecar was restarted or died (pid %d → %d, alive %v)", daprdPID, pid, alive)
		}
		second.waitLine(t, time.Now(), 10*time.Second)
	})

	if n := strings.Count(stack.Log(rt.demo+"-daprd"), "dapr initialized"); n != 1 {
		t.Fatalf("the runtime's sidecar initialised %d times", n)
	}
}
