package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/internal/golden"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/kube"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

const ns = "runtime"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

type cluster struct {
	dyn  *dynfake.FakeDynamicClient
	core *fake.Clientset
	app  *kube.Applier
}

func newCluster(t *testing.T, objs []runtime.Object, secrets ...runtime.Object) cluster {
	t.Helper()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		kube.ComponentGVR: "ComponentList",
		deploymentsGVR:    "DeploymentList",
	}, objs...)
	core := fake.NewSimpleClientset(secrets...)
	owner := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "runtime-agent", UID: "uid-1"}
	app, err := kube.New(dyn, core, kube.Config{Namespace: ns, RuntimeID: "rt-1", SecretPrefix: "mgmtplane-agent-", IgnoreErrors: true, Owner: owner, RetryFor: 5 * time.Second}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return cluster{dyn: dyn, core: core, app: app}
}

func (c cluster) apply(t *testing.T, rev revision.Revision) {
	t.Helper()
	if err := c.app.Apply(context.Background(), rev); err != nil {
		t.Fatalf("apply revision %d: %v", rev.Number, err)
	}
}

func (c cluster) component(t *testing.T, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u, err := c.dyn.Resource(kube.ComponentGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, false
	}
	return u, true
}

func (c cluster) secret(t *testing.T, name string) (*corev1.Secret, bool) {
	t.Helper()
	s, err := c.core.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, false
	}
	return s, true
}

// writes counts the create, update and delete calls made so far.
func (c cluster) writes() int {
	n := 0
	for _, list := range [][]k8stesting.Action{c.dyn.Actions(), c.core.Actions()} {
		for _, a := range list {
			switch a.GetVerb() {
			case "create", "update", "delete":
				n++
			}
		}
	}
	return n
}

func fixture() revision.Revision {
	return revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{
		{
			Name:           "logging",
			Type:           "bindings.http",
			Metadata:       []revision.Item{{Name: "url", Value: "http://logs.example.com/in"}},
			SecretMetadata: []revision.Item{{Name: "securityToken", Value: "s3cr3t"}},
			Scopes:         []string{"demo-logger"},
		},
		{Name: "ticker", Type: "bindings.cron", Metadata: []revision.Item{{Name: "schedule", Value: "@every 10s"}}},
	}}
}

