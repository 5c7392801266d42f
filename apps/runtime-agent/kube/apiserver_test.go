package kube_test

// The writer against a real Kubernetes API server (apps/internal/kubetest), with the permissions of
// deploy/runtime-agent.yaml's ServiceAccount: what the fakes in kube_test.go cannot show — validation and
// defaulting by Dapr's CRD, resource versions, RBAC, owner references with real UIDs, and the API server
// going away in the middle of a revision.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/internal/golden"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/kube"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

const agentSA = "runtime-agent" // deploy/runtime-agent.yaml's ServiceAccount and Deployment

// runtimeNS is a runtime's namespace on the real server with deploy/runtime-agent.yaml applied.
type runtimeNS struct {
	srv   *kubetest.Server
	ns    string
	admin *kubernetes.Clientset      // to look and to plant foreign objects
	dyn   *dynamic.DynamicClient     // admin, for Components
	agent *rest.Config               // the agent's ServiceAccount
	owner *metav1.OwnerReference     // resolved with the agent's own permissions
	deps  *unstructured.Unstructured // the agent's Deployment
}

func newRuntimeNS(t *testing.T) *runtimeNS {
	t.Helper()
	s := kubetest.Shared(t)
	ctx := context.Background()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.ReadObjects(filepath.Join(root, "deploy", "runtime-agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := &runtimeNS{srv: s, ns: s.Namespace(t, "runtime")}
	if _, err := kubetest.Apply(ctx, s.Admin(), r.ns, objs); err != nil {
		t.Fatalf("apply deploy/runtime-agent.yaml: %v", err)
	}
	if r.admin, err = kubernetes.NewForConfig(s.Admin()); err != nil {
		t.Fatal(err)
	}
	if r.dyn, err = dynamic.NewForConfig(s.Admin()); err != nil {
		t.Fatal(err)
	}
	if r.agent, err = s.ServiceAccount(ctx, r.ns, agentSA); err != nil {
		t.Fatal(err)
	}
	agentDyn, err := dynamic.NewForConfig(r.agent)
	if err != nil {
		t.Fatal(err)
	}
	// As the agent does at start with OWNER=apps/v1/deployments/runtime-agent: with its own permissions.
	if r.owner, err = kube.ResolveOwner(ctx, agentDyn, r.ns, "apps/v1/deployments/runtime-agent"); err != nil {
		t.Fatalf("the agent cannot resolve its owner: %v", err)
	}
	if r.deps, err = r.dyn.Resource(deploymentsGVR).Namespace(r.ns).Get(ctx, "runtime-agent", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// applier returns the agent's writer for namespace ns, authenticated as the ServiceAccount of r, with
// wrap (when not nil) around its transport.
func (r *runtimeNS) applier(t *testing.T, ns string, retryFor time.Duration, wrap func(http.RoundTripper) http.RoundTripper) *kube.Applier {
	t.Helper()
	cfg := rest.CopyConfig(r.agent)
	cfg.WrapTransport = wrap
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := kube.New(dyn, core, kube.Config{
		Namespace: ns, RuntimeID: "rt-1", SecretPrefix: "mgmtplane-agent-", IgnoreErrors: true,
		Owner: r.owner, RetryFor: retryFor,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// createForeign creates a Component the agent does not own, as another tool would.
func (r *runtimeNS) createForeign(t *testing.T, name string) {
	t.Helper()
	c := unstructuredComponent(name, nil)
	c.SetNamespace(r.ns)
	// Dapr's CRD insists on spec.metadata.
	if err := unstructured.SetNestedSlice(c.Object, []any{map[string]any{"name": "redisHost", "value": "redis:6379"}}, "spec", "metadata"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dyn.Resource(kube.ComponentGVR).Namespace(r.ns).Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// state is what the agent owns in the namespace: components and secrets by name.
type state struct {
	comps   map[string]*unstructured.Unstructured
	secrets map[string]*corev1.Secret
}

func (r *runtimeNS) state(t *testing.T) state {
	t.Helper()
	ctx := context.Background()
	st := state{comps: map[string]*unstructured.Unstructured{}, secrets: map[string]*corev1.Secret{}}
	cl, err := r.dyn.Resource(kube.ComponentGVR).Namespace(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cl.Items {
		st.comps[cl.Items[i].GetName()] = &cl.Items[i]
	}
	sl, err := r.admin.CoreV1().Secrets(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range sl.Items {
		st.secrets[sl.Items[i].Name] = &sl.Items[i]
	}
	return st
}

func (st state) versions() map[string]string {
	out := map[string]string{}
	for n, c := range st.comps {
		out["component "+n] = c.GetResourceVersion()
	}
	for n, s := range st.secrets {
		out["secret "+n] = s.ResourceVersion
	}
	return out
}

// secretRefs returns the Secret names a component's metadata refers to.
func secretRefs(c *unstructured.Unstructured) []string {
	items, _, _ := unstructured.NestedSlice(c.Object, "spec", "metadata")
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		if ref, ok := m["secretKeyRef"].(map[string]any); ok {
			out = append(out, ref["name"].(string))
		}
	}
	return out
}

// consistent fails the test when a component refers to a Secret that is not there: the state a sidecar
// must never load, whatever moment an apply stopped at.
func (st state) consistent(t *testing.T) {
	t.Helper()
	for n, c := range st.comps {
		for _, ref := range secretRefs(c) {
			if _, ok := st.secrets[ref]; !ok {
				t.Errorf("component %s refers to secret %s, which does not exist", n, ref)
			}
		}
	}
}

// matches fails the test unless the owned objects are exactly rev's, with the secret values of rev and
// each component's secrets version equal to its Secret's.
func (st state) matches(t *testing.T, rev revision.Revision) {
	t.Helper()
	var wantComps, wantSecrets, gotComps, gotSecrets []string
	for _, b := range rev.Bindings {
		wantComps = append(wantComps, b.Name)
		if b.Secrets() != nil {
			wantSecrets = append(wantSecrets, "mgmtplane-agent-"+b.Name)
		}
	}
	for n, c := range st.comps {
		if c.GetLabels()[component.ManagedByLabel] == component.ManagedByValue {
			gotComps = append(gotComps, n)
		}
	}
	for n, s := range st.secrets {
		if s.Labels[component.ManagedByLabel] == component.ManagedByValue {
			gotSecrets = append(gotSecrets, n)
		}
	}
	for _, l := range [][]string{wantComps, wantSecrets, gotComps, gotSecrets} {
		slices.Sort(l)
	}
	if !slices.Equal(gotComps, wantComps) || !slices.Equal(gotSecrets, wantSecrets) {
		t.Fatalf("owned components %v and secrets %v, want %v and %v", gotComps, gotSecrets, wantComps, wantSecrets)
	}
	for _, b := range rev.Bindings {
		c := st.comps[b.Name]
		wantURL := ""
		for _, m := range b.Metadata {
			if m.Name == "url" {
				wantURL = m.Value
			}
		}
		if wantURL != "" && !strings.Contains(mustJSON(t, c.Object), wantURL) {
			t.Errorf("component %s does not have url %s", b.Name, wantURL)
		}
		sv := b.Secrets()
		if sv == nil {
			if v, ok := c.GetAnnotations()[component.SecretsVersionAnnotation]; ok {
				t.Errorf("component %s without secrets keeps a secrets version %q", b.Name, v)
			}
			continue
		}
		s := st.secrets["mgmtplane-agent-"+b.Name]
		got := map[string]string{}
		for k, v := range s.Data {
			got[k] = string(v)
		}
		if !maps.Equal(got, sv) {
			t.Errorf("secret of %s holds %v, want %v", b.Name, got, sv)
		}
		if cv, sv := c.GetAnnotations()[component.SecretsVersionAnnotation], s.Annotations[component.SecretsVersionAnnotation]; cv == "" || cv != sv {
			t.Errorf("component %s has secrets version %q, its secret %q", b.Name, cv, sv)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRealServerWritesOwnsAndCleansUp(t *testing.T) {
	r := newRuntimeNS(t)
	app := r.applier(t, r.ns, 0, nil)
	ctx := context.Background()

	rev := fixture()
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatalf("apply: %v", err)
	}
	st := r.state(t)
	st.matches(t, rev)

	// What the server stored is what the agent renders for files: Dapr's CRD neither refused nor pruned a
	// field of it.
	logging := st.comps["logging"].DeepCopy()
	logging.SetNamespace("runtime")
	golden.Equal(t, filepath.Join("..", "testdata", "kube", "logging.yaml"), asYAML(t, logging))
	for name, o := range map[string]metav1.Object{"component logging": st.comps["logging"], "component ticker": st.comps["ticker"], "secret": st.secrets["mgmtplane-agent-logging"]} {
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != r.deps.GetUID() || refs[0].Kind != "Deployment" || refs[0].Name != "runtime-agent" {
			t.Errorf("%s: owner references %+v, want the agent's Deployment (uid %s)", name, refs, r.deps.GetUID())
		}
	}
	if typ := st.secrets["mgmtplane-agent-logging"].Type; typ != corev1.SecretTypeOpaque {
		t.Errorf("secret type %s", typ)
	}
	// What the server keeps compares equal to what the agent wrote: no drift from its own writes (the
	// server's defaults and conversions included).
	if d, err := app.Diff(ctx, rev); err != nil || len(d) != 0 {
		t.Errorf("drift right after applying: %+v, %v", d, err)
	}
	// The agent's Role lets it watch what it wrote: a component deleted by someone else is seen.
	changed := make(chan struct{}, 64)
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- app.Watch(wctx, func() { changed <- struct{}{} }) }()
	time.Sleep(500 * time.Millisecond)
	for len(changed) > 0 {
		<-changed
	}
	if err := r.dyn.Resource(kube.ComponentGVR).Namespace(r.ns).Delete(ctx, "ticker", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Error("the agent's watch did not see a component deleted")
	}
	stopWatch()
	<-watched
	if d, err := app.Diff(ctx, rev); err != nil || !slices.Contains(d, revision.Difference{Component: "ticker", Kind: revision.Missing, Resource: revision.ResourceComponent}) {
		t.Errorf("drift after the deletion: %+v, %v", d, err)
	}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	st = r.state(t)

	// The same revision again writes nothing: no resource version moves.
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if again := r.state(t).versions(); !maps.Equal(again, st.versions()) {
		t.Errorf("an unchanged revision rewrote objects:\nbefore %v\nafter  %v", st.versions(), again)
	}

	// Objects that are not the agent's, next to its own: another tool's component, a secret with the
	// agent's prefix but not its labels.
	r.createForeign(t, "pubsub")
	if _, err := r.admin.CoreV1().Secrets(r.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mgmtplane-agent-foreign"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Update: a secret value and a url change, the ticker gains a secret, a binding is added.
	rev.Number++
	rev.Bindings[0].SecretMetadata[0].Value = "n3w"
	rev.Bindings[0].Metadata[0].Value = "http://logs.example.com/v2"
	rev.Bindings[1].SecretMetadata = []revision.Item{{Name: "password", Value: "tick"}}
	rev.Bindings = append(rev.Bindings, revision.Binding{Name: "audit", Type: "bindings.http",
		Metadata: []revision.Item{{Name: "url", Value: "http://audit.example.com"}}})
	// No metadata at all: every setting of bindings.kubernetes has a default.
	rev.Bindings = append(rev.Bindings, revision.Binding{Name: "events", Type: "bindings.kubernetes"})
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatalf("apply the update: %v", err)
	}
	updated := r.state(t)
	updated.matches(t, rev)
	if updated.comps["logging"].GetAnnotations()[component.SecretsVersionAnnotation] == st.comps["logging"].GetAnnotations()[component.SecretsVersionAnnotation] {
		t.Error("the secrets version did not change with the secret: the operator would not send the new value")
	}

	// Removal: bindings go, with their secrets; the ticker loses its secret.
	rev.Number++
	rev.Bindings = []revision.Binding{{Name: "ticker", Type: "bindings.cron", Metadata: []revision.Item{{Name: "schedule", Value: "@every 10s"}}}}
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatalf("apply the removal: %v", err)
	}
	r.state(t).matches(t, rev)

	// Nothing configured: nothing of the agent's is left, and nothing else was touched.
	rev.Number++
	rev.Bindings = nil
	if err := app.Apply(ctx, rev); err != nil {
		t.Fatalf("apply the empty revision: %v", err)
	}
	final := r.state(t)
	final.matches(t, rev)
	if _, ok := final.comps["pubsub"]; !ok {
		t.Error("the foreign component was deleted")
	}
	if _, ok := final.secrets["mgmtplane-agent-foreign"]; !ok {
		t.Error("the foreign secret was deleted")
	}
	if _, ok := final.secrets["runtime-agent-pairing"]; !ok {
		t.Error("the agent's pairing secret was deleted")
	}
}

func TestRealServerRefusesToReplaceForeignObjects(t *testing.T) {
	r := newRuntimeNS(t)
	ctx := context.Background()
	r.createForeign(t, "ticker")
	before := r.state(t)
	err := r.applier(t, r.ns, 0, nil).Apply(ctx, fixture())
	if !errors.Is(err, kube.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
	if after := r.state(t).versions(); !maps.Equal(after, before.versions()) {
		t.Errorf("a refused revision wrote something:\nbefore %v\nafter  %v", before.versions(), after)
	}
}

// The agent's ServiceAccount writes in its own namespace only: pointed at another runtime's namespace it
// is refused, says why, and leaves that namespace as it was.
func TestRealServerConfinesTheAgentToItsNamespace(t *testing.T) {
	r, other := newRuntimeNS(t), newRuntimeNS(t)
	ctx := context.Background()
	before := other.state(t)

	start := time.Now()
	err := r.applier(t, other.ns, 0, nil).Apply(ctx, fixture())
	if took := time.Since(start); took < kube.AuthGrace || took > kube.AuthGrace+20*time.Second {
		t.Errorf("a refusal was reported after %s, want about %s (a starting server's refusals are retried that long)", took, kube.AuthGrace)
	}
	if !apierrors.IsForbidden(err) {
		t.Fatalf("writing into another namespace: err %v, want Forbidden", err)
	}
	if !strings.Contains(err.Error(), "deploy/runtime-agent.yaml") {
		t.Errorf("the error does not point at the agent's Role: %v", err)
	}
	if after := other.state(t).versions(); !maps.Equal(after, before.versions()) {
		t.Errorf("the other namespace changed:\nbefore %v\nafter  %v", before.versions(), after)
	}
	agentDyn, err := dynamic.NewForConfig(r.agent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.ResolveOwner(ctx, agentDyn, other.ns, "apps/v1/deployments/runtime-agent"); !apierrors.IsForbidden(err) {
		t.Errorf("reading another namespace's Deployment: err %v, want Forbidden", err)
	}
	// In its own namespace the same account writes fine.
	if err := r.applier(t, r.ns, 0, nil).Apply(ctx, fixture()); err != nil {
		t.Errorf("in its own namespace: %v", err)
	}
}

// transition is a revision change with every kind of write: secret updated, component updated, secret
// and component created, a binding gaining a secret, component and secret deleted.
func transition() (from, to revision.Revision) {
	from = fixture()
	from.Bindings = append(from.Bindings, revision.Binding{Name: "old", Type: "bindings.http",
		Metadata:       []revision.Item{{Name: "url", Value: "http://old.example.com"}},
		SecretMetadata: []revision.Item{{Name: "securityToken", Value: "o"}}})
	to = fixture()
	to.Number = 2
	to.Bindings[0].SecretMetadata[0].Value = "n3w"
	to.Bindings[0].Metadata[0].Value = "http://logs.example.com/v2"
	to.Bindings[1].SecretMetadata = []revision.Item{{Name: "password", Value: "tick"}}
	to.Bindings = append(to.Bindings, revision.Binding{Name: "fresh", Type: "bindings.http",
		Metadata:       []revision.Item{{Name: "url", Value: "http://fresh.example.com"}},
		SecretMetadata: []revision.Item{{Name: "securityToken", Value: "f"}}})
	return from, to
}

func isWrite(req *http.Request) bool {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// failNth makes the nth write request fail before it reaches the server, as a connection cut would.
type failNth struct {
	next   http.RoundTripper
	n      int
	writes atomic.Int32
}

func (f *failNth) RoundTrip(req *http.Request) (*http.Response, error) {
	if isWrite(req) && int(f.writes.Add(1)) == f.n {
		return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: syscall.ECONNREFUSED}
	}
	return f.next.RoundTrip(req)
}

// Wherever a revision is cut off, what is left is safe for a sidecar to load (no component without its
// secret), and the next apply completes it.
func TestRealServerEveryCutLeavesAConsistentState(t *testing.T) {
	from, to := transition()
	// How many writes the transition takes, counted on a run without a cut.
	r := newRuntimeNS(t)
	if err := r.applier(t, r.ns, -1, nil).Apply(context.Background(), from); err != nil {
		t.Fatal(err)
	}
	counter := &failNth{n: -1}
	if err := r.applier(t, r.ns, -1, func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }).Apply(context.Background(), to); err != nil {
		t.Fatal(err)
	}
	writes := int(counter.writes.Load())
	if writes < 8 {
		t.Fatalf("the transition took %d writes; the test wants every kind of write", writes)
	}
	for n := 1; n <= writes; n++ {
		r := newRuntimeNS(t)
		ctx := context.Background()
		if err := r.applier(t, r.ns, -1, nil).Apply(ctx, from); err != nil {
			t.Fatal(err)
		}
		cut := &failNth{n: n}
		err := r.applier(t, r.ns, -1, func(rt http.RoundTripper) http.RoundTripper { cut.next = rt; return cut }).Apply(ctx, to)
		if !errors.Is(err, kube.ErrUnavailable) {
			t.Fatalf("cut at write %d: err %v, want ErrUnavailable", n, err)
		}
		r.state(t).consistent(t)
		if err := r.applier(t, r.ns, -1, nil).Apply(ctx, to); err != nil {
			t.Fatalf("cut at write %d, then: %v", n, err)
		}
		r.state(t).matches(t, to)
	}
}

// The API server stops in the middle of a revision and comes back: Apply keeps trying and finishes.
func TestRealServerRestartDuringApplyIsRiddenOut(t *testing.T) {
	r := newRuntimeNS(t)
	ctx := context.Background()
	from, to := transition()
	if err := r.applier(t, r.ns, 0, nil).Apply(ctx, from); err != nil {
		t.Fatal(err)
	}

	var (
		once     sync.Once
		restarts = make(chan error, 1)
		down     time.Time
	)
	const outage = 3 * time.Second
	// A restarted kube-apiserver answers before its RBAC caches are filled, with 403s (AuthGrace).
	var refused atomic.Int32
	stopAfterFirstWrite := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if resp != nil && resp.StatusCode == http.StatusForbidden {
				refused.Add(1)
			}
			if isWrite(req) {
				once.Do(func() {
					r.srv.StopAPIServer()
					down = time.Now()
					go func() {
						time.Sleep(outage)
						restarts <- r.srv.StartAPIServer(context.Background())
					}()
				})
			}
			return resp, err
		})
	}
	start := time.Now()
	err := r.applier(t, r.ns, 3*time.Minute, stopAfterFirstWrite).Apply(ctx, to)
	if rerr := <-restarts; rerr != nil {
		t.Fatalf("restart: %v", rerr)
	}
	if err != nil {
		t.Fatalf("apply across the restart: %v", err)
	}
	if down.IsZero() || time.Since(down) < outage {
		t.Fatalf("the API server was not down for the apply (down at %v, apply took %s)", down, time.Since(start))
	}
	r.state(t).matches(t, to)
	t.Logf("apply across an outage of %s took %s; refusals from the starting server: %d", outage, time.Since(start).Round(time.Millisecond), refused.Load())
}

// While the API server stays away longer than the agent waits, Apply gives up with a reason that says so,
// and has written nothing half.
func TestRealServerOutageGivesAClearError(t *testing.T) {
	r := newRuntimeNS(t)
	ctx := context.Background()
	from, to := transition()
	if err := r.applier(t, r.ns, 0, nil).Apply(ctx, from); err != nil {
		t.Fatal(err)
	}
	app := r.applier(t, r.ns, 2*time.Second, nil)

	r.srv.StopAPIServer()
	start := time.Now()
	err := app.Apply(ctx, to)
	took := time.Since(start)
	if rerr := r.srv.StartAPIServer(ctx); rerr != nil {
		t.Fatalf("restart: %v", rerr)
	}
	if !errors.Is(err, kube.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"kubernetes API unavailable", "attempts", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if took < 2*time.Second || took > 20*time.Second {
		t.Errorf("gave up after %s, want about 2s", took)
	}
	st := r.state(t)
	st.consistent(t)
	st.matches(t, from)

	if err := app.Apply(ctx, to); err != nil {
		t.Fatalf("after the server is back: %v", err)
	}
	r.state(t).matches(t, to)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// A kube-apiserver that has just started answers before its RBAC caches are filled, and refuses what it
// will allow a moment later (seen here after restarts, depending on timing). Such refusals, for less than
// AuthGrace, are ridden out; the confinement test shows a lasting one reported.
func TestRealServerRidesOutAStartingServersRefusals(t *testing.T) {
	r := newRuntimeNS(t)
	ctx := context.Background()
	from, to := transition()
	if err := r.applier(t, r.ns, 0, nil).Apply(ctx, from); err != nil {
		t.Fatal(err)
	}
	const refusing = 2 * time.Second
	var (
		mu      sync.Mutex
		since   time.Time // when the first write went through; refusals for a while after it
		refused int
	)
	starting := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			if !since.IsZero() && time.Since(since) < refusing {
				refused++
				mu.Unlock()
				body := `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"forbidden: RBAC: the server is starting"}`
				return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
					Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
			}
			mu.Unlock()
			resp, err := rt.RoundTrip(req)
			if isWrite(req) && err == nil {
				mu.Lock()
				if since.IsZero() {
					since = time.Now()
				}
				mu.Unlock()
			}
			return resp, err
		})
	}
	if err := r.applier(t, r.ns, 0, starting).Apply(ctx, to); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if refused == 0 {
		t.Fatal("no request was refused: the test did not test anything")
	}
	r.state(t).matches(t, to)
}

// The owner references are real: when the agent's Deployment goes, Kubernetes' garbage collector removes
// every Component and Secret the agent wrote, and nothing else.
func TestRealServerDeletingTheOwnerRemovesWhatTheAgentWrote(t *testing.T) {
	r := newRuntimeNS(t)
	r.srv.GarbageCollector(t)
	ctx := context.Background()
	r.createForeign(t, "pubsub")
	if err := r.applier(t, r.ns, 0, nil).Apply(ctx, fixture()); err != nil {
		t.Fatal(err)
	}
	r.state(t).matches(t, fixture())

	start := time.Now()
	if err := r.dyn.Resource(deploymentsGVR).Namespace(r.ns).Delete(ctx, "runtime-agent", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		st := r.state(t)
		left := 0
		for _, c := range st.comps {
			left += len(c.GetOwnerReferences())
		}
		for _, s := range st.secrets {
			left += len(s.OwnerReferences)
		}
		if left == 0 {
			if _, ok := st.comps["pubsub"]; !ok {
				t.Error("the foreign component went too")
			}
			if _, ok := st.secrets["runtime-agent-pairing"]; !ok {
				t.Error("the pairing secret, which the agent does not own, went too")
			}
			if len(st.comps) != 1 {
				t.Errorf("components left: %v", slices.Collect(maps.Keys(st.comps)))
			}
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("%d owned objects still there %s after their owner was deleted", left, time.Since(start).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the garbage collector removed the agent's objects %s after its Deployment was deleted", time.Since(start).Round(time.Millisecond))
}

// The agent reports its pairing status on its pairing Secret with its own ServiceAccount's rights, and a
// token written meanwhile (server-side apply, as the Provisioner writes it) survives the report.
func TestPairingReportOnTheRealAPIServer(t *testing.T) {
	r := newRuntimeNS(t)
	ctx := context.Background()
	core, err := kubernetes.NewForConfig(r.agent)
	if err != nil {
		t.Fatal(err)
	}
	rep := kube.PairingReporter{Core: core, Namespace: r.ns, Secret: "runtime-agent-pairing"}
	want := agentpairing.Status{PairedTokenSHA256: agentpairing.TokenSHA256("tok"), At: time.Now().UTC().Truncate(time.Second)}
	if err := rep.Report(ctx, want); err != nil {
		t.Fatalf("report with the agent's rights: %v", err)
	}
	sec, err := r.admin.CoreV1().Secrets(r.ns).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got agentpairing.Status
	if err := json.Unmarshal([]byte(sec.Annotations[agentpairing.Annotation]), &got); err != nil || got != want {
		t.Fatalf("annotation %q (%v), want %+v", sec.Annotations[agentpairing.Annotation], err, want)
	}
	if string(sec.Data["token"]) != "<one-time token>" {
		t.Errorf("token changed by the report: %q", sec.Data["token"])
	}
}
