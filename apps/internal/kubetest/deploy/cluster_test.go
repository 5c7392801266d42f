// Package deploy_test puts the manifests of deploy/ in front of a real Kubernetes API server
// (apps/internal/kubetest): what kustomize renders from deploy/kustomization.yaml is applied server-side,
// as `kubectl apply -k deploy/ --server-side` would, and every service account's permissions are checked
// with the server's own authorizer (SubjectAccessReview, what `kubectl auth can-i` asks): each may do what
// its app needs, and nothing more.
//
// The tests live here rather than in deploy/ because Go lets only code under apps/ import
// apps/internal/kubetest; deploy/manifests_test.go keeps the checks that need no server.
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// planeNamespace is the namespace kustomization.yaml puts everything in.
const planeNamespace = "mgmtplane"

var configurationGVR = schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "configurations"}

// render returns what `kubectl apply -k deploy/` would send: kustomization.yaml's resources with its
// namespace and images set, in kustomize's order (namespaces first).
func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), deployDir(t))
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		// Through JSON: kustomize's maps hold Go ints, which unstructured objects cannot.
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// applyClean applies objs as the admin and fails the test for every refused object or warning.
func applyClean(t *testing.T, s *kubetest.Server, namespace string, objs []*unstructured.Unstructured) {
	t.Helper()
	results, err := kubetest.Apply(context.Background(), s.Admin(), namespace, objs)
	if err != nil {
		t.Fatalf("the API server refused the manifests: %v", err)
	}
	for _, r := range results {
		for _, w := range r.Warnings {
			t.Errorf("%s %s: warning: %s", r.Object.GetKind(), r.Object.GetName(), w)
		}
	}
}

// appliedPlane applies the kustomization once per test binary and returns the rendered objects.
func appliedPlane(t *testing.T) (*kubetest.Server, []*unstructured.Unstructured) {
	t.Helper()
	s := kubetest.Shared(t)
	objs := render(t)
	applyClean(t, s, planeNamespace, objs)
	return s, objs
}

func TestTheKustomizationAppliesWithoutWarnings(t *testing.T) {
	s, objs := appliedPlane(t)
	if len(objs) == 0 {
		t.Fatal("kustomize rendered nothing")
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	// Every kind the plane needs arrived (Configurations and Components need Dapr's CRDs).
	for _, k := range []string{"Namespace", "Deployment", "ServiceAccount", "Role", "RoleBinding", "Service", "Component", "Configuration"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered", k)
		}
	}
	// A second apply changes nothing: the server keeps no field of its own that the manifests fight over.
	dyn, err := dynamic.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	before := resourceVersions(t, dyn, objs)
	applyClean(t, s, planeNamespace, objs)
	after := resourceVersions(t, dyn, objs)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed on the second apply (resourceVersion %s -> %s)", k, v, after[k])
		}
	}
}

