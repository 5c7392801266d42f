// Package kubetest runs a real Kubernetes API server for tests: Debian's etcd and the project's build of
// kube-apiserver (scripts/install-k8s.sh) on free loopback ports, with RBAC on, a static admin token,
// service-account tokens and Dapr's CRDs installed. There is no kubelet or scheduler, and of the
// controller-manager only the garbage collector, on request (StartGarbageCollector): objects are stored,
// validated, defaulted and authorized exactly as on a cluster, but nothing runs them (no pods start, no
// default ServiceAccount appears in a new namespace, a deleted namespace never finishes terminating).
//
// A test binary shares one server (Shared), started on first use and stopped by Main at the end.
package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// DefaultVersion is the kube-apiserver version scripts/env.sh builds (K8S_VERSION).
const DefaultVersion = "1.34.2"

// serviceAccountIssuer is the issuer and audience of service-account tokens, as on a default cluster.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// ErrNotInstalled means kube-apiserver or etcd is missing; tests skip with this message unless the run
// requires them (MP_REQUIRE_E2E=1).
var ErrNotInstalled = errors.New("kube-apiserver or etcd not installed: run `make install` (or `make test`, which installs them)")

// Binaries are the programs a server runs.
type Binaries struct {
	APIServer, Etcd string
	// ControllerManager is kube-controller-manager, run only for its garbage collector when a test asks
	// (StartGarbageCollector).
	ControllerManager string
}

// FindBinaries locates kube-apiserver and etcd the way scripts/env.sh names them: KUBE_APISERVER, or
// MP_CACHE_DIR/k8s/K8S_VERSION/kube-apiserver under the repository root; ETCD, or etcd on PATH; and
// KUBE_CONTROLLER_MANAGER, or kube-controller-manager next to kube-apiserver.
func FindBinaries(root string) (Binaries, error) {
	var b Binaries
	b.APIServer = os.Getenv("KUBE_APISERVER")
	if b.APIServer == "" {
		cache := os.Getenv("MP_CACHE_DIR")
		if cache == "" {
			cache = filepath.Join(root, ".cache")
		}
		v := os.Getenv("K8S_VERSION")
		if v == "" {
			v = DefaultVersion
		}
		b.APIServer = filepath.Join(cache, "k8s", v, "kube-apiserver")
	}
	if _, err := os.Stat(b.APIServer); err != nil {
		return b, fmt.Errorf("%w (%s: %v)", ErrNotInstalled, b.APIServer, err)
	}
	etcd := os.Getenv("ETCD")
	if etcd == "" {
		etcd = "etcd"
	}
	p, err := exec.LookPath(etcd)
	if err != nil {
		return b, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	b.Etcd = p
	b.ControllerManager = os.Getenv("KUBE_CONTROLLER_MANAGER")
	if b.ControllerManager == "" {
		b.ControllerManager = filepath.Join(filepath.Dir(b.APIServer), "kube-controller-manager")
	}
	return b, nil // kube-controller-manager is checked when it is started
}

// Server is a running etcd and kube-apiserver.
type Server struct {
	dir  string
	bins Binaries
	pki  *pki
	log  *slog.Logger

	etcdURL  string
	etcdData string // etcd's data folder, outside dir when on a tmpfs
	apiPort  int
	apiArgs  []string

	mu   sync.Mutex
	etcd *proc
	api  *proc
	kcm  *proc // kube-controller-manager, once StartGarbageCollector ran
}

// proc is a started process and a channel closed once it has been reaped.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Options tune Start.
type Options struct {
	// CRDDirs are folders whose *.yaml CustomResourceDefinitions are installed before Start returns.
	CRDDirs []string
	// Log receives progress (start times, restarts); slog.Default when nil.
	Log *slog.Logger
}

// Start runs etcd and kube-apiserver in a new temporary folder, waits until the API server is ready and
// installs the CRDs. Call Stop when done, also after an error.
func Start(ctx context.Context, bins Binaries, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	started := time.Now()
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	s := &Server{dir: dir, bins: bins, log: opts.Log}
	if s.pki, err = writePKI(dir); err != nil {
		return s, fmt.Errorf("kubetest: %w", err)
	}
	if err := s.startEtcd(ctx); err != nil {
		return s, err
	}
	if s.apiPort, err = freePort(); err != nil {
		return s, err
	}
	s.apiArgs = []string{
		"--etcd-servers=" + s.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.apiPort),
		"--tls-cert-file=" + s.pki.certFile,
		"--tls-private-key-file=" + s.pki.keyFile,
		"--token-auth-file=" + s.pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + s.pki.saPubFile,
		"--service-account-signing-key-file=" + s.pki.saKeyFile,
		"--api-audiences=" + serviceAccountIssuer,
		"--service-cluster-ip-range=10.96.0.0/16",
		// With no endpoints controller and a loopback address, the reconciler of the "kubernetes"
		// Service's endpoints only logs complaints on every loop.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--cert-dir=" + filepath.Join(dir, "cert-dir"),
	}
	if err := s.StartAPIServer(ctx); err != nil {
		return s, err
	}
	if len(opts.CRDDirs) > 0 {
		if err := installCRDs(ctx, s.Admin(), opts.CRDDirs); err != nil {
			return s, fmt.Errorf("kubetest: %w", err)
		}
	}
	s.log.InfoContext(ctx, "kubetest: kube-apiserver ready", "url", s.URL(), "took", time.Since(started).Round(time.Millisecond), "dir", dir)
	return s, nil
}

