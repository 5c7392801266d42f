package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const rolloutTenant = "tenant-rollout"

// rolloutRuntime is a local runtime (demo workload, its own daprd, its agent) labelled into a rollout
// group.
type rolloutRuntime struct {
	name, id, resources string
}

// archive returns the rootPath of the binding "archive" the agent wrote into the runtime ("" when none).
func (r *rolloutRuntime) archive() string {
	files, _ := filepath.Glob(filepath.Join(r.resources, "*binding-archive.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "value:") && strings.Contains(line, "/") {
				return strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "value:")), `"'`)
			}
		}
	}
	return ""
}

func archiveBinding(root string) map[string]any {
	return map[string]any{"name": "archive", "type": "bindings.localstorage",
		"metadata": []map[string]any{{"name": "rootPath", "value": root}}}
}

type rolloutView struct {
	Rollout *struct {
		FromRevision, ToRevision, Step, Steps int
		Phase                                 string
		Reason                                *string
		Done, Failed, Pending                 int
		Runtimes                              []struct {
			RuntimeID       string
			Step            int
			DesiredRevision int
			AppliedRevision *int
			State           string
			Reason          *string
		}
	}
}

const rolloutQuery = `query($id: ID!) { rollout(configurationID: $id) {
  fromRevision toRevision step steps phase reason done failed pending
  runtimes { runtimeID step desiredRevision appliedRevision state reason } } }`

func rolloutOf(t *testing.T, configID string) rolloutView {
	t.Helper()
	var v rolloutView
	ok(t, governor(t, rolloutTenant, rolloutQuery, map[string]any{"id": configID}), &v)
	return v
}

