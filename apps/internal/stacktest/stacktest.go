// Package stacktest starts the management plane for end-to-end tests the way it runs for real: redis-server,
// sentry (the certificate authority of the plane's mesh), one daprd sidecar per app (the project's own
// build) with mTLS and the app's access policy, and the apps' binaries, all on free loopback ports with
// their data in a temporary folder. It uses the checked-in components and Configurations, rewritten only
// where paths and ports must differ.
package stacktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"gopkg.in/yaml.v3"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/secret"
	"github.com/mgmtplane/mgmtplane/dapr/sentrytoken"
)

// MeshNamespace is the NAMESPACE of the plane's sidecars, as on Kubernetes (deploy/namespace.yaml): their
// mTLS identities are spiffe://public/ns/mgmtplane/<app id>, which the access policies in dapr/access name.
const MeshNamespace = "mgmtplane"

// App is one Dapr app of the stack.
type App struct {
	ID  string            // Dapr app id
	Bin string            // folder under apps/ of its binary; ID when empty
	Env map[string]string // extra environment for the app
	// SidecarEnv is extra environment for the app's sidecar, after the stack's own (tests use it to make a
	// sidecar ask sentry for an identity that is not its app's, with SENTRY_LOCAL_IDENTITY).
	SidecarEnv map[string]string
	// ResourcesDir, when set, is the sidecar's resources folder instead of the stack's rendered
	// components: a runtime's sidecar loads what the Runtime Agent writes there.
	ResourcesDir string
	// NoAppPort starts the sidecar without an app channel, for apps that only call Dapr.
	NoAppPort bool
	// Outside makes the sidecar a member of its own mesh, as a runtime's sidecar in another cluster is:
	// its own name resolution (it cannot discover the plane's apps), its own API and app tokens
	// (SidecarToken), and no mTLS identity from the plane's sentry. Every other sidecar is in the plane's
	// mesh: it gets a certificate for its app id from the stack's sentry and, when dapr/access has a file
	// for its app id, that access policy.
	Outside bool
}

func (a App) bin() string {
	if a.Bin != "" {
		return a.Bin
	}
	return a.ID
}

// Options choose what to start.
type Options struct {
	Apps []App
	// Build lists more binaries (folders under apps/) to build for StartApp and StartProcess later.
	Build []string
	// Registry selects the state store behind the registry component: "sqlite" (default, the checked-in
	// component), "redis" or "postgres" (components/variants/registry-postgres.yaml on a cluster of the
	// stack's own).
	Registry string
}

// Stack is a running set of apps and sidecars.
type Stack struct {
	Dir       string // temporary folder holding data, logs and rendered components
	root      string // the repository
	daprd     string
	sentry    string
	RedisAddr string
	// PostgresDSN is the connection string of the stack's PostgreSQL, when the Registry is on it.
	PostgresDSN string
	// sentryAddr is the stack's sentry (gRPC); trustAnchors its root certificate (PEM), which every
	// sidecar of the mesh trusts; tokens signs the token each sidecar asks sentry for its certificate with.
	sentryAddr   string
	trustAnchors string
	tokens       *sentrytoken.Issuer
	// AppToken and APIToken secure the hops between each app and its sidecar (APP_API_TOKEN,
	// DAPR_API_TOKEN), as in production.
	AppToken, APIToken string
	apps               map[string]*running
	procs              []*exec.Cmd
	byName             map[string]*exec.Cmd
	exited             map[*exec.Cmd]chan struct{} // closed when the process has ended (and was reaped)
	logs               []string
}

type running struct {
	AppPort, HTTPPort, GRPCPort int
	TLSPort                     int // for apps with a TLS listener (the gateway), as TLS_PORT
	APIToken, AppToken          string
}

// SidecarToken returns the DAPR_API_TOKEN of an app's sidecar: the stack's, or its own for an app
// started Outside.
func (s *Stack) SidecarToken(appID string) string { return s.apps[appID].APIToken }

// AppURL returns the base URL of an app's own HTTP server.
func (s *Stack) AppURL(appID string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.apps[appID].AppPort)
}

