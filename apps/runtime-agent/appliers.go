package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/kube"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/reconcile"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/standalone"
)

// applier writes revisions and finds drift from them; both modes do both.
type applier interface {
	reconcile.Applier
	reconcile.Inspector
}

// newApplier builds the applier APPLY_MODE names.
func newApplier(ctx context.Context, cfg config, log *slog.Logger) (applier, error) {
	switch cfg.ApplyMode {
	case "standalone":
		return standalone.New(standalone.Config{
			Dir:             cfg.ResourcesDir,
			SecretsFile:     cfg.SecretsFile,
			SecretStoreName: cfg.SecretStoreName,
			FilePrefix:      cfg.FilePrefix,
			RuntimeID:       cfg.RuntimeID,
			IgnoreErrors:    cfg.IgnoreErrors,
		}, log)
	case "kubernetes":
		return newKubeApplier(ctx, cfg, log)
	default:
		return nil, fmt.Errorf("config: APPLY_MODE %q: want standalone or kubernetes", cfg.ApplyMode)
	}
}

// serviceAccountNamespace is where Kubernetes tells a pod its namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// kubeAccess is the cluster's address (KUBECONFIG or in-cluster) and the agent's namespace.
func kubeAccess(cfg config) (*rest.Config, string, error) {
	var (
		rc  *rest.Config
		err error
	)
	if cfg.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes config: %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		b, err := os.ReadFile(serviceAccountNamespace)
		if err != nil {
			return nil, "", fmt.Errorf("config: NAMESPACE is not set and the pod's namespace is unknown: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	return rc, ns, nil
}

// newPairingReporter reports the pairing status on the agent's pairing Secret (PAIRING_SECRET) in
// kubernetes mode; elsewhere there is nothing to report it on and /healthz shows it.
func newPairingReporter(cfg config) (func(context.Context, agentpairing.Status) error, error) {
	if cfg.ApplyMode != "kubernetes" || cfg.PairingSecret == "" {
		return nil, nil
	}
	rc, ns, err := kubeAccess(cfg)
	if err != nil {
		return nil, err
	}
	core, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return kube.PairingReporter{Core: core, Namespace: ns, Secret: cfg.PairingSecret}.Report, nil
}

func newKubeApplier(ctx context.Context, cfg config, log *slog.Logger) (*kube.Applier, error) {
	rc, ns, err := kubeAccess(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	core, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kc := kube.Config{Namespace: ns, RuntimeID: cfg.RuntimeID, SecretPrefix: cfg.SecretPrefix, IgnoreErrors: cfg.IgnoreErrors}
	if cfg.Owner != "" {
		if kc.Owner, err = kube.ResolveOwner(ctx, dyn, ns, cfg.Owner); err != nil {
			return nil, err
		}
	}
	return kube.New(dyn, core, kc, log)
}
