package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mgmtplane/mgmtplane/apps/internal/kubetest"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/kube"
)

// The managed-runtime path: a runtime on Kubernetes, where the Runtime Agent writes Component resources
// and Dapr's operator streams them to the sidecars. Everything here is real except that the processes run
// on this machine instead of in pods: a kube-apiserver (apps/internal/kubetest), Dapr's sentry and
// operator in Kubernetes mode against it, a daprd in Kubernetes mode for the runtime's workload (its
// identity checked by sentry against a ServiceAccount token bound to a Pod object), the workload, and the
// Runtime Agent in Kubernetes mode with the RBAC of deploy/runtime-agent.yaml, paired with the plane
// through the gateway.

const (
	controlPlaneNS = "dapr-system"
	managedNS      = "managed-runtime"
	trustDomain    = "cluster.local"
)

// managedRuntime is a runtime on the test API server, governed through the plane.
type managedRuntime struct {
	*localRuntime
	kube      *kubetest.Server
	dyn       dynamic.Interface
	dir       string // the processes' logs (<name>.log), kubeconfigs and tokens
	daprd     *hostProc
	daprdHTTP string
	apiToken  string
}

// hostProc is a process of the managed runtime (sentry, operator, daprd, workload), with its log.
type hostProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (p *hostProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *hostProc) output() string { b, _ := os.ReadFile(p.log); return string(b) }