// asYAML renders a Component resource the way the agent renders files, for golden comparison.
func asYAML(t *testing.T, u *unstructured.Unstructured) []byte {
	t.Helper()
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		component.Component
		Metadata struct {
			component.ObjectMeta
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c.Component.Metadata = c.Metadata.ObjectMeta
	// The version is random; the golden file shows where it goes.
	if _, ok := c.Component.Metadata.Annotations[component.SecretsVersionAnnotation]; ok {
		c.Component.Metadata.Annotations[component.SecretsVersionAnnotation] = "$VERSION"
	}
	out, err := c.Component.YAML("")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApplyCreatesComponentsAndSecrets(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(t, fixture())

	logging, ok := c.component(t, "logging")
	if !ok {
		t.Fatal("component logging not created")
	}
	golden.Equal(t, filepath.Join("..", "testdata", "kube", "logging.yaml"), asYAML(t, logging))
	if refs := logging.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != "uid-1" {
		t.Errorf("owner references %+v", refs)
	}
	if _, ok := c.component(t, "ticker"); !ok {
		t.Error("component ticker not created")
	}

	s, ok := c.secret(t, "mgmtplane-agent-logging")
	if !ok {
		t.Fatal("secret not created")
	}
	if string(s.Data["securityToken"]) != "s3cr3t" || s.Labels[component.ManagedByLabel] != component.ManagedByValue || len(s.OwnerReferences) != 1 {
		t.Errorf("secret %+v", s)
	}
	if _, ok := c.secret(t, "mgmtplane-agent-ticker"); ok {
		t.Error("secret created for a binding without secrets")
	}
	if v := s.Annotations[component.SecretsVersionAnnotation]; v == "" || v != logging.GetAnnotations()[component.SecretsVersionAnnotation] {
		t.Errorf("component and secret versions differ: %q and %q", v, logging.GetAnnotations()[component.SecretsVersionAnnotation])
	}
}

func TestSameRevisionWritesNothing(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(t, fixture())
	before := c.writes()
	c.apply(t, fixture())
	if n := c.writes() - before; n != 0 {
		t.Errorf("%d writes for an unchanged revision", n)
	}
}

func TestSecretOnlyChangeUpdatesTheComponent(t *testing.T) {
	c := newCluster(t, nil)
	rev := fixture()
	c.apply(t, rev)
	old, _ := c.component(t, "logging")
	oldTicker, _ := c.component(t, "ticker")

	rev.Number++
	rev.Bindings[0].SecretMetadata[0].Value = "n3w"
	c.apply(t, rev)

	s, _ := c.secret(t, "mgmtplane-agent-logging")
	if string(s.Data["securityToken"]) != "n3w" {
		t.Errorf("secret not updated: %q", s.Data["securityToken"])
	}
	now, _ := c.component(t, "logging")
	if old.GetAnnotations()[component.SecretsVersionAnnotation] == now.GetAnnotations()[component.SecretsVersionAnnotation] {
		t.Error("the component did not change with its secret: the operator would not push the new value")
	}
	if now.GetAnnotations()[component.SecretsVersionAnnotation] != s.Annotations[component.SecretsVersionAnnotation] {
		t.Error("component and secret versions differ")
	}
	if ticker, _ := c.component(t, "ticker"); ticker.GetResourceVersion() != oldTicker.GetResourceVersion() || !equalJSON(t, ticker.Object, oldTicker.Object) {
		t.Error("a component without secrets changed")
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func unstructuredComponent(name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "dapr.io/v1alpha1",
		"kind":       "Component",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       map[string]any{"type": "pubsub.redis", "version": "v1"},
	}}
	u.SetLabels(labels)
	return u
}

func TestRemovesOnlyOwnedObjects(t *testing.T) {
	otherRuntime := component.OwnedLabels("rt-2")
	foreignComp := unstructuredComponent("pubsub", nil)
	otherComp := unstructuredComponent("other-runtime", otherRuntime)
	foreignSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mgmtplane-agent-foreign", Namespace: ns}}
	c := newCluster(t, []runtime.Object{foreignComp, otherComp}, foreignSecret)

	rev := fixture()
	c.apply(t, rev)
	rev.Number++
	rev.Bindings = rev.Bindings[1:]
	c.apply(t, rev)

	if _, ok := c.component(t, "logging"); ok {
		t.Error("removed binding's component kept")
	}
	if _, ok := c.secret(t, "mgmtplane-agent-logging"); ok {
		t.Error("removed binding's secret kept")
	}
	if _, ok := c.component(t, "ticker"); !ok {
		t.Error("remaining binding deleted")
	}
	for _, name := range []string{"pubsub", "other-runtime"} {
		if _, ok := c.component(t, name); !ok {
			t.Errorf("component %s the agent does not own was deleted", name)
		}
	}
	if _, ok := c.secret(t, "mgmtplane-agent-foreign"); !ok {
		t.Error("secret the agent does not own was deleted")
	}
}

func TestConflictRefusesTheRevision(t *testing.T) {
	c := newCluster(t, []runtime.Object{unstructuredComponent("ticker", nil)})
	err := c.app.Apply(context.Background(), fixture())
	if !errors.Is(err, kube.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
	if n := c.writes(); n != 0 {
		t.Errorf("%d writes for a refused revision", n)
	}
	if u, _ := c.component(t, "ticker"); u.Object["spec"].(map[string]any)["type"] != "pubsub.redis" {
		t.Error("foreign component changed")
	}

	c = newCluster(t, nil, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mgmtplane-agent-logging", Namespace: ns}})
	if err := c.app.Apply(context.Background(), fixture()); !errors.Is(err, kube.ErrConflict) {
		t.Fatalf("secret conflict: err %v, want ErrConflict", err)
	}
}

func TestInvalidRevisionWritesNothing(t *testing.T) {
	c := newCluster(t, nil)
	rev := fixture()
	rev.Bindings[1].Type = "bindings.unknown"
	if err := c.app.Apply(context.Background(), rev); !errors.Is(err, revision.ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	if n := c.writes(); n != 0 {
		t.Errorf("%d writes for an invalid revision", n)
	}
}

func TestResolveOwner(t *testing.T) {
	dep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": "runtime-agent", "namespace": ns, "uid": "uid-42"},
	}}
	c := newCluster(t, []runtime.Object{dep})
	ref, err := kube.ResolveOwner(context.Background(), c.dyn, ns, "apps/v1/deployments/runtime-agent")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != "runtime-agent" || ref.UID != "uid-42" {
		t.Errorf("owner %+v", ref)
	}
	for _, bad := range []string{"deployments/x", "apps/v1/deployments/", "a/b/c/d/e"} {
		if _, err := kube.ResolveOwner(context.Background(), c.dyn, ns, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Failures of the API server and races with other writers are retried; answers about the request itself
// are not. (The real-server tests show refused connections and restarts; these are the statuses a busy or
// unhealthy server answers with.)
func TestOnlyTransientFailuresAreRetried(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	for _, tc := range []struct {
		name    string
		err     error
		retried bool
	}{
		{"unavailable", apierrors.NewServiceUnavailable("etcd is electing a leader"), true},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), true},
		{"internal error", apierrors.NewInternalError(errors.New("etcdserver: request timed out")), true},
		{"server timeout", apierrors.NewServerTimeout(secrets, "create", 1), true},
		{"already exists", apierrors.NewAlreadyExists(secrets, "mgmtplane-agent-logging"), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "mgmtplane-agent-logging", nil), false},
		{"bad request", apierrors.NewBadRequest("no"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, nil)
			failures := 2
			c.core.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				if failures > 0 {
					failures--
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			err := c.app.Apply(context.Background(), fixture())
			if tc.retried {
				if err != nil {
					t.Fatalf("not retried: %v", err)
				}
				if _, ok := c.secret(t, "mgmtplane-agent-logging"); !ok {
					t.Error("secret missing after the retries")
				}
				return
			}
			if err == nil || failures != 1 {
				t.Fatalf("err %v after %d attempts, want the error after one", err, 2-failures)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("err %v does not wrap %v", err, tc.err)
			}
		})
	}
}
