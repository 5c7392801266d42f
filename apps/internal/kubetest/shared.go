package kubetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// shared is the test binary's server: started by the first test that needs it, stopped by Main.
var shared struct {
	sync.Mutex
	srv *Server
	err error // why it could not start; later tests fail (or skip) at once with the same reason
}

// Shared returns the test binary's API server, starting it on first use with Dapr's CRDs installed. When
// kube-apiserver or etcd is missing it skips the test, unless the run requires the end-to-end suites
// (MP_REQUIRE_E2E=1, as `make test` sets): then a missing binary fails it. In -short mode (make
// test-unit) it skips. The package's TestMain must
// call Main, which stops the server.
func Shared(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Kubernetes API server; skipped in -short mode")
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startShared()
	}
	if shared.err != nil {
		if errors.Is(shared.err, ErrNotInstalled) && !stacktest.Required() {
			t.Skip(shared.err)
		}
		t.Fatal(shared.err)
	}
	return shared.srv
}

func startShared() (*Server, error) {
	root, err := stacktest.RepoRoot()
	if err != nil {
		return nil, err
	}
	bins, err := FindBinaries(root)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crds, err := DaprCRDDir(ctx, root)
	if err != nil {
		return nil, err
	}
	srv, err := Start(ctx, bins, Options{CRDDirs: []string{crds}})
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

// Main runs the package's tests and then stops the shared server: func TestMain(m *testing.M) {
// os.Exit(kubetest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	shared.srv.Stop()
	shared.srv = nil
	return code
}

// Namespace creates a namespace with a unique name starting with prefix, so that tests sharing a server
// stay apart. It is left behind: without a controller-manager a deleted namespace never finishes
// terminating, and the server's data goes with the server.
func (s *Server) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// GarbageCollector starts the server's garbage collector (StartGarbageCollector) for a test, skipping or
// failing it like Shared when kube-controller-manager is missing.
func (s *Server) GarbageCollector(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.StartGarbageCollector(ctx); err != nil {
		if errors.Is(err, ErrNotInstalled) && !stacktest.Required() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
}
