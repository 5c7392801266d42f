package configuration_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
)

func runtimesNamed(n int, labels func(i int) map[string]any) []configuration.PlannedRuntime {
	var out []configuration.PlannedRuntime
	for i := n - 1; i >= 0; i-- { // reversed: the plan sorts by id
		var l map[string]any
		if labels != nil {
			l = labels(i)
		}
		out = append(out, configuration.PlannedRuntime{ID: fmt.Sprintf("rt-%02d", i), Labels: l})
	}
	return out
}

func TestPlanSteps(t *testing.T) {
	ids := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, fmt.Sprintf("rt-%02d", i))
		}
		return out
	}
	canaryOn := func(i int) map[string]any {
		if i == 3 || i == 4 {
			return map[string]any{"ring": []any{"canary"}}
		}
		return map[string]any{}
	}
	tests := []struct {
		name   string
		n      int
		labels func(int) map[string]any
		st     configuration.Strategy
		want   [][]string
	}{
		{"no canary, no batches: one step", 3, nil, configuration.Strategy{}, [][]string{ids(0, 1, 2)}},
		{"canary of one, batches of two", 5, nil, configuration.Strategy{CanaryCount: 1, BatchSize: 2},
			[][]string{ids(0), ids(1, 2), ids(3, 4)}},
		{"canary percent rounds up", 5, nil, configuration.Strategy{CanaryPercent: 10, BatchPercent: 50},
			[][]string{ids(0), ids(1, 2, 3), ids(4)}},
		{"canary by label, then the rest", 5, canaryOn, configuration.Strategy{CanaryLabel: &configuration.LabelMatch{Key: "ring", Value: "canary"}, BatchSize: 2},
			[][]string{ids(3, 4), ids(0, 1), ids(2)}},
		{"canary larger than the fleet", 2, nil, configuration.Strategy{CanaryCount: 5, BatchSize: 1}, [][]string{ids(0, 1)}},
		{"no runtimes, no steps", 0, nil, configuration.Strategy{CanaryCount: 1}, nil},
		{"label canary nobody has", 2, nil, configuration.Strategy{CanaryLabel: &configuration.LabelMatch{Key: "ring", Value: "canary"}},
			[][]string{ids(0, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := configuration.PlanSteps(runtimesNamed(tt.n, tt.labels), tt.st); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("steps %v, want %v", got, tt.want)
			}
		})
	}
}

// threeSteps is a rollout of revision 2 over rt-00 | rt-01 rt-02 | rt-03, started at t0.
func threeSteps(st configuration.Strategy, t0 time.Time) *configuration.Rollout {
	return &configuration.Rollout{FromRevision: 1, ToRevision: 2, Strategy: st, Phase: configuration.PhaseProgressing,
		Steps: [][]string{{"rt-00"}, {"rt-01", "rt-02"}, {"rt-03"}}, StepStartedAt: t0, StartedAt: t0}
}

func applied(ids ...string) map[string]configuration.Observation {
	out := map[string]configuration.Observation{}
	for _, id := range ids {
		out[id] = configuration.Observation{Applied: true}
	}
	return out
}

func TestRolloutAdvances(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := threeSteps(configuration.Strategy{SoakSeconds: 10}, t0)

	steps := []struct {
		name    string
		obs     map[string]configuration.Observation
		at      time.Duration
		changed bool
		step    int
		phase   string
	}{
		{"canary not applied yet", nil, time.Second, false, 0, configuration.PhaseProgressing},
		{"canary applied: soaking starts", applied("rt-00"), 2 * time.Second, true, 0, configuration.PhaseProgressing},
		{"still soaking", applied("rt-00"), 11 * time.Second, false, 0, configuration.PhaseProgressing},
		{"soaked: next batch released", applied("rt-00"), 12 * time.Second, true, 1, configuration.PhaseProgressing},
		{"half the batch applied", applied("rt-00", "rt-01"), 13 * time.Second, false, 1, configuration.PhaseProgressing},
		{"batch applied", applied("rt-00", "rt-01", "rt-02"), 14 * time.Second, true, 1, configuration.PhaseProgressing},
		{"batch soaked", applied("rt-00", "rt-01", "rt-02"), 24 * time.Second, true, 2, configuration.PhaseProgressing},
		{"last applied", applied("rt-03"), 25 * time.Second, true, 2, configuration.PhaseProgressing},
		{"last soaked: done", applied("rt-03"), 35 * time.Second, true, 2, configuration.PhaseSucceeded},
		{"done stays done", nil, 99 * time.Second, false, 2, configuration.PhaseSucceeded},
	}
	for _, s := range steps {
		changed := r.Advance(s.obs, t0.Add(s.at))
		if changed != s.changed || r.Step != s.step || r.Phase != s.phase {
			t.Fatalf("%s: changed %v step %d phase %s, want %v %d %s", s.name, changed, r.Step, r.Phase, s.changed, s.step, s.phase)
		}
	}
	for id, want := range map[string]int{"rt-00": 2, "rt-03": 2, "rt-99": 2} {
		if got := r.RevisionFor(id); got != want {
			t.Errorf("after success %s runs %d, want %d", id, got, want)
		}
	}
}

