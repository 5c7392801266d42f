package configuration_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
)

// agentRun is what an agent does: fetch its effective configuration and report it applied (or failed).
// It returns the url of the binding "log" it got ("" when none).
func agentRun(t *testing.T, svc *configuration.Service, tenant, runtimeID, status string) string {
	t.Helper()
	ctx := asRuntime(tenant, runtimeID)
	eff, err := svc.Effective(ctx, runtimeID)
	if err != nil {
		t.Fatalf("effective of %s: %v", runtimeID, err)
	}
	if status != "" {
		if _, err := svc.ReportStatus(ctx, runtimeID, eff.Revision, status, "component log: "+strings.ToLower(status)); err != nil {
			t.Fatalf("report of %s: %v", runtimeID, err)
		}
	}
	for _, b := range eff.Bindings {
		if b.Name == "log" {
			return metadata(b.Binding, "url")
		}
	}
	return ""
}

func tick(t *testing.T, svc *configuration.Service) {
	t.Helper()
	if err := svc.Tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

func urls(t *testing.T, svc *configuration.Service, status string) []string {
	var out []string
	for _, id := range []string{"rt-00", "rt-01", "rt-02"} {
		out = append(out, agentRun(t, svc, "t1", id, status))
	}
	return out
}

func TestRolloutThroughTheService(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	for _, id := range []string{"rt-00", "rt-01", "rt-02"} {
		e.director.set("t1", id, map[string]any{"env": "prod"})
	}
	e.director.set("t1", "rt-other", map[string]any{"env": "dev"})
	sel := map[string]string{"env": "prod"}
	c := mustCreate(t, ctx, e.svc, forLabels(sel, httpBinding("log", "http://v1")))
	if got := urls(t, e.svc, configuration.StatusApplied); strings.Join(got, " ") != "http://v1 http://v1 http://v1" {
		t.Fatalf("without a strategy every runtime gets the change at once: %v", got)
	}

	staged := forLabels(sel, httpBinding("log", "http://v2"))
	staged.Rollout = &configuration.Strategy{CanaryCount: 1, BatchSize: 1}
	if _, err := e.svc.Update(ctx, c.ID, staged); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"http://v2", "http://v1", "http://v1"},
		{"http://v2", "http://v2", "http://v1"},
		{"http://v2", "http://v2", "http://v2"},
	}
	for i, w := range want {
		if got := urls(t, e.svc, configuration.StatusApplied); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Fatalf("step %d: runtimes run %v, want %v", i+1, got, w)
		}
		// Another replica (or this one restarted) moves it on: the state is in the store.
		tick(t, e.replica())
	}
	ro, err := e.svc.RolloutOf(ctx, c.ID)
	if err != nil || ro == nil || ro.Phase != configuration.PhaseSucceeded || ro.Done != 3 || ro.FromRevision != 1 || ro.ToRevision != 2 {
		t.Fatalf("rollout after the last step: %+v, %v", ro, err)
	}

	t.Run("a failing canary rolls back and the others never get it", func(t *testing.T) {
		bad := forLabels(sel, httpBinding("log", "http://v3"))
		bad.Rollout = &configuration.Strategy{CanaryCount: 1, BatchSize: 1}
		if _, err := e.svc.Update(ctx, c.ID, bad); err != nil {
			t.Fatal(err)
		}
		if got := agentRun(t, e.svc, "t1", "rt-00", configuration.StatusFailed); got != "http://v3" {
			t.Fatalf("canary got %q", got)
		}
		tick(t, e.svc)
		ro, err := e.svc.RolloutOf(ctx, c.ID)
		if err != nil || ro.Phase != configuration.PhaseRolledBack || !strings.Contains(ro.Reason, "rt-00") || !strings.Contains(ro.Reason, "component log: failed") {
			t.Fatalf("rollout after a failed canary: %+v, %v", ro, err)
		}
		if got := urls(t, e.svc, configuration.StatusApplied); strings.Join(got, " ") != "http://v2 http://v2 http://v2" {
			t.Fatalf("after the rollback runtimes run %v, want the last good v2 everywhere", got)
		}
		if ro.Runtimes[0].State != configuration.RuntimeFailed || ro.Runtimes[1].AppliedRevision != 2 || ro.Runtimes[2].AppliedRevision != 2 {
			t.Fatalf("runtimes: %+v", ro.Runtimes)
		}
		// A fixed revision starts from the last good one, not from the one rolled back.
		fixed := forLabels(sel, httpBinding("log", "http://v4"))
		fixed.Rollout = &configuration.Strategy{CanaryCount: 1}
		if _, err := e.svc.Update(ctx, c.ID, fixed); err != nil {
			t.Fatal(err)
		}
		if ro, _ := e.svc.RolloutOf(ctx, c.ID); ro.FromRevision != 2 || ro.ToRevision != 4 || ro.Phase != configuration.PhaseProgressing {
			t.Logf("%+v", ro)
			t.Fatalf("next rollout %d → %d, want 2 → 4", ro.FromRevision, ro.ToRevision)
		}
	})

	t.Run("pause holds, resume goes on, abort returns", func(t *testing.T) {
		if _, err := e.svc.OperateRollout(ctx, c.ID, configuration.OpPause); err != nil {
			t.Fatal(err)
		}
		urls(t, e.svc, configuration.StatusApplied)
		tick(t, e.svc)
		if got := urls(t, e.svc, ""); strings.Join(got, " ") != "http://v4 http://v2 http://v2" {
			t.Fatalf("paused: %v", got)
		}
		if _, err := e.svc.OperateRollout(ctx, c.ID, configuration.OpResume); err != nil {
			t.Fatal(err)
		}
		tick(t, e.svc)
		if got := urls(t, e.svc, configuration.StatusApplied); strings.Join(got, " ") != "http://v4 http://v4 http://v4" {
			t.Fatalf("resumed: %v", got)
		}
		tick(t, e.svc)
		if _, err := e.svc.OperateRollout(ctx, c.ID, configuration.OpAbort); err == nil {
			t.Fatal("aborted a rollout that succeeded")
		}

		next := forLabels(sel, httpBinding("log", "http://v5"))
		next.Rollout = &configuration.Strategy{CanaryCount: 1}
		if _, err := e.svc.Update(ctx, c.ID, next); err != nil {
			t.Fatal(err)
		}
		urls(t, e.svc, configuration.StatusApplied)
		ro, err := e.svc.OperateRollout(ctx, c.ID, configuration.OpAbort)
		if err != nil || ro.Phase != configuration.PhaseAborted || !strings.Contains(ro.Reason, "alice") {
			t.Fatalf("abort: %+v, %v", ro, err)
		}
		if got := urls(t, e.svc, ""); strings.Join(got, " ") != "http://v4 http://v4 http://v4" {
			t.Fatalf("aborted: %v", got)
		}
	})

	if got := agentRun(t, e.svc, "t1", "rt-other", ""); got != "" {
		t.Fatalf("a runtime the selector does not match got %q", got)
	}
}