// TestGovernorRolloutInSteps changes a label-selector configuration over three real runtimes: a canary
// of one, then batches of one, each released after the last applied and soaked; a change the canary
// cannot load is rolled back before anyone else gets it; pause holds, resume goes on, abort returns.
func TestGovernorRolloutInSteps(t *testing.T) {
	group := fmt.Sprintf("g%d", time.Now().UnixNano())
	var rts []*rolloutRuntime
	for i := range 3 {
		name := fmt.Sprintf("rollout-%d", i)
		var reg struct{ RegisterRuntime struct{ ID string } }
		ok(t, gql(t, rolloutTenant, `mutation($n: String!, $l: Labels) { registerRuntime(in: {name: $n, labels: $l}) { id } }`,
			map[string]any{"n": name, "l": map[string]any{"rolloutGroup": group}}), &reg)
		r := &rolloutRuntime{name: name, id: reg.RegisterRuntime.ID}
		r.resources = startRuntimeProcesses(t, rolloutTenant, name, r.id, "demo-"+name)
		rts = append(rts, r)
	}
	byID := map[string]*rolloutRuntime{}
	for _, r := range rts {
		byID[r.id] = r
	}
	v1, v2, v3 := t.TempDir(), t.TempDir(), t.TempDir()
	selector := []map[string]any{{"key": "rolloutGroup", "value": group}}

	// Without a strategy the configuration reaches every runtime at once, as before.
	var created struct{ CreateConfiguration struct{ ID string } }
	ok(t, governor(t, rolloutTenant, createConfiguration, map[string]any{"in": map[string]any{
		"labelSelector": selector, "bindings": []any{archiveBinding(v1)}}}), &created)
	configID := created.CreateConfiguration.ID
	waitArchives(t, rts, v1, 90*time.Second)
	if v := rolloutOf(t, configID); v.Rollout != nil {
		t.Fatalf("a change without a strategy has a rollout: %+v", v.Rollout)
	}

	update := func(t *testing.T, root string, strategy map[string]any) {
		t.Helper()
		ok(t, governor(t, rolloutTenant, `mutation($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { revision } }`,
			map[string]any{"id": configID, "in": map[string]any{"labelSelector": selector, "bindings": []any{archiveBinding(root)}, "rollout": strategy}}), nil)
	}

	t.Run("a canary of one, then batches, in order", func(t *testing.T) {
		const soak = 2 * time.Second
		start := time.Now()
		update(t, v2, map[string]any{"canaryCount": 1, "batchSize": 1, "soakSeconds": int(soak / time.Second), "stepTimeoutSeconds": 60})
		reached := map[string]time.Time{}
		var last rolloutView
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			for _, r := range rts {
				if _, seen := reached[r.id]; !seen && r.archive() == v2 {
					reached[r.id] = time.Now()
				}
			}
			last = rolloutOf(t, configID)
			if last.Rollout != nil && last.Rollout.Phase == "SUCCEEDED" && len(reached) == len(rts) {
				break
			}
			if time.Now().After(deadline) || last.Rollout == nil || last.Rollout.Phase != "PROGRESSING" {
				t.Fatalf("rollout after %s: %+v; reached %v", time.Since(start), last.Rollout, reached)
			}
		}
		ro := last.Rollout
		if ro.Steps != 3 || ro.Done != 3 || ro.Failed != 0 || ro.Pending != 0 {
			t.Fatalf("finished rollout: %+v", ro)
		}
		// The plan's order is the order the runtimes got it, a soak apart.
		var plan []string
		for _, r := range ro.Runtimes {
			plan = append(plan, r.RuntimeID)
			if r.State != "APPLIED" || r.AppliedRevision == nil || *r.AppliedRevision != ro.ToRevision {
				t.Errorf("runtime %s: %+v", r.RuntimeID, r)
			}
		}
		order := slices.Clone(plan)
		slices.SortFunc(order, func(a, b string) int { return reached[a].Compare(reached[b]) })
		if !slices.Equal(order, plan) {
			t.Fatalf("runtimes reached in order %v, plan %v", order, plan)
		}
		for i := 1; i < len(plan); i++ {
			gap := reached[plan[i]].Sub(reached[plan[i-1]])
			t.Logf("step %d reached %s after step %d", i+1, gap.Round(time.Millisecond), i)
			if gap < soak-200*time.Millisecond {
				t.Errorf("step %d came %s after the previous one, before its soak of %s", i+1, gap, soak)
			}
		}
		t.Logf("3-step rollout over 3 runtimes (soak %s): %s", soak, time.Since(start).Round(time.Millisecond))
		if !streamGets(t, "configuration.rollout", configID, 15*time.Second) {
			t.Fatal("no configuration.rollout event on the broker")
		}
	})

	t.Run("a binding the canary cannot load is rolled back before anyone else gets it", func(t *testing.T) {
		// Valid for the Governor, not for Dapr: the folder cannot be created, the agent reports FAILED.
		const broken = "/proc/mgmtplane/archive"
		update(t, broken, map[string]any{"canaryCount": 1, "batchSize": 1, "soakSeconds": 1, "stepTimeoutSeconds": 60})
		var last rolloutView
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			last = rolloutOf(t, configID)
			if last.Rollout == nil {
				t.Fatal("no rollout")
			}
			for _, r := range last.Rollout.Runtimes[1:] {
				if got := byID[r.RuntimeID].archive(); got == broken {
					t.Fatalf("runtime %s outside the canary got the broken revision", r.RuntimeID)
				}
			}
			if last.Rollout.Phase == "ROLLED_BACK" {
				break
			}
			if time.Now().After(deadline) || last.Rollout.Phase != "PROGRESSING" {
				t.Fatalf("rollout of a broken binding: %+v", last.Rollout)
			}
		}
		ro := last.Rollout
		canary := ro.Runtimes[0].RuntimeID
		if ro.Reason == nil || !strings.Contains(*ro.Reason, canary) || !strings.Contains(*ro.Reason, "FAILED") || ro.Step != 1 {
			t.Fatalf("rolled back at step %d, why: %v", ro.Step, deref(ro.Reason))
		}
		if ro.Runtimes[0].State != "FAILED" || ro.Runtimes[0].DesiredRevision != ro.FromRevision {
			t.Fatalf("canary: %+v", ro.Runtimes[0])
		}
		t.Logf("rolled back: %s", *ro.Reason)
		// The canary returns to the last good revision; the others never left it.
		waitArchives(t, rts, v2, 30*time.Second)
	})

	t.Run("pause holds, resume goes on, abort returns", func(t *testing.T) {
		update(t, v3, map[string]any{"canaryCount": 1, "batchSize": 1, "soakSeconds": 3, "stepTimeoutSeconds": 60})
		op := func(name, wantPhase string) {
			t.Helper()
			var out map[string]struct{ Phase string }
			ok(t, governor(t, rolloutTenant, fmt.Sprintf(`mutation($id: ID!) { %s(configurationID: $id) { phase } }`, name),
				map[string]any{"id": configID}), &out)
			if out[name].Phase != wantPhase {
				t.Fatalf("%s: phase %s, want %s", name, out[name].Phase, wantPhase)
			}
		}
		op("pauseRollout", "PAUSED")
		plan := rolloutOf(t, configID).Rollout.Runtimes
		first, second, third := byID[plan[0].RuntimeID], byID[plan[1].RuntimeID], byID[plan[2].RuntimeID]
		// The canary was released when the revision was made; pausing holds the others back.
		waitArchives(t, []*rolloutRuntime{first}, v3, 30*time.Second)
		time.Sleep(4 * time.Second) // longer than the soak
		if got := rolloutOf(t, configID).Rollout; got.Phase != "PAUSED" || second.archive() != v2 || third.archive() != v2 {
			t.Fatalf("paused rollout moved on: %+v", got)
		}
		r := governor(t, rolloutTenant, `mutation($id: ID!) { pauseRollout(configurationID: $id) { phase } }`, map[string]any{"id": configID})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "CONFLICT" {
			t.Fatalf("pausing a paused rollout: %s", r.Raw)
		}

		// The rollout is in the Governor's store, not its memory: a Governor killed and started again
		// holds it where it was and resumes it.
		if err := stack.Kill("governor"); err != nil {
			t.Fatal(err)
		}
		if err := stack.Respawn("governor"); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			var v rolloutView
			r := governor(t, rolloutTenant, rolloutQuery, map[string]any{"id": configID})
			if len(r.Errors) == 0 && r.Decode(&v) == nil && v.Rollout != nil {
				if v.Rollout.Phase != "PAUSED" || v.Rollout.Step != 1 {
					t.Fatalf("after a restart: %+v", v.Rollout)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Governor did not come back: %s", r.Raw)
			}
		}
		op("resumeRollout", "PROGRESSING")
		waitArchives(t, []*rolloutRuntime{second}, v3, 30*time.Second)
		op("abortRollout", "ABORTED")
		waitArchives(t, rts, v2, 30*time.Second)
		ro := rolloutOf(t, configID).Rollout
		if ro.Phase != "ABORTED" || ro.Reason == nil || !strings.Contains(*ro.Reason, "aborted") {
			t.Fatalf("aborted rollout: %+v", ro)
		}
		if third.archive() != v2 {
			t.Fatal("the last step got the revision of an aborted rollout")
		}
	})

	// Last: it leaves the canary without its agent.
	t.Run("a canary that stops heartbeating while soaking rolls the rollout back", func(t *testing.T) {
		v4 := t.TempDir()
		update(t, v4, map[string]any{"canaryCount": 1, "batchSize": 1, "soakSeconds": 600, "stepTimeoutSeconds": 60})
		plan := rolloutOf(t, configID).Rollout.Runtimes
		canary := byID[plan[0].RuntimeID]
		waitArchives(t, []*rolloutRuntime{canary}, v4, 30*time.Second)
		stopped := time.Now()
		if err := stack.Kill("agent-" + canary.name); err != nil {
			t.Fatal(err)
		}
		// The Director turns a runtime FAILED 30 s after its last heartbeat, on a health round (5 s).
		var ro rolloutView
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			ro = rolloutOf(t, configID)
			if ro.Rollout.Phase != "PROGRESSING" || time.Now().After(deadline) {
				break
			}
		}
		if ro.Rollout.Phase != "ROLLED_BACK" || ro.Rollout.Reason == nil || !strings.Contains(*ro.Rollout.Reason, "FAILED in the Director") {
			t.Fatalf("rollout after the canary stopped heartbeating: %+v (%s)", ro.Rollout, deref(ro.Rollout.Reason))
		}
		t.Logf("rolled back %s after the agent stopped: %s", time.Since(stopped).Round(time.Second), *ro.Rollout.Reason)
		for _, r := range rts {
			if r != canary && r.archive() != v2 {
				t.Errorf("runtime %s left the last good revision: %q", r.name, r.archive())
			}
		}
	})
}

// waitArchives waits until every runtime runs the archive binding at root.
func waitArchives(t *testing.T, rts []*rolloutRuntime, root string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var behind []string
		for _, r := range rts {
			if got := r.archive(); got != root {
				behind = append(behind, fmt.Sprintf("%s has %q", r.name, got))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive binding %s not everywhere within %s: %v", root, timeout, behind)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
