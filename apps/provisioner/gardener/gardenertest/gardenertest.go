// Package gardenertest plays Gardener for tests of the gardener backend on a real kube-apiserver
// (apps/internal/kubetest): no Gardener can run here, so a Shoot CRD of ours serves the Shoots, a
// ValidatingAdmissionPolicy refuses unconfirmed deletions as Gardener's admission plugin does, and Fake
// does what Gardener's controllers would.
package gardenertest

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener"
)

// Fake plays Gardener for the Shoots of one project namespace, as Gardener's controllers would on
// a garden cluster (none can run here): it keeps a finalizer on every Shoot, gives it a DNS domain, marks
// each new generation observed and its operation Processing, then Succeeded (or Failed when told), and
// writes the `<shoot>.kubeconfig` secret once a Shoot is created. The "shoot cluster" that kubeconfig
// reaches is the test API server itself.
type Fake struct {
	ns        string
	dyn       dynamic.ResourceInterface
	core      kubernetes.Interface
	srv       *kubetest.Server
	mu        sync.Mutex
	fail      map[string]string // shoot name -> description of a failed last operation
	hold      map[string]bool   // shoots Gardener does nothing with yet
	confirmed map[string]bool   // shoots that carried the deletion confirmation when deleted
}

const gardenerFinalizer = "gardener"

// Start runs a Fake for the project namespace ns until the test ends.
func Start(t testing.TB, srv *kubetest.Server, ns string) *Fake {
	t.Helper()
	dyn, err := dynamic.NewForConfig(srv.Admin())
	if err != nil {
		t.Fatal(err)
	}
	core, err := kubernetes.NewForConfig(srv.Admin())
	if err != nil {
		t.Fatal(err)
	}
	g := &Fake{ns: ns, dyn: dyn.Resource(gardener.ShootGVR).Namespace(ns), core: core, srv: srv,
		fail: map[string]string{}, hold: map[string]bool{}, confirmed: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			g.round(ctx, t)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// SetFail makes the Shoot name's operations fail with description why.
func (g *Fake) SetFail(name, why string) { g.mu.Lock(); g.fail[name] = why; g.mu.Unlock() }

// SetHold makes the Fake leave the Shoot name alone (on) or take it up again.
func (g *Fake) SetHold(name string, on bool) { g.mu.Lock(); g.hold[name] = on; g.mu.Unlock() }

// WasConfirmed tells whether the Shoot name carried the deletion confirmation when it was deleted.
func (g *Fake) WasConfirmed(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.confirmed[name]
}

func (g *Fake) round(ctx context.Context, t testing.TB) {
	list, err := g.dyn.List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		s := &list.Items[i]
		g.mu.Lock()
		hold, fail := g.hold[s.GetName()], g.fail[s.GetName()]
		g.mu.Unlock()
		if hold {
			continue
		}
		if err := g.reconcile(ctx, s, fail); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			t.Logf("fake gardener: shoot %s: %v", s.GetName(), err)
		}
	}
}