func TestRolloutCountsARuntimeThatStopsHeartbeating(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	for _, id := range []string{"rt-00", "rt-01", "rt-02"} {
		e.director.set("t1", id, map[string]any{"env": "prod"})
	}
	sel := map[string]string{"env": "prod"}
	c := mustCreate(t, ctx, e.svc, forLabels(sel, httpBinding("log", "http://v1")))
	urls(t, e.svc, configuration.StatusApplied)
	in := forLabels(sel, httpBinding("log", "http://v2"))
	in.Rollout = &configuration.Strategy{CanaryCount: 1, SoakSeconds: 3600, FailureBudget: 0}
	if _, err := e.svc.Update(ctx, c.ID, in); err != nil {
		t.Fatal(err)
	}
	urls(t, e.svc, configuration.StatusApplied) // the canary applies and soaks
	tick(t, e.svc)
	// A runtime outside the step going down is none of this step's business.
	down := configuration.RuntimeHealth{RuntimeID: "rt-02", Condition: "FAILED", Reason: "no heartbeat", Since: time.Now()}
	if err := e.svc.RecordRuntimeHealth(context.Background(), down); err != nil {
		t.Fatal(err)
	}
	tick(t, e.svc)
	if ro, _ := e.svc.RolloutOf(ctx, c.ID); ro.Phase != configuration.PhaseProgressing {
		t.Fatalf("rollout after a runtime of a later step failed: %+v", ro)
	}
	// An older event arriving late does not undo a newer one.
	down.RuntimeID = "rt-00"
	if err := e.svc.RecordRuntimeHealth(context.Background(), down); err != nil {
		t.Fatal(err)
	}
	stale := configuration.RuntimeHealth{RuntimeID: "rt-00", Condition: "CONNECTED", Since: down.Since.Add(-time.Minute)}
	if err := e.svc.RecordRuntimeHealth(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	tick(t, e.svc)
	ro, _ := e.svc.RolloutOf(ctx, c.ID)
	if ro.Phase != configuration.PhaseRolledBack || !strings.Contains(ro.Reason, "FAILED in the Director") || !strings.Contains(ro.Reason, "no heartbeat") {
		t.Fatalf("rollout after the canary stopped heartbeating while soaking: %+v", ro)
	}
}

func TestRolloutSettlesARuntimeWhoseLabelsChanged(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	for _, id := range []string{"rt-00", "rt-01", "rt-02"} {
		e.director.set("t1", id, map[string]any{"env": "prod"})
	}
	sel := map[string]string{"env": "prod"}
	c := mustCreate(t, ctx, e.svc, forLabels(sel, httpBinding("log", "http://v1")))
	urls(t, e.svc, configuration.StatusApplied)
	in := forLabels(sel, httpBinding("log", "http://v2"))
	in.Rollout = &configuration.Strategy{CanaryCount: 1, StepTimeoutSeconds: 1}
	if _, err := e.svc.Update(ctx, c.ID, in); err != nil {
		t.Fatal(err)
	}
	urls(t, e.svc, configuration.StatusApplied)
	tick(t, e.svc) // the canary passed: rt-01 and rt-02 released
	e.director.set("t1", "rt-02", map[string]any{"env": "dev"})
	if got := urls(t, e.svc, configuration.StatusApplied); strings.Join(got, " ") != "http://v2 http://v2 " {
		t.Fatalf("runtimes run %v", got)
	}
	time.Sleep(1100 * time.Millisecond) // past the step timeout
	tick(t, e.svc)
	ro, _ := e.svc.RolloutOf(ctx, c.ID)
	if ro.Phase != configuration.PhaseSucceeded || ro.Runtimes[2].State != configuration.RuntimeLeft || ro.Done != 2 || ro.FailedCount != 0 {
		t.Fatalf("rollout with a runtime that left: %+v", ro)
	}
}

func TestRolloutStrategyIsChecked(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	own := forRuntime("rt-1", httpBinding("log", "http://x"))
	own.Rollout = &configuration.Strategy{CanaryCount: 1}
	_, err := e.svc.Create(ctx, own)
	wantCode(t, err, "INVALID_INPUT")

	both := forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://x"))
	both.Rollout = &configuration.Strategy{CanaryCount: 1, CanaryPercent: 10, BatchPercent: 101}
	_, err = e.svc.Create(ctx, both)
	wantCode(t, err, "INVALID_INPUT")
	if !strings.Contains(err.Error(), "one of canaryCount") || !strings.Contains(err.Error(), "batchPercent") {
		t.Fatalf("not every problem named: %v", err)
	}
}
