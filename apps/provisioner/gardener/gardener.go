// Package gardener is the Provisioner's backend for runtimes on Gardener clusters. A runtime is a Shoot in
// the project's namespace of a garden cluster: the backend creates it from the request's gardenerConfig,
// waits until Gardener has given it a domain and finished creating it, reads the shoot's kubeconfig from
// the `<shoot>.kubeconfig` secret beside it, and installs the Runtime Agent into the shoot (the objects of
// deploy/runtime-agent.yaml, the one-time token in their Secret). The engine's last stage then waits for
// the agent's heartbeats. Deprovisioning deletes the Shoot with Gardener's deletion confirmation and waits
// until it is gone; upgradeShoot and hibernateRuntime change the Shoot and wait until Gardener has
// reconciled it. reconnectRuntimeAgent writes the new one-time token into the agent's pairing Secret in the
// shoot — the agent keeps its certificate on a volume, so it cannot be told to forget it; instead it pairs
// again whenever its token changes — and waits until the agent reports, on that Secret, that it paired with
// exactly this token (the mgmtplane.io/pairing annotation; see apps/runtime-agent/README.md). An agent that
// cannot pair keeps its old certificate, and the operation fails at the time limit with the agent's reason.
//
// Every stage is idempotent: it server-side applies what it wants (the same apply twice is no change) or
// reads what Gardener has done, so an operation resumed after a crash goes on where it stopped. The backend
// keeps nothing between stages but what the garden cluster holds.
//
// Other cluster backends plug in the same way: a Cluster API backend would apply a Cluster (and its
// infrastructure objects) instead of a Shoot, wait for its ControlPlaneInitialized condition and read the
// `<cluster>-kubeconfig` secret; an existing-cluster backend would take a kubeconfig from the request's
// secret, check access in its first stage and go straight to installing the agent.
package gardener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// Config is what the backend needs of the garden cluster and of the plane.
type Config struct {
	// Garden reaches the garden cluster with the project's credentials (its kubeconfig).
	Garden *rest.Config
	// Namespace is the project's namespace in the garden cluster: garden-<project>.
	Namespace string
	// AgentManifest are the Runtime Agent's objects (LoadAgentManifest), installed into every shoot in
	// AgentNamespace.
	AgentManifest  []*unstructured.Unstructured
	AgentNamespace string
	// AgentImage replaces the manifest's image when set.
	AgentImage string
	// What the agent is told about the plane: the gateway's URL for pairing with the one-time token, its
	// mutual-TLS URL, and (optional) the CA that signs the gateway's certificate.
	ConnectorURL     string
	GatewaySecureURL string
	GatewayCA        []byte
	// ShootTimeout limits the stages that wait for Gardener to create, change or delete a cluster, which
	// takes minutes; zero means the engine's default.
	ShootTimeout time.Duration
	// FieldManager names the backend's server-side applies.
	FieldManager string
}

// Backend implements provisioning.Backend on Gardener.
type Backend struct {
	cfg    Config
	shoots dynamic.ResourceInterface
	core   kubernetes.Interface
	// shootConfig builds the client of a shoot from its kubeconfig; tests may rewrite the address.
	shootConfig func(kubeconfig []byte) (*rest.Config, error)
}

// New returns the gardener backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Garden == nil || cfg.Namespace == "" {
		return nil, errors.New("gardener backend: the garden cluster's kubeconfig and the project namespace are needed")
	}
	if len(cfg.AgentManifest) == 0 || cfg.AgentNamespace == "" {
		return nil, errors.New("gardener backend: the runtime agent's manifest and namespace are needed")
	}
	if cfg.FieldManager == "" {
		cfg.FieldManager = managedBy
	}
	dyn, err := dynamic.NewForConfig(cfg.Garden)
	if err != nil {
		return nil, fmt.Errorf("gardener backend: %w", err)
	}
	core, err := kubernetes.NewForConfig(cfg.Garden)
	if err != nil {
		return nil, fmt.Errorf("gardener backend: %w", err)
	}
	return &Backend{cfg: cfg, shoots: dyn.Resource(ShootGVR).Namespace(cfg.Namespace), core: core,
		shootConfig: clientcmd.RESTConfigFromKubeConfig}, nil
}

// Name implements provisioning.Backend.
func (b *Backend) Name() string { return provisioning.BackendGardener }

// Validate implements provisioning.Validator.
func (b *Backend) Validate(raw json.RawMessage) error {
	c, err := decode(raw)
	if err != nil {
		return err
	}
	return c.validate()
}

