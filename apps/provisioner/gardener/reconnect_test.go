package gardener_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// provisioned provisions a runtime and plays its agent's first heartbeat, up to Succeeded.
func (f *fixture) provisioned(t *testing.T, name string) provisioning.Operation {
	t.Helper()
	op := f.provision(t, name)
	f.waitStage(t, op.ID, "wait-connected")
	f.report(t, agentpairing.Status{PairedTokenSHA256: agentpairing.TokenSHA256(f.token(t))})
	f.connect(t, op.RuntimeID)
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	return op
}

// token is the one-time token in the agent's pairing Secret in the shoot.
func (f *fixture) token(t *testing.T) string {
	t.Helper()
	sec, err := f.core.CoreV1().Secrets(f.agentNS).Get(context.Background(), "runtime-agent-pairing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(sec.Data["token"])
}

// report plays the runtime agent reporting its pairing status on its pairing Secret, as it does with
// PAIRING_SECRET set (apps/runtime-agent/kube.PairingReporter, tested with the agent's own rights there).
func (f *fixture) report(t *testing.T, st agentpairing.Status) {
	t.Helper()
	ctx := context.Background()
	raw, _ := json.Marshal(st)
	sec, err := f.core.CoreV1().Secrets(f.agentNS).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[agentpairing.Annotation] = string(raw)
	if _, err := f.core.CoreV1().Secrets(f.agentNS).Update(ctx, sec, metav1.UpdateOptions{FieldManager: "runtime-agent"}); err != nil {
		t.Fatal(err)
	}
}

// reconnectRuntimeAgent writes a new one-time token into the agent's pairing Secret, and only there, and
// succeeds once the agent reports that it paired with that token; a failure the agent reports meanwhile
// does not end it (the agent retries), and the agent's report survives the token's apply.
func TestReconnectGivesTheAgentANewTokenAndWaitsForItToPair(t *testing.T) {
	f := newFixture(t)
	f.run(t, f.engine("r1"))
	op := f.provisioned(t, "edge-again")
	ctx := context.Background()
	first := f.token(t)
	dep, err := f.core.AppsV1().Deployments(f.agentNS).Get(ctx, "runtime-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	rec, err := f.svc.ReconnectAgent(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitStage(t, rec.ID, "wait-agent-paired")
	second := f.token(t)
	if second == first || !strings.HasPrefix(second, "token-for-"+op.RuntimeID) {
		t.Fatalf("token in the shoot %q (was %q), want a new one", second, first)
	}
	sec, _ := f.core.CoreV1().Secrets(f.agentNS).Get(ctx, "runtime-agent-pairing", metav1.GetOptions{})
	if !strings.Contains(string(sec.Data["gateway-ca.crt"]), "BEGIN CERTIFICATE") {
		t.Errorf("the pairing secret lost its CA: %v", sec.Data)
	}
	if sec.Annotations[agentpairing.Annotation] == "" {
		t.Error("writing the token dropped the agent's pairing status")
	}
	if again, err := f.core.AppsV1().Deployments(f.agentNS).Get(ctx, "runtime-agent", metav1.GetOptions{}); err != nil ||
		again.ResourceVersion != dep.ResourceVersion {
		t.Errorf("the agent's Deployment changed on reconnect (%v)", err)
	}

	// Still CONNECTED on the old certificate: not a sign of pairing again.
	time.Sleep(300 * time.Millisecond)
	if cur, _ := f.svc.OperationStatus(f.ctx, rec.ID); cur.State != provisioning.StateInProgress {
		t.Fatalf("reconnect ended before the agent paired again: %+v", cur)
	}
	// The Connector refuses the token once (say it raced with an expiry); the agent keeps trying.
	f.report(t, agentpairing.Status{PairedTokenSHA256: agentpairing.TokenSHA256(first),
		Error: "token rejected", ErrorTokenSHA256: agentpairing.TokenSHA256(second)})
	time.Sleep(300 * time.Millisecond)
	if cur, _ := f.svc.OperationStatus(f.ctx, rec.ID); cur.State != provisioning.StateInProgress {
		t.Fatalf("reconnect ended on a failure the agent retries: %+v", cur)
	}
	f.report(t, agentpairing.Status{PairedTokenSHA256: agentpairing.TokenSHA256(second)})
	done := f.waitState(t, rec.ID, provisioning.StateSucceeded)
	if done.Type != provisioning.OperationReconnectRuntime {
		t.Fatalf("operation %+v", done)
	}

}

// An agent that cannot pair with the new token (it keeps its old certificate) ends the reconnection
// Failed at the stage's time limit, with the agent's reason.
func TestReconnectFailsWithTheAgentsReason(t *testing.T) {
	f := newFixture(t)
	stop := f.run(t, f.engine("r1"))
	op := f.provisioned(t, "edge-refused")
	stop()
	cfg := engineConfig("r2")
	cfg.StageTimeout = 2 * time.Second
	f.run(t, provisioning.NewEngine(f.store, quiet, cfg, f.backend))

	rec, err := f.svc.ReconnectAgent(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitStage(t, rec.ID, "wait-agent-paired")
	f.report(t, agentpairing.Status{PairedTokenSHA256: "old", Error: "connector: token expired", ErrorTokenSHA256: agentpairing.TokenSHA256(f.token(t))})
	done := f.wait(t, rec.ID, func(op provisioning.Operation) bool { return op.State == provisioning.StateFailed }, "Failed")
	if done.Stage != "wait-agent-paired" || done.LastError == nil || done.LastError.Reason != provisioning.ReasonTimeout ||
		done.LastError.Component != provisioning.ComponentAgent || !strings.Contains(done.LastError.Message, "token expired") {
		t.Fatalf("failed reconnect: stage %s, %+v", done.Stage, done.LastError)
	}
}

// published collects what the Provisioner's outbox publishes.
type published struct {
	mu     sync.Mutex
	events map[string][][]byte // by topic
}

func (p *published) Publish(_ context.Context, topic, _ string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events == nil {
		p.events = map[string][][]byte{}
	}
	p.events[topic] = append(p.events[topic], data)
	return nil
}

// Once Gardener has given the Shoot its domain, the operation's events name the cluster for the
// Director's runtime label (the Director sets it; apps/director/provisioned).
func TestOperationEventsNameTheCluster(t *testing.T) {
	f := newFixture(t)
	var pub published
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.store.Relay(ctx, quiet, &pub, 20*time.Millisecond)
	f.run(t, f.engine("r1"))
	op := f.provision(t, "edge-named")
	f.waitStage(t, op.ID, "wait-connected")
	want := "edge-named." + f.project + ".shoot.example.com"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pub.mu.Lock()
		var labels []map[string]string
		for _, raw := range pub.events[provisioning.TopicOperation] {
			var ev struct {
				RuntimeLabels map[string]string `json:"runtimeLabels"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			labels = append(labels, ev.RuntimeLabels)
		}
		pub.mu.Unlock()
		if n := len(labels); n > 0 && labels[n-1][provisioning.LabelCluster] == want {
			if labels[0] != nil {
				t.Errorf("the first event names a cluster before there is one: %v", labels[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime labels in the operation's events: %v, want %s=%s last", labels, provisioning.LabelCluster, want)
		}
	}
}
