package gardener_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener/gardenertest"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

// fakeDirector registers runtimes in memory and hands out one-time tokens: token-for-<id> first, then
// token-for-<id>-<n>, as every token the Director issues is a new one.
type fakeDirector struct {
	mu           sync.Mutex
	n            int
	unregistered []string
	tokens       map[string]int
}

func (d *fakeDirector) RegisterRuntime(context.Context, string, string, map[string]any) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	return fmt.Sprintf("rt-%d-%s", d.n, randomSuffix()), nil
}

func (d *fakeDirector) RequestOneTimeToken(_ context.Context, id string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tokens == nil {
		d.tokens = map[string]int{}
	}
	d.tokens[id]++
	if n := d.tokens[id]; n > 1 {
		return fmt.Sprintf("token-for-%s-%d", id, n), nil
	}
	return "token-for-" + id, nil
}

func (d *fakeDirector) UnregisterRuntime(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unregistered = append(d.unregistered, id)
	return nil
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is a Provisioner (service and engine on an in-memory store) with the gardener backend, against
// the test API server as garden cluster, with a fake Gardener in the project namespace.
type fixture struct {
	srv      *kubetest.Server
	project  string // the project namespace in the garden cluster
	agentNS  string // where the agent goes in the shoot (the same API server)
	gardener *gardenertest.Fake
	backend  *gardener.Backend
	store    *registry.Registry
	director *fakeDirector
	svc      *provisioning.Service
	ctx      context.Context
	shoots   dynamic.ResourceInterface
	core     kubernetes.Interface
}

func engineConfig(replica string) provisioning.EngineConfig {
	return provisioning.EngineConfig{Replica: replica, Lease: 400 * time.Millisecond, Poll: 20 * time.Millisecond,
		StageTimeout: 30 * time.Second, MaxBackoff: 200 * time.Millisecond}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := kubetest.Shared(t)
	gardenertest.Install(t, srv)
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := gardener.LoadAgentManifest(filepath.Join(root, "deploy", "runtime-agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, project: srv.Namespace(t, "garden-test"), agentNS: "agent-" + randomSuffix(), director: &fakeDirector{}}
	f.backend, err = gardener.New(gardener.Config{
		Garden: srv.Admin(), Namespace: f.project, AgentManifest: manifest, AgentNamespace: f.agentNS,
		AgentImage: "registry.example.com/runtime-agent:test", ConnectorURL: "https://plane.example.com/connector/graphql",
		GatewaySecureURL: "https://plane.example.com:3443", GatewayCA: []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.gardener = gardenertest.Start(t, srv, f.project)
	f.store = registry.New(memstate.New(), "provisionerstore")
	f.svc = provisioning.NewService(f.store, f.engine("r1"), f.director, quiet)
	f.ctx = identity.NewContext(context.Background(), identity.Identity{Tenant: "tenant-a", Subject: "ann", ConsumerType: identity.ConsumerUser})
	dyn, err := dynamic.NewForConfig(srv.Admin())
	if err != nil {
		t.Fatal(err)
	}
	f.shoots = dyn.Resource(gardener.ShootGVR).Namespace(f.project)
	if f.core, err = kubernetes.NewForConfig(srv.Admin()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) engine(replica string) *provisioning.Engine {
	return provisioning.NewEngine(f.store, quiet, engineConfig(replica), f.backend)
}

// run runs an engine until the returned function (or the test's end) stops it, as a crash would: the
// operation it held stays where it was.
func (f *fixture) run(t *testing.T, e *provisioning.Engine) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (f *fixture) wait(t *testing.T, opID string, until func(provisioning.Operation) bool, what string) provisioning.Operation {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		op, err := f.svc.OperationStatus(f.ctx, opID)
		if err != nil {
			t.Fatal(err)
		}
		if until(op) {
			return op
		}
		if time.Now().After(deadline) || (op.State == provisioning.StateFailed && !strings.Contains(what, "Failed")) {
			t.Fatalf("operation %s is %s at %s (%+v), waiting for %s", opID, op.State, op.Stage, op.LastError, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) waitState(t *testing.T, opID string, want provisioning.OperationState) provisioning.Operation {
	t.Helper()
	return f.wait(t, opID, func(op provisioning.Operation) bool { return op.State == want }, string(want))
}

func (f *fixture) waitStage(t *testing.T, opID, stage string) provisioning.Operation {
	t.Helper()
	return f.wait(t, opID, func(op provisioning.Operation) bool { return op.Stage == stage }, "stage "+stage)
}

func gardenerConfig(name string) map[string]any {
	return map[string]any{
		"name": name, "kubernetesVersion": "1.31.4", "provider": "gcp", "targetSecret": "gcp-account", "region": "europe-west3",
		"machineType": "n2-standard-4", "machineImage": "gardenlinux", "machineImageVersion": "1592.1.0", "diskType": "pd-balanced",
		"volumeSizeGB": 50, "workerCidr": "10.250.0.0/16", "autoScalerMin": 2, "autoScalerMax": 5, "maxSurge": 3, "maxUnavailable": 1,
		"purpose": "evaluation", "licenceType": "TestDevelopmentAndDemo", "euAccess": true,
		"providerSpecificConfig": map[string]any{"gcpConfig": map[string]any{"zones": []string{"europe-west3-a", "europe-west3-b"}}},
	}
}

func (f *fixture) provision(t *testing.T, name string) provisioning.Operation {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"gardenerConfig": gardenerConfig(name)})
	op, err := f.svc.Provision(f.ctx, provisioning.ProvisionInput{Name: name, Backend: provisioning.BackendGardener, ClusterConfig: raw})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func (f *fixture) shoot(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	s, err := f.shoots.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func str(t *testing.T, o *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

// connect plays the Director announcing that the runtime's agent heartbeats.
func (f *fixture) connect(t *testing.T, runtimeID string) {
	t.Helper()
	if err := f.svc.RuntimeChanged(context.Background(), runtimeID, "CONNECTED"); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionCreatesTheShootAndInstallsTheAgent(t *testing.T) {
	f := newFixture(t)
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-gcp")
	f.waitStage(t, op.ID, "wait-connected")

	s := f.shoot(t, "edge-gcp")
	for path, want := range map[string]string{
		"spec.provider.type":                                  "gcp",
		"spec.cloudProfileName":                               "gcp",
		"spec.region":                                         "europe-west3",
		"spec.secretBindingName":                              "gcp-account",
		"spec.purpose":                                        "evaluation",
		"spec.kubernetes.version":                             "1.31.4",
		"spec.networking.nodes":                               "10.250.0.0/16",
		"spec.maintenance.autoUpdate.kubernetesVersion":       "false",
		"spec.provider.infrastructureConfig.networks.workers": "10.250.0.0/16",
		"spec.dns.domain":                                     "edge-gcp." + f.project + ".shoot.example.com",
		"status.lastOperation.state":                          "Succeeded",
	} {
		if got := str(t, s, strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	workers, _, _ := unstructured.NestedSlice(s.Object, "spec", "provider", "workers")
	if len(workers) != 1 {
		t.Fatalf("workers: %v", workers)
	}
	w := &unstructured.Unstructured{Object: workers[0].(map[string]any)}
	for path, want := range map[string]string{"machine.type": "n2-standard-4", "machine.image.name": "gardenlinux",
		"machine.image.version": "1592.1.0", "volume.size": "50Gi", "volume.type": "pd-balanced", "minimum": "2", "maximum": "5",
		"maxSurge": "3", "maxUnavailable": "1", "zones": "[europe-west3-a europe-west3-b]"} {
		if got := str(t, w, strings.Split(path, ".")...); got != want {
			t.Errorf("worker %s = %q, want %q", path, got, want)
		}
	}
	ann, labels := s.GetAnnotations(), s.GetLabels()
	if ann[gardener.AnnotationRuntimeID] != op.RuntimeID || ann[gardener.AnnotationOperationID] != op.ID ||
		ann["support.gardener.cloud/eu-access-for-cluster-nodes"] != "true" || ann["mgmtplane.io/licence-type"] != "TestDevelopmentAndDemo" {
		t.Errorf("annotations %v", ann)
	}
	if labels[gardener.LabelTenant] != "tenant-a" {
		t.Errorf("labels %v", labels)
	}

	// The agent's objects are in the shoot (the same API server), the one-time token in their Secret.
	ctx := context.Background()
	sec, err := f.core.CoreV1().Secrets(f.agentNS).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["token"]) != "token-for-"+op.RuntimeID || !strings.Contains(string(sec.Data["gateway-ca.crt"]), "BEGIN CERTIFICATE") {
		t.Errorf("pairing secret %v", sec.Data)
	}
	dep, err := f.core.AppsV1().Deployments(f.agentNS).Get(ctx, "runtime-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if c.Image != "registry.example.com/runtime-agent:test" || env["RUNTIME_ID"] != op.RuntimeID || env["APPLY_MODE"] != "kubernetes" ||
		env["CONNECTOR_URL"] != "https://plane.example.com/connector/graphql" || env["GATEWAY_SECURE_URL"] != "https://plane.example.com:3443" ||
		env["GATEWAY_CA_FILE"] != "/pairing/gateway-ca.crt" || env["ONE_TIME_TOKEN_FILE"] != "/pairing/token" {
		t.Errorf("agent container: image %s, env %v", c.Image, env)
	}
	if _, err := f.core.CoreV1().ServiceAccounts(f.agentNS).Get(ctx, "runtime-agent", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	// The manifest's RBAC is in force for the agent's ServiceAccount in its namespace, and nowhere else.
	allowed, err := f.srv.ServiceAccountGranted(ctx, f.agentNS, "runtime-agent",
		kubetest.Access{Verb: "create", Group: "dapr.io", Resource: "components", Namespace: f.agentNS}, 15*time.Second)
	if err != nil || !allowed {
		t.Errorf("agent may create components in its namespace: %v %v", allowed, err)
	}
	if allowed, _ := f.srv.ServiceAccountAllowed(ctx, f.agentNS, "runtime-agent", kubetest.Access{Verb: "create", Group: "dapr.io", Resource: "components", Namespace: "default"}); allowed {
		t.Error("agent may create components outside its namespace")
	}

	// Done once the agent heartbeats.
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)
}

func TestFailedShootCreationFailsTheOperation(t *testing.T) {
	f := newFixture(t)
	f.gardener.SetFail("edge-fail", "Flow \"Shoot cluster reconciliation\" encountered task errors")
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-fail")
	done := f.wait(t, op.ID, func(op provisioning.Operation) bool { return op.State == provisioning.StateFailed }, "Failed")
	if done.Stage != "wait-shoot-created" || done.LastError == nil || done.LastError.Reason != provisioning.ReasonBackend ||
		done.LastError.Component != "gardener" || !strings.Contains(done.LastError.Message, "encountered task errors") ||
		!strings.Contains(done.LastError.Message, "quota exceeded") {
		t.Fatalf("failed operation: stage %s, %+v", done.Stage, done.LastError)
	}
	// Nothing was installed into a cluster that was never made.
	if _, err := f.core.CoreV1().Secrets(f.agentNS).Get(context.Background(), "runtime-agent-pairing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pairing secret of a failed shoot: %v", err)
	}
}

func TestDeprovisionConfirmsAndDeletesTheShoot(t *testing.T) {
	f := newFixture(t)
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-del")
	f.waitStage(t, op.ID, "wait-connected")
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)

	// Without the confirmation Gardener (here its policy) refuses the deletion.
	if err := f.shoots.Delete(context.Background(), "edge-del", metav1.DeleteOptions{}); err == nil {
		t.Fatal("an unconfirmed deletion went through")
	}
	// Gardener takes its time deleting: the operation waits for the Shoot to be gone.
	f.gardener.SetHold("edge-del", true)
	del, err := f.svc.Deprovision(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitStage(t, del.ID, "wait-shoot-deleted")
	time.Sleep(300 * time.Millisecond)
	if cur, _ := f.svc.OperationStatus(f.ctx, del.ID); cur.State != provisioning.StateInProgress {
		t.Fatalf("deprovision ended while the Shoot still exists: %+v", cur)
	}
	s := f.shoot(t, "edge-del")
	if s.GetDeletionTimestamp() == nil || s.GetAnnotations()[gardener.AnnotationConfirmDeletion] != "true" {
		t.Fatalf("shoot not being deleted with confirmation: %v %v", s.GetDeletionTimestamp(), s.GetAnnotations())
	}
	f.gardener.SetHold("edge-del", false)
	f.waitState(t, del.ID, provisioning.StateSucceeded)
	if _, err := f.shoots.Get(context.Background(), "edge-del", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("shoot still there: %v", err)
	}
	if !f.gardener.WasConfirmed("edge-del") {
		t.Fatal("gardener saw no deletion confirmation")
	}
	// Unregistered in the Director first, by the mutation itself (as for a local runtime).
	f.director.mu.Lock()
	defer f.director.mu.Unlock()
	if len(f.director.unregistered) != 1 || f.director.unregistered[0] != op.RuntimeID {
		t.Fatalf("unregistered %v", f.director.unregistered)
	}
}

// A deletion Gardener refuses ends the deprovisioning Failed at once, with Gardener's reason.
func TestARefusedDeletionFailsTheDeprovisioning(t *testing.T) {
	f := newFixture(t)
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-kept")
	f.waitStage(t, op.ID, "wait-connected")
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	s := f.shoot(t, "edge-kept")
	s.SetLabels(map[string]string{"test.mgmtplane.io/deletion-protected": "true"})
	if _, err := f.shoots.Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	del, err := f.svc.Deprovision(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	done := f.wait(t, del.ID, func(op provisioning.Operation) bool { return op.State == provisioning.StateFailed }, "Failed")
	if done.Stage != "delete-shoot" || done.LastError.Reason != provisioning.ReasonBackend || !strings.Contains(done.LastError.Message, "protected from deletion") {
		t.Fatalf("refused deletion: %s %+v", done.Stage, done.LastError)
	}
	if f.shoot(t, "edge-kept").GetDeletionTimestamp() != nil {
		t.Fatal("the protected Shoot is being deleted")
	}
}

// A replica that dies mid-stage leaves the operation where it was; another replica resumes it, and the
// repeated stages neither make a second Shoot nor change the one there.
func TestAnotherReplicaResumesAfterACrashMidStage(t *testing.T) {
	f := newFixture(t)
	f.gardener.SetHold("edge-crash", true)
	crash := f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-crash")
	f.waitStage(t, op.ID, "wait-shoot-domain")
	before := f.shoot(t, "edge-crash")
	crash()

	// Running the creation stage again (what a resume after a crash inside it does) changes nothing.
	stages, err := f.backend.Stages(provisioning.OperationProvision)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"gardenerConfig": gardenerConfig("edge-crash")})
	job := &provisioning.Job{RuntimeID: op.RuntimeID, Tenant: "tenant-a", Name: "edge-crash", ClusterConfig: raw, Operation: op}
	for range 2 {
		if err := stages[0].Run(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if again := f.shoot(t, "edge-crash"); again.GetUID() != before.GetUID() || again.GetResourceVersion() != before.GetResourceVersion() {
		t.Fatalf("repeating create-shoot changed the Shoot: rv %s -> %s", before.GetResourceVersion(), again.GetResourceVersion())
	}

	f.gardener.SetHold("edge-crash", false)
	f.run(t, f.engine("r2"))
	f.waitStage(t, op.ID, "wait-connected")
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	list, err := f.shoots.List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].GetUID() != before.GetUID() {
		t.Fatalf("shoots after the resume: %d, %v", len(list.Items), err)
	}
}

func TestUpgradeShootAndHibernate(t *testing.T) {
	f := newFixture(t)
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-up")
	f.waitStage(t, op.ID, "wait-connected")
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	gen := f.shoot(t, "edge-up").GetGeneration()

	up, err := f.svc.UpgradeShoot(f.ctx, op.RuntimeID, provisioning.UpgradeShootInput{
		ClusterConfig: []byte(`{"gardenerConfig":{"kubernetesVersion":"1.32.1","machineType":"n2-standard-8","autoScalerMax":7}}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.waitState(t, up.ID, provisioning.StateSucceeded)
	s := f.shoot(t, "edge-up")
	if s.GetGeneration() <= gen || str(t, s, "spec", "kubernetes", "version") != "1.32.1" ||
		s.GetAnnotations()[gardener.AnnotationOperationID] != up.ID {
		t.Fatalf("after upgrade: generation %d (was %d), version %s, annotations %v", s.GetGeneration(), gen,
			str(t, s, "spec", "kubernetes", "version"), s.GetAnnotations())
	}
	workers, _, _ := unstructured.NestedSlice(s.Object, "spec", "provider", "workers")
	w := workers[0].(map[string]any)
	if w["machine"].(map[string]any)["type"] != "n2-standard-8" || fmt.Sprint(w["maximum"]) != "7" || fmt.Sprint(w["minimum"]) != "2" {
		t.Fatalf("worker after upgrade: %v", w)
	}
	// What Gardener set (the domain) stays: the backend applies only its own fields.
	if str(t, s, "spec", "dns", "domain") != "edge-up."+f.project+".shoot.example.com" {
		t.Fatalf("domain lost: %v", str(t, s, "spec", "dns", "domain"))
	}

	hib, err := f.svc.Hibernate(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitState(t, hib.ID, provisioning.StateSucceeded)
	s = f.shoot(t, "edge-up")
	if str(t, s, "spec", "hibernation", "enabled") != "true" || str(t, s, "status", "hibernated") != "true" {
		t.Fatalf("after hibernation: spec %v status %v", s.Object["spec"], s.Object["status"])
	}
	st, err := f.svc.RuntimeStatus(f.ctx, op.RuntimeID)
	if err != nil || !st.Hibernated {
		t.Fatalf("runtime status %+v, %v", st, err)
	}

	// A hibernated cluster runs no agent to pair again.
	if _, err := f.svc.ReconnectAgent(f.ctx, op.RuntimeID); err == nil || !strings.Contains(err.Error(), "hibernated") {
		t.Fatalf("reconnect: %v", err)
	}
}

// A Shoot of that name that belongs to someone else is neither taken over nor deleted.
func TestAShootOfAnotherRuntimeIsNotTaken(t *testing.T) {
	f := newFixture(t)
	f.gardener.SetHold("edge-taken", true)
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
		"metadata": map[string]any{"name": "edge-taken", "annotations": map[string]any{gardener.AnnotationRuntimeID: "someone-else"}},
		"spec":     map[string]any{"region": "mars"}}}
	if _, err := f.shoots.Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-taken")
	done := f.wait(t, op.ID, func(op provisioning.Operation) bool { return op.State == provisioning.StateFailed }, "Failed")
	if done.Stage != "create-shoot" || !strings.Contains(done.LastError.Message, `belongs to runtime "someone-else"`) {
		t.Fatalf("failed operation: %s %+v", done.Stage, done.LastError)
	}
	if s := f.shoot(t, "edge-taken"); str(t, s, "spec", "region") != "mars" {
		t.Fatal("the other runtime's Shoot was changed")
	}
}

func TestValidate(t *testing.T) {
	b := &gardener.Backend{}
	for name, tc := range map[string]struct {
		change  func(map[string]any)
		wantErr string
	}{
		"valid":            {func(map[string]any) {}, ""},
		"unknown provider": {func(c map[string]any) { c["provider"] = "digitalocean" }, "provider"},
		"long name":        {func(c map[string]any) { c["name"] = "a-name-far-too-long-for-gardener" }, "name"},
		"min above max":    {func(c map[string]any) { c["autoScalerMin"] = 9 }, "autoScalerMin"},
		"no region":        {func(c map[string]any) { c["region"] = "" }, "region"},
		"bad tolerance":    {func(c map[string]any) { c["controlPlaneFailureTolerance"] = "planet" }, "controlPlaneFailureTolerance"},
	} {
		t.Run(name, func(t *testing.T) {
			c := gardenerConfig("edge")
			tc.change(c)
			raw, _ := json.Marshal(map[string]any{"gardenerConfig": c})
			err := b.Validate(raw)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := b.Validate([]byte(`{"localConfig":{}}`)); err == nil {
		t.Fatal("a local configuration passed")
	}
}