// Stages implements provisioning.Backend.
func (b *Backend) Stages(t provisioning.OperationType) ([]provisioning.Stage, error) {
	long := b.cfg.ShootTimeout
	switch t {
	case provisioning.OperationProvision:
		return []provisioning.Stage{
			{Name: "create-shoot", Message: "creating the Shoot in the garden cluster", Run: b.createShoot},
			{Name: "wait-shoot-domain", Message: "waiting for Gardener to give the Shoot its domain", Timeout: long, Run: b.waitDomain},
			{Name: "wait-shoot-created", Message: "waiting for Gardener to create the cluster", Timeout: long, Run: b.waitReconciled},
			{Name: "fetch-kubeconfig", Message: "reading the cluster's kubeconfig", Run: b.fetchKubeconfig},
			{Name: "install-agent", Message: "installing the runtime agent into the cluster", Run: b.installAgent},
		}, nil
	case provisioning.OperationDeprovision:
		return []provisioning.Stage{
			{Name: "delete-shoot", Message: "deleting the Shoot", Run: b.deleteShoot},
			{Name: "wait-shoot-deleted", Message: "waiting for Gardener to delete the cluster", Timeout: long, Run: b.waitDeleted},
		}, nil
	case provisioning.OperationUpgradeShoot:
		return []provisioning.Stage{
			{Name: "update-shoot", Message: "changing the Shoot", Run: b.createShoot},
			{Name: "wait-shoot-updated", Message: "waiting for Gardener to change the cluster", Timeout: long, Run: b.waitReconciled},
		}, nil
	case provisioning.OperationHibernate:
		return []provisioning.Stage{
			{Name: "hibernate-shoot", Message: "asking Gardener to hibernate the cluster", Run: b.hibernate},
			{Name: "wait-shoot-hibernated", Message: "waiting for Gardener to hibernate the cluster", Timeout: long, Run: b.waitHibernated},
		}, nil
	case provisioning.OperationReconnectRuntime:
		return []provisioning.Stage{
			{Name: "write-agent-token", Message: "giving the runtime agent its new one-time token", Run: b.writeAgentToken},
			{Name: "wait-agent-paired", Message: "waiting for the runtime agent to pair with the new token",
				Component: provisioning.ComponentAgent, Run: b.waitAgentPaired},
		}, nil
	}
	return nil, provisioning.Fail(apperr.CodeInvalidInput, provisioning.ReasonInvalidInput, provisioning.BackendGardener,
		"%s is not available for Gardener runtimes", strings.ToLower(string(t)))
}

func failed(err error) error {
	return provisioning.Permanent(provisioning.ReasonBackend, provisioning.BackendGardener, err)
}

func (b *Backend) config(job *provisioning.Job) (gardenerConfig, error) {
	c, err := decode(job.ClusterConfig)
	if err != nil {
		return c, provisioning.Permanent(provisioning.ReasonInvalidInput, provisioning.BackendGardener, err)
	}
	return c, nil
}

// shoot reads the runtime's Shoot, refusing one that belongs to another runtime: a name taken in the
// project must not make two runtimes share (or delete) one cluster.
func (b *Backend) shoot(ctx context.Context, job *provisioning.Job, name string) (*unstructured.Unstructured, error) {
	s, err := b.shoots.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if owner := s.GetAnnotations()[AnnotationRuntimeID]; owner != job.RuntimeID {
		return nil, failed(fmt.Errorf("shoot %s/%s belongs to runtime %q, not %s", b.cfg.Namespace, name, owner, job.RuntimeID))
	}
	return s, nil
}

// createShoot applies the Shoot the cluster configuration asks for; after an upgradeShoot the merged
// configuration makes the same apply change only what changed.
func (b *Backend) createShoot(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	if _, err := b.shoot(ctx, job, c.Name); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := toShoot(c, shootMeta{Namespace: b.cfg.Namespace, RuntimeID: job.RuntimeID, OperationID: job.Operation.ID, Tenant: job.Tenant})
	_, err = b.shoots.Apply(ctx, c.Name, want, metav1.ApplyOptions{FieldManager: b.cfg.FieldManager, Force: true})
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		return failed(fmt.Errorf("gardener refused shoot %s: %w", c.Name, err))
	}
	if err != nil {
		return fmt.Errorf("apply shoot %s: %w", c.Name, err)
	}
	return nil
}

func (b *Backend) waitDomain(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	s, err := b.shoot(ctx, job, c.Name)
	if err != nil {
		return fmt.Errorf("shoot %s: %w", c.Name, err)
	}
	domain, _, _ := unstructured.NestedString(s.Object, "spec", "dns", "domain")
	if domain == "" {
		return provisioning.ErrWait
	}
	// The domain names the cluster (shoot and project are in it): the runtime's cluster label.
	if job.Get(provisioning.ProgressCluster) != domain {
		return job.Set(ctx, provisioning.ProgressCluster, domain)
	}
	return nil
}