// startHostProc starts bin with env and args, its output in dir/<name>.log, and stops it when the test
// ends (SIGTERM, then SIGKILL after 10 s). On failure the test prints the log's tail.
func startHostProc(t testing.TB, dir, name string, env map[string]string, bin string, args ...string) *hostProc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
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
		t.Fatalf("start %s: %v", name, err)
	}
	p := &hostProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- end of %s.log:\n%s", name, tail(p.output(), 25))
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitHealthy polls url until it answers want, failing the test when p exits first or timeout passes.
func waitHealthy(t testing.TB, p *hostProc, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if !p.alive() {
			t.Fatalf("%s exited during start-up (%v):\n%s", p.name, p.cmd.ProcessState, tail(p.output(), 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy at %s after %s:\n%s", p.name, url, timeout, tail(p.output(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		p, err := stacktest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	return ports
}

// daprOperator returns the operator built next to daprd (scripts/install.sh), or DAPR_OPERATOR.
func daprOperator(root string) (daprd, sentry, operator string, err error) {
	if daprd, err = stacktest.Daprd(root); err != nil {
		return "", "", "", err
	}
	if sentry, err = stacktest.Sentry(daprd); err != nil {
		return "", "", "", err
	}
	operator = os.Getenv("DAPR_OPERATOR")
	if operator == "" {
		operator = filepath.Join(filepath.Dir(daprd), "operator")
	}
	if _, err := os.Stat(operator); err != nil {
		return "", "", "", fmt.Errorf("%w (the operator: %v)", stacktest.ErrNoDaprd, err)
	}
	return daprd, sentry, operator, nil
}

// applyYAML applies a templated multi-document YAML with the admin's credentials.
func applyYAML(t testing.TB, k *kubetest.Server, namespace, text string, data any) {
	t.Helper()
	var buf bytes.Buffer
	if err := template.Must(template.New("").Parse(text)).Execute(&buf, data); err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.Apply(context.Background(), k.Admin(), namespace, objs); err != nil {
		t.Fatal(err)
	}
}

func decodeObjects(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// boundToken is what a pod's projected sentry token is: a ServiceAccount token for audience
// dapr.io/sentry, bound to the Pod (sentry's Kubernetes validator insists on the pod claim).
func boundToken(t testing.TB, cs kubernetes.Interface, ns, sa, pod, file string) {
	t.Helper()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(24 * 3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{"dapr.io/sentry"},
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	if err := os.WriteFile(file, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
}

const controlPlaneObjects = `
apiVersion: v1
kind: Namespace
metadata: {name: dapr-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dapr-operator, namespace: dapr-system}
---
# The operator's identity for sentry: a Pod object that never runs (no kubelet), which the token is bound to.
apiVersion: v1
kind: Pod
metadata:
  name: dapr-operator-host
  namespace: dapr-system
  annotations: {dapr.io/control-plane: operator}
spec:
  serviceAccountName: dapr-operator
  automountServiceAccountToken: false
  containers: [{name: operator, image: host-process}]
---
# Where sentry in Kubernetes mode keeps its CA; empty, so it makes one.
apiVersion: v1
kind: Secret
metadata: {name: dapr-trust-bundle, namespace: dapr-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: dapr-trust-bundle, namespace: dapr-system}
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: daprsystem, namespace: dapr-system}
spec:
  mtls: {enabled: true, controlPlaneTrustDomain: cluster.local, sentryAddress: "{{.Sentry}}"}
`

const workloadObjects = `
apiVersion: v1
kind: Namespace
metadata: {name: {{.NS}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: {{.App}}, namespace: {{.NS}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: {{.App}}-host
  namespace: {{.NS}}
  annotations: {dapr.io/app-id: {{.App}}, dapr.io/config: {{.App}}}
spec:
  serviceAccountName: {{.App}}
  automountServiceAccountToken: false
  containers: [{name: app, image: host-process}]
---
# The sidecar's Configuration, as the dapr.io/config annotation names it: the sqlite name resolver, since
# the workload needs no service invocation and the kubernetes resolver would look for cluster DNS. No
# HotReload feature: Dapr 1.18 applies the operator's component updates without it.
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: {{.App}}, namespace: {{.NS}}}
spec:
  nameResolution:
    component: sqlite
    version: v1
    configuration: {connectionString: "{{.NameDB}}"}
`

// startManagedRuntime registers a runtime, configures its logging binding to sink with token, and starts
// the managed runtime's processes against a new API server; it returns once they are all healthy.
func startManagedRuntime(t testing.TB, name string, sink *logSink, token string) *managedRuntime {
	t.Helper()
	if stack == nil {
		t.Skip("no plane")
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	daprd, sentry, operator, err := daprOperator(root)
	if err != nil {
		if stacktest.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bins, err := kubetest.FindBinaries(root)
	if err != nil {
		if errors.Is(err, kubetest.ErrNotInstalled) && !stacktest.Required() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	started := time.Now()
	crds, err := kubetest.DaprCRDDir(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kubetest.Start(ctx, bins, kubetest.Options{CRDDirs: []string{crds}})
	t.Cleanup(k.Stop)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(k.Admin())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Admin())
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := k.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Explicit ports everywhere: the defaults (sentry 50001, healthz 8080, metrics 9090) collide with a
	// running plane.
	p := freePorts(t, 12)
	sentryAddr := fmt.Sprintf("127.0.0.1:%d", p[0])
	operatorAddr := fmt.Sprintf("127.0.0.1:%d", p[3])
	unsafe := "DAPR_UNSAFE_SKIP_CONTAINER_UID_GID_CHECK" // the processes may run as root here

	// Sentry, Kubernetes mode: validates sidecars' ServiceAccount tokens, CA in the dapr-trust-bundle.
	applyYAML(t, k, "", controlPlaneObjects, map[string]string{"Sentry": sentryAddr})
	creds := filepath.Join(dir, "sentry-creds") // sentry watches this folder: it must exist
	if err := os.MkdirAll(creds, 0o755); err != nil {
		t.Fatal(err)
	}
	sp := startHostProc(t, dir, "sentry", map[string]string{unsafe: "true", "NAMESPACE": controlPlaneNS}, sentry,
		"--mode", "kubernetes", "--kubeconfig", kubeconfig, "--trust-domain", trustDomain,
		"--listen-address", "127.0.0.1", "--port", strconv.Itoa(p[0]), "--issuer-credentials", creds,
		"--healthz-port", strconv.Itoa(p[1]), "--metrics-port", strconv.Itoa(p[2]))
	waitHealthy(t, sp, fmt.Sprintf("http://127.0.0.1:%d/healthz", p[1]), http.StatusOK, 2*time.Minute)
	var ca string
	for deadline := time.Now().Add(30 * time.Second); ca == ""; time.Sleep(200 * time.Millisecond) {
		cm, err := cs.CoreV1().ConfigMaps(controlPlaneNS).Get(ctx, "dapr-trust-bundle", metav1.GetOptions{})
		if err == nil {
			ca = cm.Data["ca.crt"]
		}
		if time.Now().After(deadline) {
			t.Fatal("sentry wrote no ca.crt into the dapr-trust-bundle ConfigMap")
		}
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, []byte(ca), 0o644); err != nil {
		t.Fatal(err)
	}

	// The operator: serves Components to the sidecars (and resolves their secretKeyRefs).
	opToken := filepath.Join(dir, "operator.token")
	boundToken(t, cs, controlPlaneNS, "dapr-operator", "dapr-operator-host", opToken)
	op := startHostProc(t, dir, "operator", map[string]string{
		unsafe: "true", "NAMESPACE": controlPlaneNS, "DAPR_SENTRY_TOKEN_FILE": opToken,
		"ENABLE_WEBHOOKS": "false", "KUBECONFIG": kubeconfig,
	}, operator,
		"-config", "daprsystem", "-trust-anchors-file", caFile,
		"-listen-address", "127.0.0.1", "-port", strconv.Itoa(p[3]),
		"-healthz-port", strconv.Itoa(p[4]), "-metrics-port", strconv.Itoa(p[5]),
		"-webhook-server-port", strconv.Itoa(p[6]), "-disable-leader-election", "-watch-interval", "0")
	waitHealthy(t, op, fmt.Sprintf("http://127.0.0.1:%d/healthz", p[4]), http.StatusOK, 2*time.Minute)

	// The plane's side: a runtime with its configuration, a one-time token for its agent.
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, runtimeTenant, `mutation($n: String!) { registerRuntime(in: {name: $n}) { id } }`, map[string]any{"n": name}), &rt)
	lr := &localRuntime{id: rt.RegisterRuntime.ID, demo: "managed-" + name}
	var created struct{ CreateConfiguration struct{ ID string } }
	ok(t, governor(t, runtimeTenant, createConfiguration, map[string]any{"in": map[string]any{
		"runtimeID": lr.id, "bindings": []any{loggingBinding(sink.srv.URL, token)},
	}}), &created)
	lr.configID = created.CreateConfiguration.ID
	var tok struct{ RequestOneTimeTokenForRuntime struct{ Token string } }
	ok(t, gql(t, runtimeTenant, `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`,
		map[string]any{"id": lr.id}), &tok)

	// The runtime's namespace: the workload's identity and Configuration, and the agent's objects exactly
	// as deploy/runtime-agent.yaml has them (ServiceAccount, Role, RoleBinding, its Deployment as owner).
	app := lr.demo
	applyYAML(t, k, "", workloadObjects, map[string]string{"NS": managedNS, "App": app, "NameDB": filepath.Join(dir, "nameresolution.db")})
	agentObjs, err := kubetest.ReadObjects(filepath.Join(root, "deploy", "runtime-agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.Apply(ctx, k.Admin(), managedNS, agentObjs); err != nil {
		t.Fatal(err)
	}

	// The workload's sidecar: daprd in Kubernetes mode, identity from sentry, components from the operator.
	appToken := filepath.Join(dir, app+".token")
	boundToken(t, cs, managedNS, app, app+"-host", appToken)
	apiToken := randomHex(t)
	// k8s-mode daprd always loads the built-in "kubernetes" secret store, which in a pod uses the pod's
	// ServiceAccount; out of the cluster it reads KUBECONFIG (and fails without one).
	appKubeconfig := serviceAccountKubeconfig(t, k, managedNS, app, filepath.Join(dir, app+".kubeconfig"))
	d := startHostProc(t, dir, app+"-daprd", map[string]string{
		unsafe: "true", "NAMESPACE": managedNS, "POD_NAME": app + "-host", "DAPR_HOST_IP": "127.0.0.1",
		"DAPR_TRUST_ANCHORS": ca, "DAPR_SENTRY_TOKEN_FILE": appToken, "DAPR_API_TOKEN": apiToken,
		"KUBECONFIG": appKubeconfig,
	}, daprd,
		"--mode", "kubernetes", "--app-id", app, "--config", app,
		"--control-plane-address", operatorAddr, "--sentry-address", sentryAddr, "--enable-mtls",
		"--control-plane-namespace", controlPlaneNS, "--control-plane-trust-domain", trustDomain,
		"--dapr-http-port", strconv.Itoa(p[7]), "--dapr-grpc-port", strconv.Itoa(p[8]),
		"--metrics-port", strconv.Itoa(p[9]), "--dapr-internal-grpc-port", strconv.Itoa(p[10]),
		"--placement-host-address", "", "--scheduler-host-address", "", "--log-level", "info")
	daprdHTTP := fmt.Sprintf("http://127.0.0.1:%d", p[7])
	waitHealthy(t, d, daprdHTTP+"/v1.0/healthz", http.StatusNoContent, 2*time.Minute)
	startHostProc(t, dir, app, map[string]string{
		"LOG_INTERVAL": "20ms", "RUNTIME_NAME": name, "DAPR_HTTP_PORT": strconv.Itoa(p[7]), "DAPR_API_TOKEN": apiToken,
	}, filepath.Join(stack.Dir, "bin", "demo-logger"))

	// The agent, Kubernetes writer, as its ServiceAccount: RBAC decides what it may write.
	agentKubeconfig := serviceAccountKubeconfig(t, k, managedNS, "runtime-agent", filepath.Join(dir, "agent.kubeconfig"))
	startHostProc(t, dir, "agent-"+name, map[string]string{
		"APPLY_MODE":             "kubernetes",
		"KUBECONFIG":             agentKubeconfig,
		"NAMESPACE":              managedNS,
		"OWNER":                  "apps/v1/deployments/runtime-agent",
		"RUNTIME_ID":             lr.id,
		"ONE_TIME_TOKEN":         tok.RequestOneTimeTokenForRuntime.Token,
		"CONNECTOR_URL":          stack.AppURL("gateway") + "/connector/graphql",
		"GATEWAY_SECURE_URL":     stack.AppTLSURL("gateway"),
		"GATEWAY_CA_FILE":        filepath.Join(stack.Dir, "tls", "gateway.crt"),
		"MP_DATA_DIR":            filepath.Join(dir, "agent"),
		"RUNTIME_SIDECAR_URL":    daprdHTTP,
		"RUNTIME_DAPR_API_TOKEN": apiToken,
		"HEARTBEAT_INTERVAL":     "1s",
		"VERIFY_SETTLE":          "300ms",
		"VERIFY_TIMEOUT":         "10s",
		"APP_PORT":               strconv.Itoa(p[11]),
	}, filepath.Join(stack.Dir, "bin", "runtime-agent"))
	t.Logf("managed runtime %s up in %s (kube-apiserver, sentry, operator, daprd in Kubernetes mode, workload, agent)",
		lr.id, time.Since(started).Round(time.Millisecond))
	return &managedRuntime{localRuntime: lr, kube: k, dyn: dyn, dir: dir, daprd: d, daprdHTTP: daprdHTTP, apiToken: apiToken}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as namespace/name.
func serviceAccountKubeconfig(t testing.TB, k *kubetest.Server, namespace, name, path string) string {
	t.Helper()
	rc, err := k.ServiceAccount(context.Background(), namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.TLSClientConfig.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// sidecarComponents returns the names and types of the components the sidecar has loaded.
func (m *managedRuntime) sidecarComponents(t testing.TB) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, m.daprdHTTP+"/v1.0/metadata", nil)
	req.Header.Set("dapr-api-token", m.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Components []struct{ Name, Type string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range md.Components {
		out[c.Name] = c.Type
	}
	return out
}

// waitApplied waits until the Governor shows the agent's report APPLIED for revision.
func (m *managedRuntime) waitApplied(t *testing.T, revision int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := m.status(t).RuntimeConfigurationStatus
		if st != nil && st.Revision == revision && st.Status == "APPLIED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, want APPLIED at revision %d", st, revision)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestGovernorConfiguresAManagedRuntime: a Governor configuration reaches a Kubernetes-mode sidecar as a
// live binding through the agent's Component resource and Dapr's operator, and a change to it moves the
// workload's lines to another service without restarting the sidecar; the Governor shows APPLIED.
func TestGovernorConfiguresAManagedRuntime(t *testing.T) {
	first, second := newLogSink(t), newLogSink(t)
	m := startManagedRuntime(t, "k8s", first, "managed-one")

	line := first.waitLine(t, time.Time{}, 2*time.Minute)
	if line.Token != "managed-one" {
		t.Fatalf("first service got token %q", line.Token)
	}
	m.waitApplied(t, 1, 30*time.Second)

	// What carried it: the agent's Component resource (owned, secret by reference) and its Secret.
	ctx := context.Background()
	sel := labels.SelectorFromSet(component.OwnedLabels(m.id)).String()
	list, err := m.dyn.Resource(kube.ComponentGVR).Namespace(managedNS).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "logging" {
		t.Fatalf("agent's components in %s: %d", managedNS, len(list.Items))
	}
	raw, _ := json.Marshal(list.Items[0].Object["spec"])
	if strings.Contains(string(raw), "managed-one") || !strings.Contains(string(raw), "secretKeyRef") {
		t.Fatalf("the component carries its secret in the clear or not by reference: %s", raw)
	}
	if refs := list.Items[0].GetOwnerReferences(); len(refs) != 1 || refs[0].Name != "runtime-agent" {
		t.Fatalf("owner references %+v, want the agent's Deployment", refs)
	}
	if got := m.sidecarComponents(t); got["logging"] != "bindings.http" {
		t.Fatalf("sidecar components %v, want logging (bindings.http)", got)
	}
	pid := m.daprd.cmd.Process.Pid

	switched := time.Now()
	ok(t, m.configure(t, loggingBinding(second.srv.URL, "managed-two")), nil)
	got := second.waitLine(t, switched, time.Minute)
	if got.Token != "managed-two" {
		t.Fatalf("second service got token %q, want the new one", got.Token)
	}
	t.Logf("managed runtime: configuration to live binding in %s", got.At.Sub(switched))
	m.waitApplied(t, 2, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	if late := first.since(got.At.Add(300 * time.Millisecond)); len(late) > 0 {
		t.Fatalf("the first service still gets lines after the switch: %d", len(late))
	}
	if !m.daprd.alive() || m.daprd.cmd.Process.Pid != pid {
		t.Fatal("the sidecar ended")
	}
	if n := strings.Count(m.daprd.output(), "dapr initialized"); n != 1 {
		t.Fatalf("the sidecar initialised %d times", n)
	}
}
