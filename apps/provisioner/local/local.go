// Package local is the Provisioner's backend for runtimes on this machine: each runtime is a folder with
// its own daprd (hot reload on, its own API token and name resolution, so it lives outside the plane's
// mesh), a workload beside it, and a Runtime Agent that pairs through the gateway with a one-time token
// and turns the Governor's configuration into the sidecar's binding components.
//
// The processes run in sessions of their own, so they outlive the Provisioner: a runtime does not stop
// because its control plane restarts. Their pids are kept in the runtime's folder (and in the operation's
// progress), and every stage first checks whether its process is already running — a resumed operation
// adopts what it started before instead of starting it twice.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/freeport"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// Config says where runtimes go and what they run.
type Config struct {
	Root      string            // folder holding one folder per runtime
	Daprd     string            // the daprd binary
	Agent     string            // the runtime-agent binary
	Workloads map[string]string // workload name -> binary; "demo-logger" is the default workload
	// What the agent is told about the plane: the gateway's plain URL (pairing with the one-time token),
	// its mutual-TLS URL, and the CA file that signs the gateway's server certificate.
	ConnectorURL     string
	GatewaySecureURL string
	GatewayCAFile    string
	// AgentEnv is more environment for every agent (HEARTBEAT_INTERVAL, say).
	AgentEnv map[string]string
	// StopGrace is how long a process has to end after SIGTERM.
	StopGrace time.Duration
}

// Backend implements provisioning.Backend for local runtimes.
type Backend struct{ cfg Config }

// New returns the local backend.
func New(cfg Config) *Backend {
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	return &Backend{cfg: cfg}
}

// Name implements provisioning.Backend.
func (b *Backend) Name() string { return provisioning.BackendLocal }

// localConfig is the backend's part of the cluster configuration: {"localConfig": {...}}.
type localConfig struct {
	Workload    string `json:"workload,omitempty"`
	LogInterval string `json:"logInterval,omitempty"`
}