// AppTLSURL returns the base URL of an app's TLS listener.
func (s *Stack) AppTLSURL(appID string) string {
	return fmt.Sprintf("https://127.0.0.1:%d", s.apps[appID].TLSPort)
}

// SidecarURL returns the base URL of an app's daprd HTTP API.
func (s *Stack) SidecarURL(appID string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.apps[appID].HTTPPort)
}

// SidecarGRPC returns the address of an app's daprd gRPC API.
func (s *Stack) SidecarGRPC(appID string) string {
	return fmt.Sprintf("127.0.0.1:%d", s.apps[appID].GRPCPort)
}

// ErrNoDaprd means the Dapr toolchain (daprd, sentry) has not been built; tests should skip with this
// message unless the run requires the end-to-end suite.
var ErrNoDaprd = errors.New("daprd or sentry not built: run `make install` (or `make test`, which installs it)")

// Required reports whether missing prerequisites must fail the test run instead of skipping it.
// `make test` and CI set MP_REQUIRE_E2E=1.
func Required() bool { return os.Getenv("MP_REQUIRE_E2E") == "1" }

// RepoRoot returns the repository root: the nearest folder above the working directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// DaprVersion is the daprd release scripts/install.sh builds when DAPR_VERSION is unset; it repeats
// scripts/env.sh's default so that a test run from an IDE, without that file sourced, finds the same build.
const DaprVersion = "1.18.1"

// Daprd returns the path of the project's daprd build, following the same variables as scripts/env.sh.
func Daprd(root string) (string, error) {
	if p := os.Getenv("DAPRD"); p != "" {
		return p, nil
	}
	rt := os.Getenv("DAPR_RUNTIME_PATH")
	if rt == "" {
		cache := os.Getenv("MP_CACHE_DIR")
		if cache == "" {
			cache = filepath.Join(root, ".cache")
		}
		v := os.Getenv("DAPR_VERSION")
		if v == "" {
			v = DaprVersion
		}
		rt = filepath.Join(cache, "dapr", v)
	}
	p := filepath.Join(rt, ".dapr", "bin", "daprd")
	if _, err := os.Stat(p); err != nil {
		return "", ErrNoDaprd
	}
	return p, nil
}

// Sentry returns the path of the project's sentry build: next to daprd, unless DAPR_SENTRY says otherwise
// (scripts/env.sh).
func Sentry(daprd string) (string, error) {
	p := os.Getenv("DAPR_SENTRY")
	if p == "" {
		p = filepath.Join(filepath.Dir(daprd), "sentry")
	}
	if _, err := os.Stat(p); err != nil {
		return "", ErrNoDaprd
	}
	return p, nil
}

// Start builds the apps, starts redis, the sidecars and the apps, and waits until every sidecar is healthy.
// Call Stop when done, also after an error.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	daprd, err := Daprd(root)
	if err != nil {
		return nil, err
	}
	sentry, err := Sentry(daprd)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found: run `make install`")
	}
	if opts.Registry != "" && !slices.Contains(Registries, opts.Registry) {
		return nil, fmt.Errorf("registry %q: want one of %v", opts.Registry, Registries)
	}
	dir, err := os.MkdirTemp("", "mp-stack-")
	if err != nil {
		return nil, err
	}
	s := &Stack{Dir: dir, root: root, daprd: daprd, sentry: sentry, apps: map[string]*running{},
		AppToken: randomToken(), APIToken: randomToken()}
	for _, sub := range []string{"bin", "resources", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return s, err
		}
	}

	bins := slices.Clone(opts.Build)
	for _, a := range opts.Apps {
		bins = append(bins, a.bin())
	}
	if err := s.buildApps(ctx, root, bins); err != nil {
		return s, err
	}
	if err := s.startRedis(ctx); err != nil {
		return s, err
	}
	if opts.Registry == "postgres" {
		if err := s.startPostgres(ctx); err != nil {
			return s, err
		}
	}
	if err := s.renderResources(root, opts); err != nil {
		return s, err
	}
	if err := s.startSentry(ctx); err != nil {
		return s, err
	}
	for _, app := range opts.Apps {
		if err := s.startApp(ctx, app); err != nil {
			return s, err
		}
	}
	for _, app := range opts.Apps {
		if err := s.waitSidecar(ctx, app.ID); err != nil {
			return s, err
		}
	}
	return s, nil
}