// reconcile takes one step for a Shoot, as Gardener's controllers would, one write at a time.
func (g *Fake) reconcile(ctx context.Context, s *unstructured.Unstructured, fail string) error {
	name := s.GetName()
	if s.GetDeletionTimestamp() != nil {
		g.mu.Lock()
		g.confirmed[name] = s.GetAnnotations()[gardener.AnnotationConfirmDeletion] == "true"
		g.mu.Unlock()
		if op, _, _ := unstructured.NestedString(s.Object, "status", "lastOperation", "type"); op != "Delete" {
			_ = unstructured.SetNestedMap(s.Object, map[string]any{"type": "Delete", "state": "Processing", "description": "deleting"}, "status", "lastOperation")
			_, err := g.dyn.UpdateStatus(ctx, s, metav1.UpdateOptions{})
			return err
		}
		_ = g.core.CoreV1().Secrets(g.ns).Delete(ctx, name+".kubeconfig", metav1.DeleteOptions{})
		s.SetFinalizers(slices.DeleteFunc(s.GetFinalizers(), func(f string) bool { return f == gardenerFinalizer }))
		_, err := g.dyn.Update(ctx, s, metav1.UpdateOptions{})
		return err
	}
	if !slices.Contains(s.GetFinalizers(), gardenerFinalizer) {
		s.SetFinalizers(append(s.GetFinalizers(), gardenerFinalizer))
		_, err := g.dyn.Update(ctx, s, metav1.UpdateOptions{})
		return err
	}
	if d, _, _ := unstructured.NestedString(s.Object, "spec", "dns", "domain"); d == "" {
		// Gardener's default domain: <shoot>.<project>.<garden domain>.
		_ = unstructured.SetNestedField(s.Object, fmt.Sprintf("%s.%s.shoot.example.com", name, g.ns), "spec", "dns", "domain")
		_, err := g.dyn.Update(ctx, s, metav1.UpdateOptions{})
		return err
	}
	observed, _, _ := unstructured.NestedInt64(s.Object, "status", "observedGeneration")
	last, _, _ := unstructured.NestedStringMap(s.Object, "status", "lastOperation")
	switch {
	case observed < s.GetGeneration():
		opType := "Reconcile"
		if last["type"] == "" || (last["type"] == "Create" && last["state"] != "Succeeded") {
			opType = "Create"
		}
		_ = unstructured.SetNestedField(s.Object, s.GetGeneration(), "status", "observedGeneration")
		_ = unstructured.SetNestedMap(s.Object, map[string]any{"type": opType, "state": "Processing", "description": "working"}, "status", "lastOperation")
		_, err := g.dyn.UpdateStatus(ctx, s, metav1.UpdateOptions{})
		return err
	case last["state"] == "Processing" && fail != "":
		_ = unstructured.SetNestedMap(s.Object, map[string]any{"type": last["type"], "state": "Failed", "description": fail}, "status", "lastOperation")
		_ = unstructured.SetNestedSlice(s.Object, []any{map[string]any{"description": "infrastructure: quota exceeded"}}, "status", "lastErrors")
		_, err := g.dyn.UpdateStatus(ctx, s, metav1.UpdateOptions{})
		return err
	case last["state"] == "Processing":
		hib, _, _ := unstructured.NestedBool(s.Object, "spec", "hibernation", "enabled")
		_ = unstructured.SetNestedField(s.Object, hib, "status", "hibernated")
		_ = unstructured.SetNestedMap(s.Object, map[string]any{"type": last["type"], "state": "Succeeded", "description": "done"}, "status", "lastOperation")
		if _, err := g.dyn.UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			return err
		}
		return g.writeKubeconfig(ctx, name)
	}
	return nil
}

// writeKubeconfig writes the shoot's kubeconfig secret: the shoot's API server is the test API server.
func (g *Fake) writeKubeconfig(ctx context.Context, name string) error {
	admin := g.srv.Admin()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["shoot"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: admin.BearerToken}
	kc.Contexts["shoot"] = &clientcmdapi.Context{Cluster: "shoot", AuthInfo: "admin"}
	kc.CurrentContext = "shoot"
	raw, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + ".kubeconfig", Namespace: g.ns},
		Data: map[string][]byte{"kubeconfig": raw}}
	_, err = g.core.CoreV1().Secrets(g.ns).Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Install installs the Shoot CRD and the deletion-confirmation policy (crds/) once per test binary, and
// waits until both are in force.
var installOnce sync.Once

func Install(t testing.TB, srv *kubetest.Server) {
	t.Helper()
	var err error
	installOnce.Do(func() { err = install(srv) })
	if err != nil {
		t.Fatal(err)
	}
}

func install(srv *kubetest.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, f := range []string{"shoots.yaml", "shoot-deletion-policy.yaml"} {
		objs, err := kubetest.ReadObjects(filepath.Join(crdDir(), f))
		if err != nil {
			return err
		}
		// The CRD must be served before the policy's type check can see it; Apply's discovery is fresh.
		for {
			_, err = kubetest.Apply(ctx, srv.Admin(), "", objs)
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("install %s: %w", f, err)
		}
	}
	// The policy is loaded asynchronously: wait until it refuses an unconfirmed deletion.
	dyn, err := dynamic.NewForConfig(srv.Admin())
	if err != nil {
		return err
	}
	probe := dyn.Resource(gardener.ShootGVR).Namespace("default")
	s := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
		"metadata": map[string]any{"name": "policy-probe"}, "spec": map[string]any{}}}
	for {
		if _, err := probe.Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			if ctx.Err() != nil {
				return fmt.Errorf("shoot CRD not served: %w", err)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		err := probe.Delete(ctx, "policy-probe", metav1.DeleteOptions{})
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the deletion-confirmation policy is not in force: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// crdDir is this package's crds folder, wherever the test using it runs.
func crdDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "crds")
}