// lastOperation is the Shoot's status.lastOperation: what Gardener did last and how it went.
type lastOperation struct {
	Type, State, Description string
}

func lastOp(s *unstructured.Unstructured) lastOperation {
	m, _, _ := unstructured.NestedStringMap(s.Object, "status", "lastOperation")
	return lastOperation{Type: m["type"], State: m["state"], Description: m["description"]}
}

// shootError says why Gardener failed: the last operation's description and the shoot's last errors.
func shootError(s *unstructured.Unstructured, op lastOperation) error {
	msg := fmt.Sprintf("gardener: %s of shoot %s failed: %s", strings.ToLower(op.Type), s.GetName(), op.Description)
	errs, _, _ := unstructured.NestedSlice(s.Object, "status", "lastErrors")
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			if d, _ := m["description"].(string); d != "" && d != op.Description {
				msg += "; " + d
			}
		}
	}
	return failed(errors.New(msg))
}

// waitReconciled waits until Gardener has seen the Shoot's latest spec (status.observedGeneration) and
// its last operation succeeded. Failed is Gardener's final verdict; Error means it tries again.
func (b *Backend) waitReconciled(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	s, err := b.shoot(ctx, job, c.Name)
	if err != nil {
		return fmt.Errorf("shoot %s: %w", c.Name, err)
	}
	op := lastOp(s)
	observed, _, _ := unstructured.NestedInt64(s.Object, "status", "observedGeneration")
	if observed < s.GetGeneration() {
		return provisioning.ErrWait
	}
	switch op.State {
	case "Succeeded":
		return nil
	case "Failed":
		return shootError(s, op)
	case "Error":
		return fmt.Errorf("gardener: %s of shoot %s: %s (gardener retries)", strings.ToLower(op.Type), s.GetName(), op.Description)
	}
	return provisioning.ErrWait
}

// kubeconfig reads the shoot's kubeconfig from the `<shoot>.kubeconfig` secret Gardener keeps beside the
// Shoot in the project namespace.
func (b *Backend) kubeconfig(ctx context.Context, job *provisioning.Job) (*rest.Config, error) {
	c, err := b.config(job)
	if err != nil {
		return nil, err
	}
	sec, err := b.core.CoreV1().Secrets(b.cfg.Namespace).Get(ctx, c.Name+".kubeconfig", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, provisioning.ErrWait
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s.kubeconfig: %w", c.Name, err)
	}
	raw := sec.Data["kubeconfig"]
	if len(raw) == 0 {
		return nil, provisioning.ErrWait
	}
	rc, err := b.shootConfig(raw)
	if err != nil {
		return nil, failed(fmt.Errorf("secret %s.kubeconfig: %w", c.Name, err))
	}
	rc.Timeout = 30 * time.Second
	return rc, nil
}

// shootClient is a client of the shoot's API server, from its kubeconfig.
func (b *Backend) shootClient(ctx context.Context, job *provisioning.Job) (*kubernetes.Clientset, error) {
	rc, err := b.kubeconfig(ctx, job)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, failed(err)
	}
	return cs, nil
}

// fetchKubeconfig waits for the shoot's kubeconfig and checks that it reaches the cluster.
func (b *Backend) fetchKubeconfig(ctx context.Context, job *provisioning.Job) error {
	cs, err := b.shootClient(ctx, job)
	if err != nil {
		return err
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("the shoot's API server does not answer yet: %w", err)
	}
	return nil
}

// installAgent applies the Runtime Agent's objects into the shoot, the one-time token in their Secret.
func (b *Backend) installAgent(ctx context.Context, job *provisioning.Job) error {
	return b.applyAgent(ctx, job, func(*unstructured.Unstructured) bool { return true })
}

// writeAgentToken applies, of the agent's objects, only the pairing Secret with the operation's new
// one-time token: the rest is as provisioning left it, and the agent follows its token file.
func (b *Backend) writeAgentToken(ctx context.Context, job *provisioning.Job) error {
	return b.applyAgent(ctx, job, isPairingSecret)
}

func isPairingSecret(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Secret" && o.GetName() == agentPairingSecret
}

// applyAgent renders the agent's objects for the runtime, with the operation's one-time token, and
// applies those keep selects into the shoot.
func (b *Backend) applyAgent(ctx context.Context, job *provisioning.Job, keep func(*unstructured.Unstructured) bool) error {
	token := job.Get(provisioning.ProgressToken)
	if token == "" {
		return failed(errors.New("no one-time token for the runtime agent"))
	}
	rc, err := b.kubeconfig(ctx, job)
	if err != nil {
		return err
	}
	objs, err := renderAgent(b.cfg.AgentManifest, agentValues{Namespace: b.cfg.AgentNamespace, RuntimeID: job.RuntimeID,
		Token: token, ConnectorURL: b.cfg.ConnectorURL, GatewaySecureURL: b.cfg.GatewaySecureURL, Image: b.cfg.AgentImage,
		GatewayCA: b.cfg.GatewayCA})
	if err != nil {
		return failed(err)
	}
	var sel []*unstructured.Unstructured
	for _, o := range objs {
		if keep(o) {
			sel = append(sel, o)
		}
	}
	return apply(ctx, rc, b.cfg.FieldManager, sel)
}