func resourceVersions(t *testing.T, dyn dynamic.Interface, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	// Read back through the same apply path's results would tie this to Apply; a plain list per object is
	// simpler: only the kinds whose resources are known here.
	gvrs := map[string]schema.GroupVersionResource{
		"Deployment":     {Group: "apps", Version: "v1", Resource: "deployments"},
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
		"Role":           {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		"RoleBinding":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		"Service":        {Version: "v1", Resource: "services"},
		"Component":      {Group: "dapr.io", Version: "v1alpha1", Resource: "components"},
		"Configuration":  configurationGVR,
	}
	for _, o := range objs {
		gvr, ok := gvrs[o.GetKind()]
		if !ok {
			continue
		}
		u, err := dyn.Resource(gvr).Namespace(o.GetNamespace()).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		out[o.GetKind()+" "+o.GetName()] = u.GetResourceVersion()
	}
	return out
}

// kubernetesSecrets returns the secrets a Dapr Configuration lets its app read from the "kubernetes"
// secret store: what the app's sidecar reads with the pod's service account.
func kubernetesSecrets(t *testing.T, cfg *unstructured.Unstructured) []string {
	t.Helper()
	scopes, _, _ := unstructured.NestedSlice(cfg.Object, "spec", "secrets", "scopes")
	for _, sc := range scopes {
		m, _ := sc.(map[string]any)
		if m["storeName"] != "kubernetes" {
			continue
		}
		if m["defaultAccess"] != "deny" {
			t.Errorf("Configuration %s: the kubernetes secret store's defaultAccess is %v, want deny", cfg.GetName(), m["defaultAccess"])
		}
		names, _, _ := unstructured.NestedStringSlice(m, "allowedSecrets")
		return names
	}
	return nil
}

// secretNames returns every Secret name the objects mention (Roles, Configurations, components' and
// pods' references), for checking that a service account can read no other than its own.
func secretNames(objs []*unstructured.Unstructured) []string {
	seen := map[string]bool{"unrelated": true}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(c, k)
			}
			if ref, ok := x["secretKeyRef"].(map[string]any); ok {
				seen[ref["name"].(string)] = true
			}
			if n, ok := x["secretName"].(string); ok {
				seen[n] = true
			}
		case []any:
			for _, c := range x {
				walk(c, key)
			}
		case string:
			if key == "resourceNames" || key == "allowedSecrets" || key == "dapr.io/app-token-secret" || key == "dapr.io/api-token-secret" {
				seen[x] = true
			}
		}
	}
	for _, o := range objs {
		walk(o.Object, "")
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// forbiddenEverywhere is what no app's service account needs, in its own namespace or any other.
func forbiddenEverywhere(ns string) []kubetest.Access {
	return []kubetest.Access{
		{Verb: "list", Resource: "secrets", Namespace: ns},
		{Verb: "watch", Resource: "secrets", Namespace: ns},
		{Verb: "create", Resource: "secrets", Namespace: ns},
		{Verb: "get", Resource: "configmaps", Namespace: ns},
		{Verb: "list", Resource: "pods", Namespace: ns},
		{Verb: "create", Resource: "pods", Namespace: ns},
		{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: ns},
		{Verb: "update", Group: "apps", Resource: "deployments", Namespace: ns},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: ns},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: ns},
		{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: ns},
		{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		{Verb: "create", Group: "dapr.io", Resource: "configurations", Namespace: ns},
		{Verb: "create", Group: "dapr.io", Resource: "resiliencies", Namespace: ns},
		{Verb: "impersonate", Resource: "serviceaccounts", Namespace: ns},
		{Verb: "list", Resource: "secrets"},
		{Verb: "list", Resource: "namespaces"},
		{Verb: "get", Resource: "nodes"},
	}
}

func check(t *testing.T, s *kubetest.Server, ns, sa string, a kubetest.Access, want bool) {
	t.Helper()
	got, err := s.ServiceAccountAllowed(context.Background(), ns, sa, a)
	if want {
		got, err = s.ServiceAccountGranted(context.Background(), ns, sa, a, 15*time.Second)
	}
	if err != nil {
		t.Error(err)
		return
	}
	if got != want {
		verdict := "may not"
		if got {
			verdict = "may"
		}
		t.Errorf("service account %s/%s %s %s", ns, sa, verdict, a)
	}
}

// Each app reads exactly the secrets its Dapr Configuration allows from the "kubernetes" secret store (its
// sidecar does so with the pod's service account), only in its own namespace, and can do nothing else.
func TestEachServiceAccountReadsOnlyItsAppsSecrets(t *testing.T) {
	s, objs := appliedPlane(t)
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	candidates := secretNames(objs)
	accounts := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "ServiceAccount" {
			accounts[o.GetName()] = true
		}
	}
	checked := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		sa, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName")
		configName, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "annotations", "dapr.io/config")
		if sa == "" || !accounts[sa] {
			t.Errorf("Deployment %s runs as service account %q, which the manifests do not create", o.GetName(), sa)
			continue
		}
		// Read back from the server: what counts is the Configuration as stored (unknown fields pruned).
		cfg, err := dyn.Resource(configurationGVR).Namespace(planeNamespace).Get(ctx, configName, metav1.GetOptions{})
		if err != nil {
			t.Errorf("Deployment %s: Configuration %q: %v", o.GetName(), configName, err)
			continue
		}
		needs := kubernetesSecrets(t, cfg)
		checked[sa] = true
		t.Run(sa, func(t *testing.T) {
			for _, name := range candidates {
				check(t, s, planeNamespace, sa, kubetest.Access{Verb: "get", Resource: "secrets", Namespace: planeNamespace, Name: name}, slices.Contains(needs, name))
			}
			for _, name := range needs {
				for _, verb := range []string{"update", "patch", "delete"} {
					check(t, s, planeNamespace, sa, kubetest.Access{Verb: verb, Resource: "secrets", Namespace: planeNamespace, Name: name}, false)
				}
				for _, other := range []string{"default", "kube-system", "runtime"} {
					check(t, s, planeNamespace, sa, kubetest.Access{Verb: "get", Resource: "secrets", Namespace: other, Name: name}, false)
				}
			}
			for _, a := range forbiddenEverywhere(planeNamespace) {
				check(t, s, planeNamespace, sa, a, false)
			}
			// Components reach the sidecars through Dapr's operator, never through the app's account.
			check(t, s, planeNamespace, sa, kubetest.Access{Verb: "list", Group: "dapr.io", Resource: "components", Namespace: planeNamespace}, false)
		})
	}
	for sa := range accounts {
		if !checked[sa] {
			t.Errorf("service account %s is used by no Deployment", sa)
		}
	}
}

