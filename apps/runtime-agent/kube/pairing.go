package kube

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientretry "k8s.io/client-go/util/retry"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
)

// PairingReporter puts the agent's pairing status on its pairing Secret (annotation
// agentpairing.Annotation), where whoever wrote the token there — the Provisioner — sees whether the agent
// paired with it, or why not. It uses the get and update on Secrets the agent's Role grants anyway.
type PairingReporter struct {
	Core      kubernetes.Interface
	Namespace string
	Secret    string
}

// Report implements credentials.Config.Report. An update races with the Provisioner writing a new token:
// on a conflict it reads the Secret again.
func (r PairingReporter) Report(ctx context.Context, s agentpairing.Status) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("pairing status: %w", err)
	}
	secrets := r.Core.CoreV1().Secrets(r.Namespace)
	err = clientretry.RetryOnConflict(clientretry.DefaultRetry, func() error {
		sec, err := secrets.Get(ctx, r.Secret, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sec.Annotations[agentpairing.Annotation] == string(raw) {
			return nil
		}
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		sec.Annotations[agentpairing.Annotation] = string(raw)
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "runtime-agent"})
		return err
	})
	if err != nil {
		return fmt.Errorf("report pairing status on secret %s/%s: %w", r.Namespace, r.Secret, err)
	}
	return nil
}
