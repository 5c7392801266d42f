package configuration_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

// topics records what the outbox relay publishes, per topic.
type topics struct {
	mu  sync.Mutex
	got map[string][]json.RawMessage
}

func (p *topics) Publish(_ context.Context, topic, _ string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.got == nil {
		p.got = map[string][]json.RawMessage{}
	}
	p.got[topic] = append(p.got[topic], data)
	return nil
}

// wait returns the events of topic once there are n of them.
func (p *topics) wait(t *testing.T, topic string, n int) []json.RawMessage {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		got := append([]json.RawMessage(nil), p.got[topic]...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events, want %d", len(got), topic, n)
		}
	}
}

func relay(t *testing.T, e *env) *topics {
	t.Helper()
	p := &topics{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go e.reg.Relay(ctx, silent(), p, 5*time.Millisecond)
	return p
}

func TestDriftReportsAndCorrection(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	pub := relay(t, e)
	user, rt := asUser("t1"), asRuntime("t1", "rt-1")
	mustCreate(t, user, e.svc, forRuntime("rt-1", httpBinding("log", "http://a"), httpBinding("audit", "http://b")))
	eff, err := e.svc.Effective(rt, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	if eff.DriftPolicy != configuration.DriftCorrect {
		t.Fatalf("default drift policy %q", eff.DriftPolicy)
	}
	if _, err := e.svc.ReportStatus(rt, "rt-1", eff.Revision, "APPLIED", ""); err != nil {
		t.Fatal(err)
	}

	drift := []configuration.DriftItem{
		{Component: "log", Kind: configuration.DriftMissing, Resource: configuration.DriftComponent},
		{Component: "audit", Kind: configuration.DriftModified, Resource: configuration.DriftSecret},
	}
	if _, err := e.svc.Report(rt, configuration.Report{RuntimeID: "rt-1", Revision: eff.Revision, Status: "DRIFTED", Drift: drift}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.State(user, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	d := st.Status.LastDrift
	if st.Desired != eff.Revision || st.Status.LastApplied == nil || st.Status.LastApplied.Revision != eff.Revision ||
		d == nil || len(d.Items) != 2 || d.ResolvedAt != nil || d.Corrected {
		t.Fatalf("state while drifted: %+v, drift %+v", st, d)
	}
	detected := d.DetectedAt

	// The agent restores and says so: the drift is over, corrected, and still shows when it began.
	if _, err := e.svc.Report(rt, configuration.Report{RuntimeID: "rt-1", Revision: eff.Revision, Status: "APPLIED", Drift: drift, DriftCorrected: true}); err != nil {
		t.Fatal(err)
	}
	st, _ = e.svc.State(user, "rt-1")
	if d := st.Status.LastDrift; d == nil || d.ResolvedAt == nil || !d.Corrected || !d.DetectedAt.Equal(detected) {
		t.Fatalf("drift after the correction: %+v", d)
	}

	var events []configuration.DriftEvent
	for _, raw := range pub.wait(t, configuration.TopicDrift, 2) {
		var ev configuration.DriftEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	if events[0].What != "detected" || events[1].What != "corrected" || events[0].Tenant != "t1" || events[0].RuntimeID != "rt-1" || len(events[0].Items) != 2 {
		t.Fatalf("drift events: %+v", events)
	}

	// A drift that goes away without the agent (report-only, fixed by hand) ends uncorrected.
	if _, err := e.svc.Report(rt, configuration.Report{RuntimeID: "rt-1", Revision: eff.Revision, Status: "DRIFTED", Drift: drift[:1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReportStatus(rt, "rt-1", eff.Revision, "APPLIED", ""); err != nil {
		t.Fatal(err)
	}
	st, _ = e.svc.State(user, "rt-1")
	if d := st.Status.LastDrift; d == nil || d.ResolvedAt == nil || d.Corrected || len(d.Items) != 1 {
		t.Fatalf("drift gone by itself: %+v", d)
	}
	if evs := pub.wait(t, configuration.TopicDrift, 4); !strings.Contains(string(evs[3]), `"what":"resolved"`) {
		t.Fatalf("last drift event %s", evs[3])
	}

	for _, tt := range []struct {
		name string
		r    configuration.Report
	}{
		{"DRIFTED without what differs", configuration.Report{Status: "DRIFTED"}},
		{"a drift item of an unknown kind", configuration.Report{Status: "DRIFTED", Drift: []configuration.DriftItem{{Component: "log", Kind: "GONE", Resource: "COMPONENT"}}}},
		{"a component name that is no name", configuration.Report{Status: "DRIFTED", Drift: []configuration.DriftItem{{Component: "a b", Kind: "MISSING", Resource: "COMPONENT"}}}},
		{"corrected on a FAILED report", configuration.Report{Status: "FAILED", Drift: drift, DriftCorrected: true}},
	} {
		tt.r.RuntimeID, tt.r.Revision = "rt-1", eff.Revision
		_, err := e.svc.Report(rt, tt.r)
		wantCode(t, err, apperr.CodeInvalidInput)
	}
}

func TestDriftPolicyReachesTheAgent(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	user, rt := asUser("t1"), asRuntime("t1", "rt-1")
	shared := mustCreate(t, user, e.svc, forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://a")))
	before, err := e.svc.Effective(rt, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	// Only the policy changes: the agent learns it from a new revision, with REPORT.
	in := forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://a"))
	in.DriftPolicy = configuration.DriftReport
	if _, err := e.svc.Update(user, shared.ID, in); err != nil {
		t.Fatal(err)
	}
	after, err := e.svc.Effective(rt, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision+1 || after.DriftPolicy != configuration.DriftReport {
		t.Fatalf("after REPORT: revision %d (was %d), policy %s", after.Revision, before.Revision, after.DriftPolicy)
	}
	// The runtime's own configuration, CORRECT, does not undo the promise of the shared one.
	mustCreate(t, user, e.svc, forRuntime("rt-1", httpBinding("audit", "http://b")))
	if eff, _ := e.svc.Effective(rt, "rt-1"); eff.DriftPolicy != configuration.DriftReport {
		t.Fatalf("merged policy %s", eff.DriftPolicy)
	}

	bad := forRuntime("rt-1", httpBinding("x", "http://x"))
	bad.DriftPolicy = "SOMETIMES"
	_, err = e.svc.Create(user, bad)
	wantCode(t, err, apperr.CodeInvalidInput)
}

func TestAutoRollbackOfASingleRuntimeConfiguration(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	pub := relay(t, e)
	user, rt := asUser("t1"), asRuntime("t1", "rt-1")

	// The runtime applies revision 1, then fails revision 2.
	in := forRuntime("rt-1", storageBinding("archive", "/tmp/good"))
	in.AutoRollback = true
	c := mustCreate(t, user, e.svc, in)
	report := func(status, reason string) int {
		t.Helper()
		eff, err := e.svc.Effective(rt, "rt-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ReportStatus(rt, "rt-1", eff.Revision, status, reason); err != nil {
			t.Fatal(err)
		}
		return eff.Revision
	}
	report("APPLIED", "")
	in.Bindings = []configuration.BindingInput{storageBinding("archive", "/proc/bad")}
	if _, err := e.svc.Update(user, c.ID, in); err != nil {
		t.Fatal(err)
	}
	report("FAILED", "verify: component archive not loaded")

	got, err := e.svc.Get(user, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 3 || got.RolledBackFrom != 1 || metadata(got.Bindings[0], "rootPath") != "/tmp/good" ||
		!got.AutoRollback || got.RevisedBy != "governor-autorollback" ||
		!strings.Contains(got.RollbackReason, "revision 2 FAILED: verify: component archive not loaded") {
		t.Fatalf("after the FAILED report: %+v", got)
	}
	st, err := e.svc.State(user, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	if a := st.Status.LastAutoRollback; a == nil || a.FailedRevision != 2 || a.RestoredRevision != 1 || a.NewRevision != 3 {
		t.Fatalf("runtime state: %+v", st.Status.LastAutoRollback)
	}
	var ev configuration.AutoRollbackEvent
	if err := json.Unmarshal(pub.wait(t, configuration.TopicAutoRollback, 1)[0], &ev); err != nil || ev.Tenant != "t1" || ev.ConfigurationID != c.ID || ev.NewRevision != 3 {
		t.Fatalf("event %+v (%v)", ev, err)
	}
	var rec audit.Record
	if err := json.Unmarshal(pub.wait(t, audit.Topic, 1)[0], &rec); err != nil || rec.Operation != "autoRollbackConfiguration" || rec.Subject != "governor-autorollback" {
		t.Fatalf("audit %+v (%v)", rec, err)
	}

	// The rollback revision failing too does not make the Governor loop.
	report("FAILED", "still broken")
	if got, _ := e.svc.Get(user, c.ID); got.Revision != 3 {
		t.Fatalf("rolled back its own rollback: revision %d", got.Revision)
	}

	// Without the flag, a FAILED report changes nothing.
	in.AutoRollback = false
	in.Bindings = []configuration.BindingInput{storageBinding("archive", "/proc/bad")}
	if _, err := e.svc.Update(user, c.ID, in); err != nil {
		t.Fatal(err)
	}
	report("FAILED", "broken")
	if got, _ := e.svc.Get(user, c.ID); got.Revision != 4 {
		t.Fatalf("rolled back without autoRollback: revision %d", got.Revision)
	}

	// Only a configuration for one runtime takes the flag.
	sel := forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://a"))
	sel.AutoRollback = true
	_, err = e.svc.Create(user, sel)
	wantCode(t, err, apperr.CodeInvalidInput)
}

// A runtime that applied a rollout's revision and then drifted has still applied it: drift is someone's
// change to the runtime, which its agent restores, not the revision failing, so the rollout goes on.
func TestDriftedRuntimeDoesNotHoldARolloutBack(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	for _, id := range []string{"rt-00", "rt-01"} {
		e.director.set("t1", id, map[string]any{"env": "prod"})
	}
	sel := map[string]string{"env": "prod"}
	c := mustCreate(t, ctx, e.svc, forLabels(sel, httpBinding("log", "http://v1")))
	staged := forLabels(sel, httpBinding("log", "http://v2"))
	staged.Rollout = &configuration.Strategy{CanaryCount: 1, BatchSize: 1}
	if _, err := e.svc.Update(ctx, c.ID, staged); err != nil {
		t.Fatal(err)
	}
	rt := asRuntime("t1", "rt-00")
	eff, err := e.svc.Effective(rt, "rt-00")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReportStatus(rt, "rt-00", eff.Revision, "APPLIED", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Report(rt, configuration.Report{RuntimeID: "rt-00", Revision: eff.Revision, Status: "DRIFTED",
		Drift: []configuration.DriftItem{{Component: "log", Kind: configuration.DriftMissing, Resource: configuration.DriftComponent}}}); err != nil {
		t.Fatal(err)
	}
	tick(t, e.svc)
	ro, err := e.svc.RolloutOf(ctx, c.ID)
	if err != nil || ro.Phase != configuration.PhaseProgressing || ro.Step != 1 || ro.Runtimes[0].State != configuration.RuntimeApplied {
		t.Fatalf("rollout with a drifted canary: %+v, %v", ro, err)
	}
}
