package kubetest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

var componentGVR = schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "components"}

func clients(t *testing.T, s *kubetest.Server) (*kubernetes.Clientset, *dynamic.DynamicClient) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn
}

func component(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "dapr.io/v1alpha1",
		"kind":       "Component",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"type": "bindings.cron", "version": "v1", "metadata": []any{map[string]any{"name": "schedule", "value": "@every 1m"}}},
	}}
}

func TestDaprCRDsServeComponents(t *testing.T) {
	s := kubetest.Shared(t)
	cs, dyn := clients(t, s)
	ctx := context.Background()
	ns := s.Namespace(t, "crds")

	// The version the project builds must be the one the server reports (the build sets it with ldflags).
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v"+kubetest.DefaultVersion && os.Getenv("K8S_VERSION") == "" {
		t.Errorf("server version %q, want v%s", v.GitVersion, kubetest.DefaultVersion)
	}

	for _, crd := range []string{"components.dapr.io", "configurations.dapr.io", "resiliencies.dapr.io", "subscriptions.dapr.io"} {
		if _, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Get(ctx, crd, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s: %v", crd, err)
		}
	}
	if _, err := dyn.Resource(componentGVR).Namespace(ns).Create(ctx, component("ticker"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a Component: %v", err)
	}
	got, err := dyn.Resource(componentGVR).Namespace(ns).Get(ctx, "ticker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _, _ := unstructured.NestedString(got.Object, "spec", "type"); typ != "bindings.cron" {
		t.Errorf("stored spec.type %q", typ)
	}
}

// A ServiceAccount's token authenticates as the ServiceAccount, and RBAC decides what it may do: nothing
// until a Role grants it.
func TestServiceAccountsAreSubjectToRBAC(t *testing.T) {
	s := kubetest.Shared(t)
	cs, _ := clients(t, s)
	ctx := context.Background()
	ns := s.Namespace(t, "rbac")
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.ServiceAccount(ctx, ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list configmaps without a role: err %v, want Forbidden", err)
	}

	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer reads roles from the API server's informer cache: a new binding takes effect a
	// moment later (longer on a busy machine), not with the create's answer.
	var listErr error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, listErr = sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(listErr) {
			break
		}
	}
	if listErr != nil {
		t.Errorf("list configmaps with the role: %v", listErr)
	}
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets, which the role does not grant: err %v, want Forbidden", err)
	}

	anon, err := kubernetes.NewForConfig(s.Anonymous())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) {
		t.Errorf("anonymous list: err %v, want Forbidden or Unauthorized", err)
	}
}

// Stopping the API server makes requests fail; starting it again brings back everything stored before.
func TestAPIServerRestartKeepsTheData(t *testing.T) {
	s := kubetest.Shared(t)
	_, dyn := clients(t, s)
	ctx := context.Background()
	ns := s.Namespace(t, "restart")
	comps := dyn.Resource(componentGVR).Namespace(ns)
	if _, err := comps.Create(ctx, component("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	s.StopAPIServer()
	if _, err := comps.Get(ctx, "before", metav1.GetOptions{}); err == nil {
		t.Error("a request succeeded while the API server was stopped")
	}
	if err := s.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := comps.Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	if _, err := comps.Create(ctx, component("after"), metav1.CreateOptions{}); err != nil {
		t.Errorf("create after the restart: %v", err)
	}
}

// Apply stops at what the server refuses and hands back the server's warnings, so that tests can insist
// on neither: server-side apply refuses unknown fields, in built-in kinds and in Dapr's custom resources
// alike, and warns about what it accepts but advises against (here a custom resource's finalizer without a
// domain).
func TestApplyReportsRefusalsAndWarnings(t *testing.T) {
	s := kubetest.Shared(t)
	ns := s.Namespace(t, "warnings")
	ctx := context.Background()
	configMap := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name},
			"data":     map[string]any{"a": "b"},
		}}
	}
	typo := configMap("typo")
	typo.Object["dta"] = map[string]any{"c": "d"}
	compTypo := component("typo")
	compTypo.Object["spec"].(map[string]any)["ignoreErrrors"] = true
	for _, o := range []*unstructured.Unstructured{typo, compTypo} {
		if _, err := kubetest.Apply(ctx, s.Admin(), ns, []*unstructured.Unstructured{o}); err == nil || !strings.Contains(err.Error(), "not declared in schema") {
			t.Errorf("%s with an unknown field: err %v, want a refusal", o.GetKind(), err)
		}
	}

	advised := component("advised")
	advised.SetFinalizers([]string{"cleanup"})
	res, err := kubetest.Apply(ctx, s.Admin(), ns, []*unstructured.Unstructured{advised, component("clean")})
	if err != nil {
		t.Fatal(err)
	}
	if w := res[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "finalizer") {
		t.Errorf("warnings %q, want one about the finalizer", w)
	}
	if w := res[1].Warnings; len(w) != 0 {
		t.Errorf("a clean object drew warnings: %q", w)
	}
	if res[0].Object.GetNamespace() != ns {
		t.Errorf("namespaced object applied to %q, want %q", res[0].Object.GetNamespace(), ns)
	}
}