// StartApp starts one more app with its sidecar and waits until the sidecar is healthy.
func (s *Stack) StartApp(ctx context.Context, app App) error {
	if err := s.startApp(ctx, app); err != nil {
		return err
	}
	return s.waitSidecar(ctx, app.ID)
}

// StartProcess starts a binary built by Start (a folder under apps/) that is not a Dapr app, such as the
// Runtime Agent; its output goes to logs/<name>.log.
func (s *Stack) StartProcess(ctx context.Context, name, bin string, env map[string]string) error {
	return s.spawn(ctx, name, s.Dir, env, filepath.Join(s.Dir, "bin", bin))
}

// waitSidecar waits until the sidecar of appID is healthy, or has exited.
func (s *Stack) waitSidecar(ctx context.Context, appID string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := s.exited[s.byName[appID+"-daprd"]]
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := waitHTTP(ctx, s.SidecarURL(appID)+"/v1.0/healthz", 90*time.Second); err != nil {
		if _, alive := s.Running(appID + "-daprd"); !alive {
			return fmt.Errorf("%w: the sidecar of %s exited\n%s", ErrSidecarExited, appID, s.LogTail(40))
		}
		return fmt.Errorf("sidecar of %s: %w\n%s", appID, err, s.LogTail(40))
	}
	return nil
}

// ErrSidecarExited means a sidecar ended before it was healthy.
var ErrSidecarExited = errors.New("sidecar exited")

func (s *Stack) buildApps(ctx context.Context, root string, bins []string) error {
	args := []string{"build", "-o", filepath.Join(s.Dir, "bin") + "/"}
	for _, b := range slices.Compact(slices.Sorted(slices.Values(bins))) {
		args = append(args, "./apps/"+b)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

func (s *Stack) startRedis(ctx context.Context) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	s.RedisAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := s.spawn(ctx, "redis", "", nil, "redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", s.Dir, "--appendonly", "yes", "--save", ""); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", s.RedisAddr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redis did not start on %s", s.RedisAddr)
}

// startSentry starts the mesh's certificate authority and waits until it serves: a sidecar started before
// it would wait silently for its identity. Sentry makes its root certificate in the stack folder; its jwks
// validator signs a certificate only for a sidecar that presents the token of its app id (meshMember).
func (s *Stack) startSentry(ctx context.Context) error {
	dir := filepath.Join(s.Dir, "sentry")
	if err := os.MkdirAll(filepath.Join(dir, "ca"), 0o700); err != nil {
		return err
	}
	issuer, err := sentrytoken.New()
	if err != nil {
		return err
	}
	s.tokens = issuer
	set, err := issuer.JWKS()
	if err != nil {
		return err
	}
	// dapr/sentry.yaml names this file relative to sentry's working folder.
	if err := os.WriteFile(filepath.Join(dir, "tokens.jwks.json"), set, 0o644); err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	healthz, err := FreePort()
	if err != nil {
		return err
	}
	s.sentryAddr = fmt.Sprintf("127.0.0.1:%d", port)
	start := func(name string) error {
		// NAMESPACE=default: sentry's own identity (spiffe://localhost/ns/default/dapr-sentry) is what daprd
		// checks and what the tokens name as their audience, whatever the environment says.
		if err := s.spawn(ctx, name, dir, map[string]string{"NAMESPACE": "default"}, s.sentry,
			"--config", filepath.Join(s.root, "dapr", "sentry.yaml"),
			"--issuer-credentials", filepath.Join(dir, "ca"),
			"--trust-domain", "localhost",
			"--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
			"--healthz-port", strconv.Itoa(healthz), "--enable-metrics=false",
			"--log-level", "info"); err != nil {
			return err
		}
		if err := waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", healthz), 30*time.Second); err != nil {
			return fmt.Errorf("sentry: %w\n%s", err, s.Log(name))
		}
		return nil
	}
	// On its first start sentry makes its root certificate into the folder it watches, and then reloads
	// itself once for each file it wrote, 2 s apart, closing its listeners each time. So a first start only
	// makes the certificate, and the sentry that serves starts on it, as every start of make run after the
	// first does (scripts/run.sh).
	if err := start("sentry-ca"); err != nil {
		return err
	}
	if err := s.Kill("sentry-ca"); err != nil {
		return err
	}
	if err := start("sentry"); err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca", "ca.crt"))
	if err != nil {
		return fmt.Errorf("sentry's root certificate: %w", err)
	}
	s.trustAnchors = string(ca)
	return nil
}