// The same, with real tokens and real requests: what the sidecar's kubernetes secret store does.
func TestServiceAccountTokensReadTheirSecretsAndNoOthers(t *testing.T) {
	s, objs := appliedPlane(t)
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(s.Admin())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range secretNames(objs) {
		_, err := admin.CoreV1().Secrets(planeNamespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			StringData: map[string]string{"key": "value of " + name},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	cfg, err := s.ServiceAccount(ctx, planeNamespace, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := gw.CoreV1().Secrets(planeNamespace).Get(ctx, "mesh-assertion-signing-key", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the gateway cannot read its signing key: %v", err)
	}
	if string(sec.Data["key"]) != "value of mesh-assertion-signing-key" {
		t.Errorf("signing key %q", sec.Data["key"])
	}
	for _, name := range []string{"connector-ca", "registry-postgres"} {
		if _, err := gw.CoreV1().Secrets(planeNamespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("gateway get secret %s: err %v, want Forbidden", name, err)
		}
	}
	if _, err := gw.CoreV1().Secrets(planeNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("gateway list secrets: err %v, want Forbidden", err)
	}
}

// deployDir is the repository's deploy/ folder.
func deployDir(t *testing.T) string {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy")
}

// runtimeAgentObjects reads runtime-agent.yaml, which is applied in a runtime's cluster, not through the
// kustomization.
func runtimeAgentObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := kubetest.ReadObjects(filepath.Join(deployDir(t), "runtime-agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// The Runtime Agent, applied in two runtimes' namespaces, manages Components and Secrets in its own
// namespace and reads its own Deployment (its owner reference), and nothing in any other namespace.
func TestRuntimeAgentIsConfinedToItsNamespace(t *testing.T) {
	s := kubetest.Shared(t)
	objs := runtimeAgentObjects(t)
	own, other := s.Namespace(t, "runtime"), s.Namespace(t, "runtime")
	applyClean(t, s, own, objs)
	applyClean(t, s, other, objs)

	const sa = "runtime-agent"
	// What apps/runtime-agent/kube does: get, list, create, update and delete of Components and Secrets
	// (it reads everything before it writes, and lists what it owns to remove what a revision dropped),
	// watch of them (drift: someone editing or deleting what it applied), and get of its own Deployment to
	// make it the owner.
	var needs []kubetest.Access
	for _, res := range []struct{ group, resource string }{{"dapr.io", "components"}, {"", "secrets"}} {
		for _, verb := range []string{"get", "list", "watch", "create", "update", "delete"} {
			needs = append(needs, kubetest.Access{Verb: verb, Group: res.group, Resource: res.resource, Namespace: own})
		}
	}
	needs = append(needs, kubetest.Access{Verb: "get", Group: "apps", Resource: "deployments", Namespace: own, Name: "runtime-agent"})
	for _, a := range needs {
		check(t, s, own, sa, a, true)
		// Nothing of it in another runtime's namespace, the plane's, or cluster-wide.
		for _, ns := range []string{other, planeNamespace, "default", ""} {
			b := a
			b.Namespace = ns
			check(t, s, own, sa, b, false)
		}
	}
	for _, a := range []kubetest.Access{
		// Verbs the agent does not use.
		{Verb: "patch", Group: "dapr.io", Resource: "components", Namespace: own},
		{Verb: "deletecollection", Group: "dapr.io", Resource: "components", Namespace: own},
		{Verb: "patch", Resource: "secrets", Namespace: own},
		{Verb: "deletecollection", Resource: "secrets", Namespace: own},
		// Other Dapr resources change how every sidecar of the namespace behaves.
		{Verb: "create", Group: "dapr.io", Resource: "configurations", Namespace: own},
		{Verb: "update", Group: "dapr.io", Resource: "resiliencies", Namespace: own},
		{Verb: "create", Group: "dapr.io", Resource: "subscriptions", Namespace: own},
		// Its own Deployment only to read; no other Deployment at all.
		{Verb: "get", Group: "apps", Resource: "deployments", Namespace: own, Name: "workload"},
		{Verb: "list", Group: "apps", Resource: "deployments", Namespace: own},
		{Verb: "update", Group: "apps", Resource: "deployments", Namespace: own, Name: "runtime-agent"},
		{Verb: "create", Resource: "pods", Namespace: own},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: own, Name: "runtime-agent"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: own},
		{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: own},
	} {
		check(t, s, own, sa, a, false)
	}
}
