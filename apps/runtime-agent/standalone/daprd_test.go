package standalone_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/sidecar"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/standalone"
)

// TestOnRealDaprd runs the applier against the project's daprd (1.18, hot reload on by default), checking
// what the design rests on: components appear without a restart, a secret-only change reaches the running
// binding, a component that fails to initialise (with ignoreErrors) leaves the sidecar running and is
// missing from its metadata, and a resources folder emptied of every component is no problem.
func TestOnRealDaprd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs daprd; skipped in -short mode")
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	daprd, err := stacktest.Daprd(root)
	if errors.Is(err, stacktest.ErrNoDaprd) && !stacktest.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}

	// The binding's target records the token header the http binding sends.
	var (
		mu     sync.Mutex
		tokens []string
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("X-Token"))
		mu.Unlock()
	}))
	defer target.Close()
	lastToken := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(tokens) == 0 {
			return ""
		}
		return tokens[len(tokens)-1]
	}

	dir := t.TempDir()
	res := filepath.Join(dir, "resources")
	app, err := standalone.New(standalone.Config{
		Dir: res, SecretsFile: filepath.Join(dir, "agent", "secrets.json"),
		SecretStoreName: "mgmtplane-agent-secrets", FilePrefix: "mgmtplane-agent-", RuntimeID: "rt-1", IgnoreErrors: true,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: runtime
spec:
  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: %s
`, filepath.Join(dir, "nameresolution.db"))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, grpcPort, metricsPort := freePort(t), freePort(t), freePort(t)
	logf, err := os.Create(filepath.Join(dir, "daprd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daprd, "--app-id", "demo-logger",
		"--dapr-http-port", strconv.Itoa(httpPort), "--dapr-grpc-port", strconv.Itoa(grpcPort),
		"--metrics-port", strconv.Itoa(metricsPort), "--resources-path", res,
		"--config", filepath.Join(dir, "config.yaml"), "--placement-host-address", "", "--log-level", "info")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "DAPR_HOST_IP=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "daprd.log"))
			t.Logf("daprd log:\n%s", b)
		}
	}()
	sc := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitFor(t, 30*time.Second, "daprd healthy", func() bool {
		resp, err := http.Get(sc + "/v1.0/healthz/outbound")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	})

	ver := &sidecar.Verifier{Client: sidecar.NewClient(sc, ""), Timeout: 20 * time.Second, Settle: time.Second, Interval: 200 * time.Millisecond}
	ctx := context.Background()
	logging := func(token string) revision.Binding {
		return revision.Binding{
			Name: "logging", Type: "bindings.http",
			Metadata:       []revision.Item{{Name: "url", Value: target.URL}, {Name: "securityTokenHeader", Value: "X-Token"}},
			SecretMetadata: []revision.Item{{Name: "securityToken", Value: token}},
		}
	}
	invoke := func() {
		t.Helper()
		resp, err := http.Post(sc+"/v1.0/bindings/logging", "application/json", strings.NewReader(`{"operation":"post","data":"hello"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// 1: a new binding with a secret is loaded without a restart and uses the secret.
	rev := revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("one")}}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := ver.Verify(ctx, rev.Bindings, nil); err != nil {
		t.Fatal(err)
	}
	invoke()
	if got := lastToken(); got != "one" {
		t.Fatalf("binding sent token %q, want one", got)
	}

	// 2: only the secret changes; the running binding must pick the new value up.
	rev.Number, rev.Bindings = 2, []revision.Binding{logging("two")}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new secret value in use", func() bool {
		invoke()
		return lastToken() == "two"
	})

	// 3: a component that fails to initialise: the sidecar stays up and does not list it.
	broken := revision.Binding{Name: "files", Type: "bindings.localstorage", Metadata: []revision.Item{{Name: "rootPath", Value: "/proc"}}}
	rev.Number, rev.Bindings = 3, []revision.Binding{logging("two"), broken}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	short := &sidecar.Verifier{Client: ver.Client, Timeout: 5 * time.Second, Settle: time.Second, Interval: 200 * time.Millisecond}
	if err := short.Verify(ctx, rev.Bindings, nil); !errors.Is(err, sidecar.ErrNotLoaded) || !strings.Contains(err.Error(), "files") {
		t.Fatalf("verify: %v, want files not loaded", err)
	}
	select {
	case err := <-exited:
		t.Fatalf("daprd exited after a failing component: %v", err)
	default:
	}
	invoke()
	if got := lastToken(); got != "two" {
		t.Errorf("the healthy binding stopped working: token %q", got)
	}

	// 4: removing bindings unloads them, and the resources folder, now empty (no secrets, so no store
	// either), leaves the sidecar running: daprd 1.16 could panic here, 1.18 does not.
	rev.Number, rev.Bindings = 4, nil
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := ver.Verify(ctx, nil, []string{"logging", "files"}); err != nil {
		t.Fatal(err)
	}
	// Only the agent's staging subfolder is left, which daprd does not read.
	left, err := filepath.Glob(filepath.Join(res, "*.yaml"))
	if err != nil || len(left) != 0 {
		t.Fatalf("resources folder: %v, %v; want no component file", left, err)
	}
	time.Sleep(2 * time.Second) // past the reloader's batching, so a crash on the empty folder would show
	select {
	case err := <-exited:
		t.Fatalf("daprd exited once its resources folder was empty: %v", err)
	default:
	}

	// 5: and it loads a binding into that empty folder again.
	rev.Number, rev.Bindings = 5, []revision.Binding{logging("three")}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := ver.Verify(ctx, rev.Bindings, nil); err != nil {
		t.Fatal(err)
	}
	invoke()
	if got := lastToken(); got != "three" {
		t.Errorf("binding sent token %q, want three", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := stacktest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