// etcdDataRoot prefers a tmpfs: etcd syncs its log on every write, which on a shared disk costs more than
// the whole test wants to wait for, and the data is thrown away at the end anyway.
func etcdDataRoot(dir string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return dir
}

func (s *Server) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp(etcdDataRoot(s.dir), "kubetest-etcd-")
	if err != nil {
		return fmt.Errorf("kubetest: etcd data folder: %w", err)
	}
	s.etcdData = data
	s.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	p, err := s.spawn("etcd", s.bins.Etcd,
		"--name=kubetest",
		"--data-dir="+data,
		"--listen-client-urls="+s.etcdURL,
		"--advertise-client-urls="+s.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	s.etcd = p
	err = waitFor(ctx, 30*time.Second, p, func() bool {
		resp, err := http.Get(s.etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"true"`))
	})
	if err != nil {
		return fmt.Errorf("kubetest: etcd: %w%s", err, s.logTail("etcd"))
	}
	return nil
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the same port with the same keys
// and data, and waits until /readyz answers.
func (s *Server) StartAPIServer(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api != nil {
		select {
		case <-s.api.done:
		default:
			return errors.New("kubetest: kube-apiserver is already running")
		}
	}
	p, err := s.spawn("kube-apiserver", s.bins.APIServer, s.apiArgs...)
	if err != nil {
		return err
	}
	s.api = p
	hc, err := s.httpClient()
	if err != nil {
		return err
	}
	// A busy machine (several test binaries building and starting at once) can take much longer than the
	// 4-5 s an idle one needs.
	err = waitFor(ctx, 2*time.Minute, p, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.pki.adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("kubetest: kube-apiserver: %w%s", err, s.logTail("kube-apiserver"))
	}
	return nil
}

// StopAPIServer stops kube-apiserver and waits until it has ended; etcd keeps the data. Tests use it to
// see how clients behave while the API server is unavailable.
func (s *Server) StopAPIServer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	stop(s.api)
}

// Stop ends both processes and removes the folder.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stop(s.kcm)
	stop(s.api)
	stop(s.etcd)
	if s.etcdData != "" {
		_ = os.RemoveAll(s.etcdData)
	}
	_ = os.RemoveAll(s.dir)
}

// stop asks a process to end (SIGTERM), and kills it when it has not after 10 s.
func stop(p *proc) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// URL is the API server's base URL.
func (s *Server) URL() string { return fmt.Sprintf("https://127.0.0.1:%d", s.apiPort) }

// Dir is the server's folder: keys, logs (<name>.log).
func (s *Server) Dir() string { return s.dir }

// Admin returns a new config for the admin user (group system:masters, which RBAC lets do everything).
func (s *Server) Admin() *rest.Config {
	return &rest.Config{
		Host:            s.URL(),
		BearerToken:     s.pki.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.pki.caPEM},
		// Tests create many objects quickly; client-go's default of 5 requests per second would make
		// them wait for the client instead of the server.
		QPS:   200,
		Burst: 400,
	}
}

// Anonymous returns a config with no credentials, trusting the server's certificate.
func (s *Server) Anonymous() *rest.Config {
	return &rest.Config{Host: s.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: s.pki.caPEM}, QPS: 200, Burst: 400}
}

// ServiceAccount returns a config that authenticates as the ServiceAccount namespace/name with a token
// from the TokenRequest API (what a pod's projected token is), valid for an hour. The ServiceAccount must
// exist: without a controller-manager nobody creates them.
func (s *Server) ServiceAccount(ctx context.Context, namespace, name string) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(s.Admin())
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	expiry := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubetest: token for service account %s/%s: %w", namespace, name, err)
	}
	c := s.Anonymous()
	c.BearerToken = tr.Status.Token
	return c, nil
}

func (s *Server) httpClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.pki.caPEM) {
		return nil, errors.New("kubetest: bad CA certificate")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

// spawn starts bin with its output in <dir>/<name>.log (appended to on restarts).
func (s *Server) spawn(name, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	// Not CommandContext: the server outlives the context it was started with and ends in Stop.
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that Stop reaches whatever it started; killed with the test binary when
	// that dies without Stop (a test timeout's panic), so no etcd is left listening.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("kubetest: start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// logTail returns the end of a process's log, for errors.
func (s *Server) logTail(name string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, name+".log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return "\n--- end of " + name + ".log:\n" + string(b)
}

// waitFor polls ok until it holds, the process ends, or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, p *proc, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if ok() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited during start-up (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}
