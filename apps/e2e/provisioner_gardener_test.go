package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener/gardenertest"
)

// upstreamProvision is the upstream client's provision document (../shared/provisioner/requests), or an
// equivalent when that reference folder is not next to the repository.
func upstreamProvision(t *testing.T, root string) string {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(root), "shared", "provisioner", "requests", "provision.graphql"))
	if err == nil {
		return string(raw)
	}
	t.Logf("upstream provision.graphql not found (%v); using an equivalent document", err)
	return `mutation ($name: String!, $provider: String!, $providerSecret: String!, $kubernetesVersion: String!,
		$machineType: String!, $diskType: String!, $region: String!) {
	  provisionRuntime(config: {runtimeInput: {name: $name, description: ""}, clusterConfig: {gardenerConfig: {
	    name: $name, kubernetesVersion: $kubernetesVersion, diskType: $diskType, volumeSizeGB: 32, machineType: $machineType,
	    region: $region, provider: $provider, targetSecret: $providerSecret, workerCidr: "10.250.0.0/19", autoScalerMin: 2,
	    autoScalerMax: 4, maxSurge: 4, maxUnavailable: 1, providerSpecificConfig: {gcpConfig: {zones: ["europe-west3-b"]}}}}}
	  ) { id operation state message runtimeID }
	}`
}

func writeKubeconfig(t *testing.T, path string, c *rest.Config) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: c.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