// meshMember returns the environment and arguments that put an app's sidecar into the plane's mesh: mTLS
// with a certificate from the stack's sentry for its app id in MeshNamespace, its token for sentry, and its
// access policy from dapr/access when there is one.
func (s *Stack) meshMember(appID string) (env map[string]string, args []string, err error) {
	tok, err := s.tokens.Token(MeshNamespace, appID)
	if err != nil {
		return nil, nil, err
	}
	tokenFile := filepath.Join(s.Dir, "sentry", "tokens", appID+".jwt")
	if err := os.MkdirAll(filepath.Dir(tokenFile), 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		return nil, nil, err
	}
	env = map[string]string{
		"NAMESPACE":              MeshNamespace,
		"DAPR_TRUST_ANCHORS":     s.trustAnchors,
		"DAPR_SENTRY_TOKEN_FILE": tokenFile,
	}
	args = []string{"--enable-mtls", "--sentry-address", s.sentryAddr}
	access := filepath.Join(s.root, "dapr", "access", appID+".yaml")
	if _, err := os.Stat(access); err == nil {
		args = append(args, "--config", access)
	}
	return env, args, nil
}

// renderResources copies the checked-in components and Configuration into the stack folder, pointing
// file paths and the redis address at this stack.
func (s *Stack) renderResources(root string, opts Options) error {
	files, err := filepath.Glob(filepath.Join(root, "components", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		doc, err := readYAML(f)
		if err != nil {
			return err
		}
		name, _ := dig(doc, "metadata", "name").(string)
		spec, _ := dig(doc, "spec").(map[string]any)
		switch {
		case dig(doc, "kind") != "Component":
		case name == "registry" && opts.Registry == "postgres":
			if doc, err = s.postgresRegistry(); err != nil {
				return err
			}
		case name == "registry" && opts.Registry == "redis":
			spec["type"] = "state.redis"
			spec["metadata"] = []any{
				map[string]any{"name": "redisHost", "value": s.RedisAddr},
				map[string]any{"name": "keyPrefix", "value": "appid"},
			}
		default:
			setMetadata(spec, "connectionString", filepath.Join(s.Dir, name+".db"))
			setMetadata(spec, "redisHost", s.RedisAddr)
			if f, ok := metadata(spec, "secretsFile"); ok {
				setMetadata(spec, "secretsFile", filepath.Join(s.Dir, filepath.Base(f)))
			}
		}
		if err := writeYAML(filepath.Join(s.Dir, "resources", filepath.Base(f)), doc); err != nil {
			return err
		}
	}
	// The Governor's, the Provisioner's and the Cockpit's state stores encrypt with these keys; their
	// sidecars do not start without them.
	secrets := fmt.Sprintf(`{"governor-encryption-key": %q, "provisioner-encryption-key": %q, "cockpit-encryption-key": %q}`,
		randomToken()+randomToken(), randomToken()+randomToken(), randomToken()+randomToken())
	if err := os.WriteFile(filepath.Join(s.Dir, "secrets.json"), []byte(secrets), 0o600); err != nil {
		return err
	}
	// The gateway's key for caller assertions, as `make run` makes it (scripts/run.sh).
	if err := assertion.EnsureLocal(filepath.Join(s.Dir, "secrets.json"), filepath.Join(s.Dir, "gateway-secrets.json"), false); err != nil {
		return err
	}
	cfg, err := readYAML(filepath.Join(root, "dapr", "config.yaml"))
	if err != nil {
		return err
	}
	nr, _ := dig(cfg, "spec", "nameResolution", "configuration").(map[string]any)
	if nr == nil {
		return errors.New("dapr/config.yaml: no spec.nameResolution.configuration")
	}
	nr["connectionString"] = filepath.Join(s.Dir, "nameresolution.db")
	return writeYAML(filepath.Join(s.Dir, "config.yaml"), cfg)
}

// outsideConfig writes the stack's Configuration with a name resolution database of the app's own.
func (s *Stack) outsideConfig(appID string) (string, error) {
	cfg, err := readYAML(filepath.Join(s.Dir, "config.yaml"))
	if err != nil {
		return "", err
	}
	nr, _ := dig(cfg, "spec", "nameResolution", "configuration").(map[string]any)
	if nr == nil {
		return "", errors.New("config.yaml: no spec.nameResolution.configuration")
	}
	nr["connectionString"] = filepath.Join(s.Dir, "nameresolution-"+appID+".db")
	path := filepath.Join(s.Dir, "config-"+appID+".yaml")
	return path, writeYAML(path, cfg)
}

func (s *Stack) startApp(ctx context.Context, app App) error {
	var ports [5]int
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	r := &running{AppPort: ports[0], HTTPPort: ports[1], GRPCPort: ports[2], TLSPort: ports[4],
		APIToken: s.APIToken, AppToken: s.AppToken}
	s.apps[app.ID] = r
	config := filepath.Join(s.Dir, "config.yaml")
	if app.Outside {
		r.APIToken, r.AppToken = randomToken(), randomToken()
		var err error
		if config, err = s.outsideConfig(app.ID); err != nil {
			return err
		}
	}

	env := map[string]string{
		"APP_PORT":       strconv.Itoa(r.AppPort),
		"TLS_PORT":       strconv.Itoa(r.TLSPort),
		"APP_ID":         app.ID,
		"DAPR_HTTP_PORT": strconv.Itoa(r.HTTPPort),
		"DAPR_GRPC_PORT": strconv.Itoa(r.GRPCPort),
		"MP_DATA_DIR":    s.Dir,
		"APP_API_TOKEN":  r.AppToken,
		"DAPR_API_TOKEN": r.APIToken,
	}
	for k, v := range app.Env {
		env[k] = v
	}
	if err := s.spawn(ctx, app.ID, s.Dir, env, filepath.Join(s.Dir, "bin", app.bin())); err != nil {
		return err
	}
	resources := filepath.Join(s.Dir, "resources")
	if app.ResourcesDir != "" {
		resources = app.ResourcesDir
		if err := os.MkdirAll(resources, 0o755); err != nil {
			return err
		}
	}
	appPort := []string{"--app-port", strconv.Itoa(r.AppPort)}
	if app.NoAppPort {
		appPort = nil
	}
	sidecarEnv := map[string]string{"DAPR_HOST_IP": "127.0.0.1", "APP_API_TOKEN": r.AppToken, "DAPR_API_TOKEN": r.APIToken}
	args := append([]string{"--app-id", app.ID}, appPort...)
	args = append(args,
		"--dapr-http-port", strconv.Itoa(r.HTTPPort),
		"--dapr-grpc-port", strconv.Itoa(r.GRPCPort),
		"--metrics-port", strconv.Itoa(ports[3]),
		"--resources-path", resources,
		"--config", config,
		"--log-level", "info",
	)
	if !app.Outside {
		env, mesh, err := s.meshMember(app.ID)
		if err != nil {
			return err
		}
		for k, v := range env {
			sidecarEnv[k] = v
		}
		args = append(args, mesh...)
	}
	for k, v := range app.SidecarEnv {
		sidecarEnv[k] = v
	}
	return s.spawn(ctx, app.ID+"-daprd", s.Dir, sidecarEnv, s.daprd, args...)
}

// spawn starts a process whose output goes to logs/<name>.log.
func (s *Stack) spawn(_ context.Context, name, dir string, env map[string]string, bin string, args ...string) error {
	logPath := filepath.Join(s.Dir, "logs", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	// Not CommandContext: the processes must outlive the start-up context and end in Stop.
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	if s.byName == nil {
		s.byName = map[string]*exec.Cmd{}
	}
	s.byName[name] = cmd
	s.reap(cmd)
	s.logs = append(s.logs, logPath)
	return nil
}

// Kill ends process name at once (SIGKILL), as a crash would.
func (s *Stack) Kill(name string) error {
	cmd := s.byName[name]
	if cmd == nil || cmd.Process == nil {
		return fmt.Errorf("no process %s", name)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited[cmd]
	return nil
}

// reap waits for cmd in the background, so that its end is seen at once (Running, waitSidecar).
func (s *Stack) reap(cmd *exec.Cmd) {
	if s.exited == nil {
		s.exited = map[*exec.Cmd]chan struct{}{}
	}
	done := make(chan struct{})
	s.exited[cmd] = done
	go func() { _ = cmd.Wait(); close(done) }()
}

// Respawn starts process name again as it was first started (same binary, arguments, environment and
// ports), after Kill.
func (s *Stack) Respawn(name string) error { return s.RespawnWith(name, nil) }

// RespawnWith is Respawn with env overriding some of the process's environment.
func (s *Stack) RespawnWith(name string, env map[string]string) error {
	old := s.byName[name]
	if old == nil {
		return fmt.Errorf("no process %s", name)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "logs", name+".log"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = old.Dir, slices.Clone(old.Env), f, f
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v) // the last of duplicates wins
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	for i, p := range s.procs {
		if p == old {
			s.procs[i] = cmd
		}
	}
	s.byName[name] = cmd
	s.reap(cmd)
	return nil
}

// Running reports the process id of process name ("<app>", "<app>-daprd", or a StartProcess name) and
// whether it is still running.
func (s *Stack) Running(name string) (pid int, alive bool) {
	cmd := s.byName[name]
	if cmd == nil || cmd.Process == nil {
		return 0, false
	}
	select {
	case <-s.exited[cmd]:
		return cmd.Process.Pid, false
	default:
		return cmd.Process.Pid, true
	}
}

// Log returns the output of process name so far.
func (s *Stack) Log(name string) string {
	data, _ := os.ReadFile(filepath.Join(s.Dir, "logs", name+".log"))
	return string(data)
}

// LogTail returns the last lines of every process log, for failure messages.
func (s *Stack) LogTail(lines int) string {
	var b strings.Builder
	for _, p := range s.logs {
		data, _ := os.ReadFile(p)
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Base(p), strings.Join(all, "\n"))
	}
	return b.String()
}

// Stop ends every process (apps first, redis last) and removes the stack folder unless keep is set.
func (s *Stack) Stop(keep bool) {
	var wg sync.WaitGroup
	for i := len(s.procs) - 1; i >= 0; i-- {
		cmd := s.procs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			done := s.exited[cmd]
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}()
	}
	wg.Wait()
	if !keep && s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %s: %v", url, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func readYAML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

func writeYAML(path string, doc map[string]any) error {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func dig(doc map[string]any, path ...string) any {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// metadata returns the value of a component metadata item.
func metadata(spec map[string]any, name string) (string, bool) {
	items, _ := spec["metadata"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			v, ok := m["value"].(string)
			return v, ok
		}
	}
	return "", false
}

// setMetadata replaces the value of a component metadata item if the component has it.
func setMetadata(spec map[string]any, name, value string) {
	items, _ := spec["metadata"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			m["value"] = value
		}
	}
}

// Token returns a bearer token for tenant with scopes (all of them when none are given), signed by the
// development key the stack's gateway verifies against.
func (s *Stack) Token(tenant string, scopes ...string) (string, error) {
	if len(scopes) == 0 {
		scopes = identity.AllScopes
	}
	return devtoken.LocalKey{Dir: filepath.Join(s.Dir, "jwt")}.Sign(tenant, "e2e", scopes, time.Hour)
}

// SignAssertion signs claims with the stack's assertion key exactly as given, so that tests can make the
// assertions the gateway never would: for another app, expired, long-lived.
func (s *Stack) SignAssertion(claims assertion.Claims) (string, error) {
	m, err := secret.ReadFile(filepath.Join(s.Dir, "gateway-secrets.json"), assertion.SigningKeySecret)
	if err != nil {
		return "", err
	}
	var key jose.JSONWebKey
	if err := json.Unmarshal([]byte(m[assertion.SigningKeyField]), &key); err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}