// waitAgentPaired waits until the agent reports on its pairing Secret that it paired with the operation's
// token. The runtime was CONNECTED before and stays so on the old certificate, so the Director's status
// alone cannot tell that the agent paired again; the token's hash can. While the agent reports that this
// token failed, the stage carries its reason, which ends the operation if the time limit passes.
func (b *Backend) waitAgentPaired(ctx context.Context, job *provisioning.Job) error {
	want := agentpairing.TokenSHA256(job.Get(provisioning.ProgressToken))
	cs, err := b.shootClient(ctx, job)
	if err != nil {
		return err
	}
	sec, err := cs.CoreV1().Secrets(b.cfg.AgentNamespace).Get(ctx, agentPairingSecret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the runtime agent's pairing secret: %w", err)
	}
	raw := sec.Annotations[agentpairing.Annotation]
	if raw == "" {
		return provisioning.ErrWait
	}
	var st agentpairing.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return fmt.Errorf("the runtime agent's pairing status %q: %w", raw, err)
	}
	switch want {
	case st.PairedTokenSHA256:
		return nil
	case st.ErrorTokenSHA256:
		return fmt.Errorf("the runtime agent could not pair with the new token (it keeps its old certificate): %s", st.Error)
	}
	return provisioning.ErrWait
}

// deleteShoot confirms the deletion on the Shoot (Gardener refuses it otherwise) and deletes it. A Shoot
// already gone, or already being deleted, is fine.
func (b *Backend) deleteShoot(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	s, err := b.shoot(ctx, job, c.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.GetDeletionTimestamp() != nil {
		return nil
	}
	if s.GetAnnotations()[AnnotationConfirmDeletion] != "true" {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations":     map[string]any{AnnotationConfirmDeletion: "true"},
			"resourceVersion": s.GetResourceVersion(),
		}})
		// With the resourceVersion: the annotation goes on the Shoot read above, or the stage tries again.
		if _, err := b.shoots.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: b.cfg.FieldManager}); err != nil {
			return fmt.Errorf("confirm deletion of shoot %s: %w", c.Name, err)
		}
	}
	uid := s.GetUID()
	err = b.shoots.Delete(ctx, c.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		// Gardener's admission refuses it (a deletion protection, say): asking again will not help.
		return failed(fmt.Errorf("gardener refused to delete shoot %s: %w", c.Name, err))
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete shoot %s: %w", c.Name, err)
	}
	return nil
}

func (b *Backend) waitDeleted(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	s, err := b.shoot(ctx, job, c.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shoot %s: %w", c.Name, err)
	}
	if op := lastOp(s); op.Type == "Delete" && op.State == "Failed" {
		return shootError(s, op)
	}
	return provisioning.ErrWait
}

// hibernate sets spec.hibernation.enabled under a field manager of its own, so that the applies of the
// cluster configuration (upgradeShoot) neither own nor undo it.
func (b *Backend) hibernate(ctx context.Context, job *provisioning.Job) error {
	c, err := b.config(job)
	if err != nil {
		return err
	}
	if _, err := b.shoot(ctx, job, c.Name); err != nil {
		return fmt.Errorf("shoot %s: %w", c.Name, err)
	}
	want := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
		"metadata": map[string]any{"name": c.Name, "namespace": b.cfg.Namespace},
		"spec":     map[string]any{"hibernation": map[string]any{"enabled": true}},
	}}
	if _, err := b.shoots.Apply(ctx, c.Name, want, metav1.ApplyOptions{FieldManager: b.cfg.FieldManager + "-hibernation", Force: true}); err != nil {
		return fmt.Errorf("hibernate shoot %s: %w", c.Name, err)
	}
	return nil
}

func (b *Backend) waitHibernated(ctx context.Context, job *provisioning.Job) error {
	if err := b.waitReconciled(ctx, job); err != nil {
		return err
	}
	c, _ := b.config(job)
	s, err := b.shoot(ctx, job, c.Name)
	if err != nil {
		return fmt.Errorf("shoot %s: %w", c.Name, err)
	}
	if h, _, _ := unstructured.NestedBool(s.Object, "status", "hibernated"); !h {
		return provisioning.ErrWait
	}
	return nil
}

// Namespace is the project namespace the backend keeps its Shoots in.
func (b *Backend) Namespace() string { return b.cfg.Namespace }