func TestRolloutRevisionForReleasedRuntimesOnly(t *testing.T) {
	t0 := time.Now()
	r := threeSteps(configuration.Strategy{}, t0)
	r.Step = 1
	want := map[string]int{"rt-00": 2, "rt-01": 2, "rt-02": 2, "rt-03": 1, "not-planned": 1}
	for id, rev := range want {
		if got := r.RevisionFor(id); got != rev {
			t.Errorf("%s: revision %d, want %d", id, got, rev)
		}
	}
}

func TestRolloutRollsBack(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		st     configuration.Strategy
		step   int
		obs    map[string]configuration.Observation
		at     time.Duration
		phase  string
		reason string
	}{
		{"a failed canary", configuration.Strategy{}, 0,
			map[string]configuration.Observation{"rt-00": {Failed: true, Reason: "component archive: cannot init"}}, time.Second,
			configuration.PhaseRolledBack, "step 1 of 3: 1 runtime(s) failed, budget 0: rt-00: component archive: cannot init"},
		{"one failure within a budget of one", configuration.Strategy{FailureBudget: 1}, 1,
			map[string]configuration.Observation{"rt-01": {Failed: true, Reason: "x"}, "rt-02": {Applied: true}}, time.Second,
			configuration.PhaseProgressing, ""},
		{"two failures over a budget of one", configuration.Strategy{FailureBudget: 1}, 1,
			map[string]configuration.Observation{"rt-01": {Failed: true, Reason: "x"}, "rt-02": {Failed: true, Reason: "y"}}, time.Second,
			configuration.PhaseRolledBack, "step 2 of 3: 2 runtime(s) failed, budget 1: rt-01: x; rt-02: y"},
		{"silent past the step timeout", configuration.Strategy{StepTimeoutSeconds: 30}, 0, nil, 30 * time.Second,
			configuration.PhaseRolledBack, "rt-00: did not apply revision 2 within 30s"},
		{"silent within the step timeout", configuration.Strategy{StepTimeoutSeconds: 30}, 0, nil, 29 * time.Second,
			configuration.PhaseProgressing, ""},
		{"a runtime that left is no failure, even past the timeout", configuration.Strategy{StepTimeoutSeconds: 30}, 1,
			map[string]configuration.Observation{"rt-01": {Left: true}, "rt-02": {Applied: true}}, time.Hour,
			configuration.PhaseProgressing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := threeSteps(tt.st, t0)
			r.Step = tt.step
			r.Advance(tt.obs, t0.Add(tt.at))
			if r.Phase != tt.phase || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("phase %s reason %q, want %s %q", r.Phase, r.Reason, tt.phase, tt.reason)
			}
			if r.Phase == configuration.PhaseRolledBack {
				for _, id := range []string{"rt-00", "rt-01", "rt-03"} {
					if got := r.RevisionFor(id); got != 1 {
						t.Errorf("after rollback %s runs %d, want the last good 1", id, got)
					}
				}
			}
		})
	}
}

func TestRolloutOperations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		ops     []string
		phase   string
		refused bool
		revs    map[string]int
	}{
		{"pause holds", []string{configuration.OpPause}, configuration.PhasePaused, false, map[string]int{"rt-00": 2, "rt-03": 1}},
		{"resume goes on", []string{configuration.OpPause, configuration.OpResume}, configuration.PhaseProgressing, false, map[string]int{"rt-00": 2, "rt-01": 1}},
		{"promote releases everyone", []string{configuration.OpPromote}, configuration.PhaseSucceeded, false, map[string]int{"rt-00": 2, "rt-03": 2}},
		{"abort returns everyone", []string{configuration.OpPause, configuration.OpAbort}, configuration.PhaseAborted, false, map[string]int{"rt-00": 1, "rt-03": 1}},
		{"resume a running one", []string{configuration.OpResume}, configuration.PhaseProgressing, true, nil},
		{"pause an aborted one", []string{configuration.OpAbort, configuration.OpPause}, configuration.PhaseAborted, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := threeSteps(configuration.Strategy{}, t0)
			var err error
			for _, op := range tt.ops {
				if err = r.Apply(op, "alice", t0.Add(time.Second)); err != nil {
					break
				}
			}
			var na configuration.ErrNotAllowed
			if tt.refused != errors.As(err, &na) || r.Phase != tt.phase {
				t.Fatalf("err %v phase %s, want refused %v phase %s", err, r.Phase, tt.refused, tt.phase)
			}
			for id, rev := range tt.revs {
				if got := r.RevisionFor(id); got != rev {
					t.Errorf("%s runs %d, want %d", id, got, rev)
				}
			}
		})
	}
	r := threeSteps(configuration.Strategy{}, t0)
	_ = r.Apply(configuration.OpPause, "alice", t0)
	if r.Advance(applied("rt-00"), t0.Add(time.Hour)) {
		t.Fatal("a paused rollout moved on")
	}
}