// A Gardener runtime end to end through the gateway, with the upstream client's document. Gardener is
// simulated (gardenertest) on a real kube-apiserver, which is also the "shoot": the agent's objects land
// in a namespace of it. No kubelet runs the agent's Deployment, so the test runs the runtime-agent binary
// as a host process with what the Provisioner installed: the Deployment's environment, the pairing
// Secret's token and CA, and a token of the agent's own ServiceAccount (its RBAC from the manifest).
func TestProvisionAndDeprovisionAGardenerRuntime(t *testing.T) {
	if err := startProvisioner(); err != nil {
		t.Fatal(err)
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := kubetest.FindBinaries(root)
	if err != nil {
		if errors.Is(err, kubetest.ErrNotInstalled) && !stacktest.Required() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	daprCRDs, err := kubetest.DaprCRDDir(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kubetest.Start(ctx, bins, kubetest.Options{CRDDirs: []string{daprCRDs}})
	t.Cleanup(srv.Stop)
	if err != nil {
		t.Fatal(err)
	}
	gardenertest.Install(t, srv)
	project := srv.Namespace(t, "garden-e2e")
	fake := gardenertest.Start(t, srv, project)
	const agentNS = "mgmtplane-runtime"

	gardenKubeconfig := filepath.Join(t.TempDir(), "garden.kubeconfig")
	writeKubeconfig(t, gardenKubeconfig, srv.Admin())
	env := provisionerEnv()
	env["GARDENER_KUBECONFIG"] = gardenKubeconfig
	env["GARDENER_NAMESPACE"] = project
	env["GARDENER_AGENT_NAMESPACE"] = agentNS
	env["GARDENER_AGENT_MANIFEST"] = filepath.Join(root, "deploy", "runtime-agent.yaml")
	env["GARDENER_SHOOT_TIMEOUT"] = "60s"
	restartProvisioner(t, env)
	t.Cleanup(func() {
		// A respawn keeps the process's environment and overrides some of it: the gardener backend is turned
		// off explicitly, or later restarts would look for this test's kubeconfig after it is gone.
		restore := provisionerEnv()
		restore["GARDENER_KUBECONFIG"] = ""
		restartProvisioner(t, restore)
	})

	const tenant = "tenant-provisioner-gardener"
	var prov struct{ ProvisionRuntime operationStatus }
	ok(t, provisioner(t, tenant, upstreamProvision(t, root), map[string]any{
		"name": "edge-garden", "provider": "gcp", "providerSecret": "gcp-account", "kubernetesVersion": "1.31.4",
		"machineType": "n2-standard-4", "diskType": "pd-ssd", "region": "europe-west3",
	}), &prov)
	op := prov.ProvisionRuntime
	if op.Operation != "Provision" || op.RuntimeID == "" {
		t.Fatalf("provisionRuntime answered %+v", op)
	}

	// The Provisioner gets as far as waiting for the agent: the Shoot is made and the agent installed.
	var cur operationStatus
	for deadline := time.Now().Add(90 * time.Second); cur.Stage != "wait-connected"; time.Sleep(250 * time.Millisecond) {
		var out struct{ RuntimeOperationStatus operationStatus }
		ok(t, provisioner(t, tenant, `query($id: String!) { runtimeOperationStatus(id: $id) { `+operationFields+` } }`,
			map[string]any{"id": op.ID}), &out)
		cur = out.RuntimeOperationStatus
		if cur.State == "Failed" || time.Now().After(deadline) {
			t.Fatalf("operation %+v (last error %+v), want it at wait-connected", cur, cur.LastError)
		}
	}
	dyn, err := dynamic.NewForConfig(srv.Admin())
	if err != nil {
		t.Fatal(err)
	}
	shoot, err := dyn.Resource(gardener.ShootGVR).Namespace(project).Get(ctx, "edge-garden", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if shoot.GetAnnotations()[gardener.AnnotationRuntimeID] != op.RuntimeID || shoot.GetLabels()[gardener.LabelTenant] != tenant {
		t.Fatalf("shoot metadata: %v %v", shoot.GetAnnotations(), shoot.GetLabels())
	}

	// The agent, as its Deployment would run it, with the installed Secret's token and CA.
	cs, err := kubernetes.NewForConfig(srv.Admin())
	if err != nil {
		t.Fatal(err)
	}
	sec, err := cs.CoreV1().Secrets(agentNS).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := cs.AppsV1().Deployments(agentNS).Get(ctx, "runtime-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pairing := filepath.Join(dir, "pairing")
	if err := os.MkdirAll(pairing, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range sec.Data {
		if err := os.WriteFile(filepath.Join(pairing, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	saConfig, err := srv.ServiceAccount(ctx, agentNS, "runtime-agent")
	if err != nil {
		t.Fatal(err)
	}
	agentKubeconfig := filepath.Join(dir, "agent.kubeconfig")
	writeKubeconfig(t, agentKubeconfig, saConfig)
	agentEnv := map[string]string{"KUBECONFIG": agentKubeconfig, "APP_PORT": "0", "HEARTBEAT_INTERVAL": "1s", "MP_DATA_DIR": dir,
		"TOKEN_POLL_INTERVAL": "250ms"}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			v = agentNS
		}
		// The pod's mounts are folders here.
		v = strings.Replace(v, "/pairing/", pairing+"/", 1)
		if v == "/credentials" {
			v = filepath.Join(dir, "credentials")
		}
		agentEnv[e.Name] = v
	}
	if err := stack.StartProcess(ctx, "gardener-agent", "runtime-agent", agentEnv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Kill("gardener-agent") })

	waitOperation(t, tenant, op.ID, "Succeeded", 90*time.Second)
	var rt struct {
		Runtime struct {
			Labels map[string]any
			Status struct{ Condition string }
		}
	}
	ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { labels status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
	if rt.Runtime.Status.Condition != "CONNECTED" || rt.Runtime.Labels["provisioner_backend"] != "gardener" {
		t.Fatalf("runtime in the Director: %+v", rt.Runtime)
	}
	// The cluster's name reaches the runtime's labels through the operation's events (the Director sets it).
	wantCluster := "edge-garden." + project + ".shoot.example.com"
	for deadline := time.Now().Add(15 * time.Second); rt.Runtime.Labels["provisioner_cluster"] != wantCluster; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runtime labels %v, want provisioner_cluster=%s", rt.Runtime.Labels, wantCluster)
		}
		ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { labels status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
	}

	// The Governor's configuration for it becomes a Dapr Component in the shoot, written by the agent
	// with its ServiceAccount's rights.
	ok(t, governor(t, tenant, createConfiguration, map[string]any{"in": map[string]any{
		"runtimeID": op.RuntimeID, "bindings": []any{loggingBinding("http://logs.example.com", "shoot-token")},
	}}), nil)
	components := dyn.Resource(schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "components"}).Namespace(agentNS)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		list, err := components.List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) > 0 {
			raw, _ := json.Marshal(list.Items[0].Object["spec"])
			if !strings.Contains(string(raw), "http://logs.example.com") {
				t.Fatalf("component in the shoot: %s", raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Component in the shoot's %s (%v); agent log:\n%s", agentNS, err, stack.Log("gardener-agent"))
		}
	}

	// reconnectRuntimeAgent: the Provisioner writes a new token into the pairing Secret; the test plays the
	// kubelet refreshing the Secret's volume; the agent pairs again with it, reports so on the Secret, and
	// goes on with the new certificate.
	certFile := filepath.Join(dir, "credentials", "cert.pem")
	certBefore, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ ReconnectRuntimeAgent string }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { reconnectRuntimeAgent(id: $id) }`, map[string]any{"id": op.RuntimeID}), &rec)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cur, err := cs.CoreV1().Secrets(agentNS).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
		if err == nil && string(cur.Data["token"]) != string(sec.Data["token"]) {
			// As the kubelet swaps a Secret volume's files: all at once, never a half-written token.
			tmp := filepath.Join(dir, "token.new")
			if err := os.WriteFile(tmp, cur.Data["token"], 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(pairing, "token")); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new token in the pairing Secret (%v)", err)
		}
	}
	reconnected := waitOperation(t, tenant, rec.ReconnectRuntimeAgent, "Succeeded", 60*time.Second)
	if reconnected.Operation != "ReconnectRuntime" {
		t.Fatalf("reconnect operation %+v", reconnected)
	}
	if certAfter, err := os.ReadFile(certFile); err != nil || string(certAfter) == string(certBefore) {
		t.Fatalf("the agent did not pair again (new certificate: %v, %v); agent log:\n%s", string(certAfter) != string(certBefore), err, stack.Log("gardener-agent"))
	}
	if !strings.Contains(stack.Log("gardener-agent"), "paired again with the new one-time token") {
		t.Fatalf("the agent's log does not tell it paired again:\n%s", stack.Log("gardener-agent"))
	}
	// It heartbeats with the new identity: the runtime stays CONNECTED in the Director.
	time.Sleep(2 * time.Second)
	ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { labels status { condition } } }`, map[string]any{"id": op.RuntimeID}), &rt)
	if rt.Runtime.Status.Condition != "CONNECTED" {
		t.Fatalf("runtime after reconnecting: %+v; agent log:\n%s", rt.Runtime, stack.Log("gardener-agent"))
	}

	var dep2 struct{ DeprovisionRuntime string }
	ok(t, provisioner(t, tenant, `mutation($id: String!) { deprovisionRuntime(id: $id) }`, map[string]any{"id": op.RuntimeID}), &dep2)
	waitOperation(t, tenant, dep2.DeprovisionRuntime, "Succeeded", 60*time.Second)
	if _, err := dyn.Resource(gardener.ShootGVR).Namespace(project).Get(ctx, "edge-garden", metav1.GetOptions{}); err == nil {
		t.Fatal("the Shoot is still there after deprovisioning")
	}
	if !fake.WasConfirmed("edge-garden") {
		t.Fatal("the Shoot was deleted without Gardener's confirmation")
	}
	var gone struct{ Runtime *struct{ ID string } }
	ok(t, gql(t, tenant, `query($id: ID!) { runtime(id: $id) { id } }`, map[string]any{"id": op.RuntimeID}), &gone)
	if gone.Runtime != nil {
		t.Fatal("the runtime is still registered in the Director")
	}
}