func decode(raw []byte) (localConfig, error) {
	var c struct {
		LocalConfig *localConfig `json:"localConfig"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return localConfig{}, err
	}
	if c.LocalConfig == nil {
		return localConfig{}, errors.New("localConfig is missing")
	}
	return *c.LocalConfig, nil
}

// Validate implements provisioning.Validator.
func (b *Backend) Validate(raw json.RawMessage) error {
	c, err := decode(raw)
	if err != nil {
		return err
	}
	if c.Workload != "" {
		if _, ok := b.cfg.Workloads[c.Workload]; !ok {
			return fmt.Errorf("localConfig.workload %q: this provisioner runs %s", c.Workload, strings.Join(b.workloadNames(), ", "))
		}
	}
	if c.LogInterval != "" {
		if d, err := time.ParseDuration(c.LogInterval); err != nil || d < 10*time.Millisecond {
			return fmt.Errorf("localConfig.logInterval %q: a duration of at least 10ms, such as 1s", c.LogInterval)
		}
	}
	return nil
}

func (b *Backend) workloadNames() []string {
	var names []string
	for n := range b.cfg.Workloads {
		names = append(names, n)
	}
	return names
}

// Stages implements provisioning.Backend.
func (b *Backend) Stages(t provisioning.OperationType) ([]provisioning.Stage, error) {
	switch t {
	case provisioning.OperationProvision:
		return []provisioning.Stage{
			{Name: "prepare", Message: "preparing the runtime's folder, ports and tokens", Run: b.prepare},
			{Name: "start-sidecar", Message: "starting the runtime's Dapr sidecar", Run: b.startSidecar},
			{Name: "start-workload", Message: "starting the workload", Run: b.startWorkload},
			{Name: "start-agent", Message: "starting the runtime agent", Run: b.startAgent},
		}, nil
	case provisioning.OperationReconnectRuntime:
		return []provisioning.Stage{
			{Name: "restart-agent", Message: "pairing the runtime agent again", Run: b.repair},
		}, nil
	case provisioning.OperationHibernate:
		return []provisioning.Stage{
			{Name: "stop-processes", Message: "stopping the runtime's processes", Run: b.stopAll},
		}, nil
	case provisioning.OperationDeprovision:
		return []provisioning.Stage{
			{Name: "stop-processes", Message: "stopping the runtime's processes", Run: b.stopAll},
			{Name: "remove-folder", Message: "removing the runtime's folder", Run: b.removeFolder},
		}, nil
	}
	return nil, provisioning.Fail(apperr.CodeInvalidInput, provisioning.ReasonInvalidInput, provisioning.BackendLocal,
		"a local runtime has no shoot to %s", strings.ToLower(string(t)))
}

func (b *Backend) dir(job *provisioning.Job) string { return filepath.Join(b.cfg.Root, job.RuntimeID) }

// prepare makes the runtime's folder with its own Dapr Configuration, and picks its ports and token.
func (b *Backend) prepare(ctx context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	for _, sub := range []string{"resources", "logs", "pids", "agent"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	// Its own name resolution: the runtime's sidecar cannot discover the plane's apps. Hot reload of the
	// resources folder, on which the Runtime Agent relies, is on by default since Dapr 1.18. The file stays
	// outside that folder: a Configuration inside it would restart the runtime whenever it changed.
	conf := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
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
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(conf), 0o600); err != nil {
		return err
	}
	if job.Get(provisioning.ProgressCluster) == "" {
		// A local runtime's cluster is this machine: the runtime's cluster label.
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("name the runtime's machine: %w", err)
		}
		if err := job.Set(ctx, provisioning.ProgressCluster, "local/"+host); err != nil {
			return err
		}
	}
	if job.Get("httpPort") != "" {
		return nil
	}
	kv := []string{"token", randomToken()}
	for _, name := range []string{"httpPort", "grpcPort", "metricsPort"} {
		p, err := freeport.Port()
		if err != nil {
			return err
		}
		kv = append(kv, name, strconv.Itoa(p))
	}
	return job.Set(ctx, kv...)
}

func (b *Backend) sidecarURL(job *provisioning.Job) string {
	return "http://127.0.0.1:" + job.Get("httpPort")
}

func (b *Backend) startSidecar(ctx context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	if !b.running(dir, "daprd") {
		err := b.spawn(dir, "daprd", b.cfg.Daprd, []string{
			"--app-id", "runtime-" + job.Name,
			"--dapr-http-port", job.Get("httpPort"),
			"--dapr-grpc-port", job.Get("grpcPort"),
			"--metrics-port", job.Get("metricsPort"),
			"--resources-path", filepath.Join(dir, "resources"),
			"--config", filepath.Join(dir, "config.yaml"),
			"--placement-host-address", "",
			"--log-level", "info",
		}, map[string]string{"DAPR_API_TOKEN": job.Get("token"), "DAPR_HOST_IP": "127.0.0.1"})
		if err != nil {
			return err
		}
	}
	return healthy(ctx, b.sidecarURL(job)+"/v1.0/healthz")
}

func (b *Backend) startWorkload(ctx context.Context, job *provisioning.Job) error {
	c, err := decode(job.ClusterConfig)
	if err != nil {
		return provisioning.Permanent(provisioning.ReasonInvalidInput, provisioning.BackendLocal, err)
	}
	name := c.Workload
	if name == "" {
		name = "demo-logger"
	}
	bin, ok := b.cfg.Workloads[name]
	if !ok {
		return provisioning.Permanent(provisioning.ReasonInvalidInput, provisioning.BackendLocal, fmt.Errorf("no workload %q here", name))
	}
	interval := c.LogInterval
	if interval == "" {
		interval = "1s"
	}
	dir := b.dir(job)
	if b.running(dir, "workload") {
		return nil
	}
	return b.spawn(dir, "workload", bin, nil, map[string]string{
		"DAPR_HTTP_PORT": job.Get("httpPort"), "DAPR_GRPC_PORT": job.Get("grpcPort"), "DAPR_API_TOKEN": job.Get("token"),
		"RUNTIME_NAME": job.Name, "LOG_INTERVAL": interval,
	})
}

func (b *Backend) agentEnv(job *provisioning.Job) map[string]string {
	dir := b.dir(job)
	env := map[string]string{}
	for k, v := range b.cfg.AgentEnv {
		env[k] = v
	}
	for k, v := range map[string]string{
		"RUNTIME_ID":             job.RuntimeID,
		"ONE_TIME_TOKEN":         job.Get(provisioning.ProgressToken),
		"CONNECTOR_URL":          b.cfg.ConnectorURL,
		"GATEWAY_SECURE_URL":     b.cfg.GatewaySecureURL,
		"GATEWAY_CA_FILE":        b.cfg.GatewayCAFile,
		"MP_DATA_DIR":            filepath.Join(dir, "agent"),
		"RESOURCES_DIR":          filepath.Join(dir, "resources"),
		"RUNTIME_SIDECAR_URL":    b.sidecarURL(job),
		"RUNTIME_DAPR_API_TOKEN": job.Get("token"),
		"APP_PORT":               "0",
	} {
		env[k] = v
	}
	return env
}

func (b *Backend) startAgent(_ context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	if b.running(dir, "agent") {
		return nil
	}
	return b.spawn(dir, "agent", b.cfg.Agent, nil, b.agentEnv(job))
}

// repair restarts the agent without its credentials, so that it pairs again with the new one-time token,
// and waits until it has: a new certificate in its credentials folder.
func (b *Backend) repair(ctx context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	creds := filepath.Join(dir, "agent", "runtime-agent", "credentials")
	if job.Get("repairedWith") != job.Get(provisioning.ProgressToken) {
		b.stop(dir, "agent")
		// The agent keeps its certificate under its data folder; without it, it pairs with the token.
		if err := os.RemoveAll(creds); err != nil {
			return err
		}
		if err := job.Set(ctx, "repairedWith", job.Get(provisioning.ProgressToken)); err != nil {
			return err
		}
	}
	if !b.running(dir, "agent") {
		if err := b.spawn(dir, "agent", b.cfg.Agent, nil, b.agentEnv(job)); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(creds, "cert.pem")); err != nil {
		return provisioning.ErrWait
	}
	return nil
}

// Revive implements provisioning.Reviver: a provisioned runtime whose processes are gone (the run that
// started them ended, the machine restarted) gets them back, with its ports, tokens and the agent's
// certificate from before, so it needs no new pairing.
func (b *Backend) Revive(ctx context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	if b.running(dir, "daprd") && b.running(dir, "workload") && b.running(dir, "agent") {
		return nil
	}
	if err := b.prepare(ctx, job); err != nil {
		return err
	}
	for {
		err := b.startSidecar(ctx, job)
		if err == nil {
			break
		}
		if !errors.Is(err, provisioning.ErrWait) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := b.startWorkload(ctx, job); err != nil {
		return err
	}
	return b.startAgent(ctx, job)
}

func (b *Backend) stopAll(_ context.Context, job *provisioning.Job) error {
	dir := b.dir(job)
	for _, name := range []string{"agent", "workload", "daprd"} {
		b.stop(dir, name)
	}
	for _, name := range []string{"agent", "workload", "daprd"} {
		if b.running(dir, name) {
			return fmt.Errorf("%s of runtime %s is still running", name, job.RuntimeID)
		}
	}
	return nil
}

func (b *Backend) removeFolder(_ context.Context, job *provisioning.Job) error {
	return os.RemoveAll(b.dir(job))
}

// spawn starts a process in a session of its own, its output in logs/<name>.log and its pid in
// pids/<name>.pid.
func (b *Backend) spawn(dir, name, bin string, args []string, env map[string]string) error {
	logf, err := os.OpenFile(filepath.Join(dir, "logs", name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Only what the process needs: none of the plane's own tokens reach a runtime.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// Reap it when it ends while we run; after a restart the pid file is how we find it.
	go func() { _ = cmd.Wait() }()
	return writePID(dir, name, pid, bin)
}

// running reports whether the process recorded under name is alive and still the program we started (a
// recycled pid belongs to someone else). Without a valid pid file it looks for the process itself: a crash
// between starting a process and writing its pid file must not make a resumed stage start a second one.
func (b *Backend) running(dir, name string) bool {
	if pid, bin, ok := readPID(dir, name); ok && Alive(pid) && exeOf(pid) == abs(bin) {
		return true
	}
	pid, bin, ok := b.find(dir, name)
	if !ok {
		return false
	}
	_ = writePID(dir, name, pid, bin)
	return true
}

// binaries returns the programs a process called name may be; none when this backend does not know them
// (StopAll), and then any process working in the runtime's folder counts.
func (b *Backend) binaries(name string) []string {
	switch name {
	case "daprd":
		return []string{b.cfg.Daprd}
	case "agent":
		return []string{b.cfg.Agent}
	case "workload":
		var bins []string
		for _, bin := range b.cfg.Workloads {
			bins = append(bins, bin)
		}
		return bins
	}
	return nil
}

// find looks in /proc for a live process working in dir (its current directory: every process of a
// runtime runs in the runtime's folder) that runs one of name's programs.
func (b *Backend) find(dir, name string) (int, string, bool) {
	bins := b.binaries(name)
	if len(bins) == 0 || bins[0] == "" {
		return 0, "", false
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !Alive(pid) {
			continue
		}
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dir {
			continue
		}
		exe := exeOf(pid)
		for _, bin := range bins {
			if exe == abs(bin) {
				return pid, bin, true
			}
		}
	}
	return 0, "", false
}

// inFolder lists the live processes working in dir, whatever they run.
func inFolder(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !Alive(pid) {
			continue
		}
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && cwd == dir {
			pids = append(pids, pid)
		}
	}
	return pids
}

func exeOf(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// Alive reports whether pid runs; a zombie (state Z) has ended and only waits to be reaped.
func Alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || len(stat) <= i+2 || stat[i+2] != 'Z'
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// writePID records a process under name whole or not at all (a new file renamed over the old), so that
// whoever reads it — a Provisioner resuming after a crash, a test — never sees it half written.
func writePID(dir, name string, pid int, bin string) error {
	path := filepath.Join(dir, "pids", name+".pid")
	if err := os.WriteFile(path+".new", []byte(strconv.Itoa(pid)+" "+bin+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

func readPID(dir, name string) (int, string, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, "pids", name+".pid"))
	if err != nil {
		return 0, "", false
	}
	pidStr, bin, _ := strings.Cut(strings.TrimSpace(string(raw)), " ")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, bin, true
}

// stop ends the process recorded under name and its session: SIGTERM, then SIGKILL after the grace.
func (b *Backend) stop(dir, name string) {
	if !b.running(dir, name) {
		return
	}
	pid, _, _ := readPID(dir, name)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(b.cfg.StopGrace)
	for b.running(dir, name) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if b.running(dir, name) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		time.Sleep(50 * time.Millisecond)
	}
}

// StopAll ends the processes of every runtime under root — whatever works in a runtime's folder: for
// `make run` and the tests, which own the machine they started runtimes on.
func StopAll(root string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		dir, err := filepath.Abs(filepath.Join(root, e.Name()))
		if err != nil || !e.IsDir() {
			continue
		}
		pids := inFolder(dir)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(inFolder(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		for _, pid := range inFolder(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func healthy(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return provisioning.ErrWait
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return provisioning.ErrWait
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
