package configuration

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// A staged rollout releases a new revision of a label-selector configuration to the runtimes it aims at
// a step at a time: a first group (the canary), then the rest in batches. A step is done when each of its
// runtimes reported APPLIED for the new revision and none failed beyond the step's budget for the soak
// time; then the next step is released. Runtimes not released yet keep the last good revision. A step
// that fails beyond its budget rolls the rollout back: every runtime returns to the last good revision.
//
// This file is the state machine alone, without storage, so that it can be tested as plain values; the
// service (rollouts.go) stores a Rollout inside its configuration and feeds it what the agents reported.

// Strategy is how a label-selector configuration's changes are rolled out. It is part of the revision.
type Strategy struct {
	// The first step: CanaryCount runtimes, CanaryPercent of them (rounded up), or those having
	// CanaryLabel. At most one is set; none means the first step is a batch like the others.
	CanaryCount   int         `json:"canaryCount,omitempty"`
	CanaryPercent int         `json:"canaryPercent,omitempty"`
	CanaryLabel   *LabelMatch `json:"canaryLabel,omitempty"`
	// The steps after the first: BatchSize runtimes or BatchPercent of all runtimes (rounded up) each;
	// neither means all the rest in one step.
	BatchSize    int `json:"batchSize,omitempty"`
	BatchPercent int `json:"batchPercent,omitempty"`
	// SoakSeconds is how long a step's runtimes must stay healthy after all applied it.
	SoakSeconds int `json:"soakSeconds"`
	// FailureBudget is how many runtimes of a step may fail without rolling back.
	FailureBudget int `json:"failureBudget"`
	// StepTimeoutSeconds is how long a released runtime has to report APPLIED; later, it counts as failed.
	StepTimeoutSeconds int `json:"stepTimeoutSeconds"`
}

// DefaultStepTimeout is a strategy's step timeout when none is given.
const DefaultStepTimeout = 10 * time.Minute

const (
	maxSoak        = 24 * time.Hour
	maxStepTimeout = 24 * time.Hour
)

func (st Strategy) soak() time.Duration { return time.Duration(st.SoakSeconds) * time.Second }

func (st Strategy) stepTimeout() time.Duration {
	if st.StepTimeoutSeconds <= 0 {
		return DefaultStepTimeout
	}
	return time.Duration(st.StepTimeoutSeconds) * time.Second
}

// check adds what is wrong with the strategy to p.
func (st Strategy) check(p *problems) {
	canaries := 0
	if st.CanaryCount != 0 {
		canaries++
	}
	if st.CanaryPercent != 0 {
		canaries++
	}
	if st.CanaryLabel != nil {
		canaries++
	}
	switch {
	case canaries > 1:
		p.add("rollout: give one of canaryCount, canaryPercent, canaryLabel")
	case st.CanaryCount < 0:
		p.add("rollout: canaryCount must not be negative")
	case st.CanaryPercent < 0 || st.CanaryPercent > 100:
		p.add("rollout: canaryPercent must be between 1 and 100")
	case st.CanaryLabel != nil && st.CanaryLabel.Key == "":
		p.add("rollout: canaryLabel needs a key")
	}
	switch {
	case st.BatchSize != 0 && st.BatchPercent != 0:
		p.add("rollout: give batchSize or batchPercent, not both")
	case st.BatchSize < 0:
		p.add("rollout: batchSize must not be negative")
	case st.BatchPercent < 0 || st.BatchPercent > 100:
		p.add("rollout: batchPercent must be between 1 and 100")
	}
	if st.SoakSeconds < 0 || st.soak() > maxSoak {
		p.add("rollout: soakSeconds must be between 0 and %d", int(maxSoak/time.Second))
	}
	if st.FailureBudget < 0 {
		p.add("rollout: failureBudget must not be negative")
	}
	if st.StepTimeoutSeconds < 0 || time.Duration(st.StepTimeoutSeconds)*time.Second > maxStepTimeout {
		p.add("rollout: stepTimeoutSeconds must be between 0 (the default, %s) and %d", DefaultStepTimeout, int(maxStepTimeout/time.Second))
	}
}

// PlannedRuntime is a runtime a rollout is planned over, with its Director labels.
type PlannedRuntime struct {
	ID     string
	Labels map[string]any
}

// PlanSteps splits runtimes into the steps of st. The order is by runtime id, so that a plan made twice
// over the same runtimes is the same plan. Every runtime is in exactly one step; no step is empty.
func PlanSteps(runtimes []PlannedRuntime, st Strategy) [][]string {
	rts := slices.Clone(runtimes)
	sort.Slice(rts, func(i, j int) bool { return rts[i].ID < rts[j].ID })
	var steps [][]string
	var rest []string
	n := len(rts)
	switch {
	case st.CanaryLabel != nil:
		var canary []string
		for _, r := range rts {
			if labelHas(r.Labels[st.CanaryLabel.Key], st.CanaryLabel.Value) {
				canary = append(canary, r.ID)
			} else {
				rest = append(rest, r.ID)
			}
		}
		if len(canary) > 0 {
			steps = append(steps, canary)
		}
	case st.CanaryCount > 0 || st.CanaryPercent > 0:
		size := st.CanaryCount
		if st.CanaryPercent > 0 {
			size = percentOf(n, st.CanaryPercent)
		}
		size = min(size, n)
		for _, r := range rts {
			rest = append(rest, r.ID)
		}
		if size > 0 {
			steps = append(steps, rest[:size])
			rest = rest[size:]
		}
	default:
		for _, r := range rts {
			rest = append(rest, r.ID)
		}
	}
	batch := len(rest)
	switch {
	case st.BatchSize > 0:
		batch = st.BatchSize
	case st.BatchPercent > 0:
		batch = percentOf(n, st.BatchPercent)
	}
	for len(rest) > 0 {
		k := min(max(batch, 1), len(rest))
		steps = append(steps, slices.Clone(rest[:k]))
		rest = rest[k:]
	}
	return steps
}

// percentOf is pct percent of n rounded up: a percentage of a small fleet still names someone.
func percentOf(n, pct int) int { return int(math.Ceil(float64(n) * float64(pct) / 100)) }

// Phases of a rollout.
const (
	PhaseProgressing = "PROGRESSING"
	PhasePaused      = "PAUSED"
	PhaseSucceeded   = "SUCCEEDED"
	PhaseRolledBack  = "ROLLED_BACK"
	PhaseAborted     = "ABORTED"
)

// Rollout is the state of the staged rollout of one revision of a configuration.
type Rollout struct {
	// FromRevision is the last good revision: what runtimes not released yet run, and what all return to
	// after a rollback or an abort. 0 means none (the configuration is new): they get nothing from it.
	FromRevision int `json:"fromRevision"`
	// ToRevision is the revision being rolled out: the configuration's latest.
	ToRevision int      `json:"toRevision"`
	Strategy   Strategy `json:"strategy"`
	Phase      string   `json:"phase"`
	// Reason says why the rollout paused, rolled back, was aborted or promoted.
	Reason string `json:"reason,omitempty"`
	// Steps are the runtime ids of each step, planned when the revision was made.
	Steps [][]string `json:"steps"`
	// Step is the index of the step released last; runtimes of steps up to it have ToRevision.
	Step          int       `json:"step"`
	StepStartedAt time.Time `json:"stepStartedAt"`
	// SoakingSince is when every runtime of the step had applied (or failed within the budget); zero
	// before.
	SoakingSince time.Time `json:"soakingSince,omitzero"`
	// Failed are the runtimes that failed the new revision, with why, for every step so far.
	Failed    map[string]string `json:"failed,omitempty"`
	StartedAt time.Time         `json:"startedAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
	// Version counts the rollout's changes, so that a writer can tell it still holds the latest.
	Version int `json:"version"`
}

// newRollout starts rolling revision to out over steps; with no runtimes to reach, it is done at once.
func newRollout(from, to int, st Strategy, steps [][]string, now time.Time) *Rollout {
	r := &Rollout{FromRevision: from, ToRevision: to, Strategy: st, Phase: PhaseProgressing, Steps: steps,
		StepStartedAt: now, StartedAt: now, UpdatedAt: now}
	if len(steps) == 0 {
		r.Phase, r.Reason = PhaseSucceeded, "no runtime matched"
	}
	return r
}

// Active reports whether the rollout still holds runtimes back.
func (r *Rollout) Active() bool {
	return r != nil && (r.Phase == PhaseProgressing || r.Phase == PhasePaused)
}

// StepOf returns the index of the step runtimeID is in, or -1 when the plan does not name it.
func (r *Rollout) StepOf(runtimeID string) int {
	for i, s := range r.Steps {
		if slices.Contains(s, runtimeID) {
			return i
		}
	}
	return -1
}

// RevisionFor returns the revision of the configuration that runtimeID is to run: ToRevision once its
// step was released (or the rollout succeeded), FromRevision otherwise. A runtime the plan does not name
// (its labels changed since) waits for the rollout to end.
func (r *Rollout) RevisionFor(runtimeID string) int {
	switch r.Phase {
	case PhaseSucceeded:
		return r.ToRevision
	case PhaseRolledBack, PhaseAborted:
		return r.FromRevision
	}
	if i := r.StepOf(runtimeID); i >= 0 && i <= r.Step {
		return r.ToRevision
	}
	return r.FromRevision
}

// Observation is what is known of a released runtime: whether it applied ToRevision, or failed it and why,
// or left (the configuration no longer aims at it: its labels changed), which settles it either way.
type Observation struct {
	Applied bool
	Failed  bool
	Left    bool
	Reason  string
}

// Advance moves a progressing rollout on from what its current step's runtimes show at now: a step whose
// failures exceed the budget rolls back; a step all of whose runtimes are settled (applied, or failed
// within the budget) starts soaking, and once soaked releases the next step or ends the rollout. It
// returns whether anything changed.
func (r *Rollout) Advance(obs map[string]Observation, now time.Time) bool {
	if r.Phase != PhaseProgressing || r.Step >= len(r.Steps) {
		return false
	}
	changed := false
	timedOut := now.Sub(r.StepStartedAt) >= r.Strategy.stepTimeout()
	settled := 0
	for _, id := range r.Steps[r.Step] {
		o := obs[id]
		switch {
		case o.Failed:
			changed = r.fail(id, o.Reason) || changed
		case !o.Applied && !o.Left && timedOut:
			changed = r.fail(id, fmt.Sprintf("did not apply revision %d within %s", r.ToRevision, r.Strategy.stepTimeout())) || changed
		}
		if o.Applied || o.Left || r.Failed[id] != "" {
			settled++
		}
	}
	if failed := r.failedIn(r.Step); failed > r.Strategy.FailureBudget {
		r.Phase = PhaseRolledBack
		r.Reason = fmt.Sprintf("step %d of %d: %d runtime(s) failed, budget %d: %s", r.Step+1, len(r.Steps), failed,
			r.Strategy.FailureBudget, r.failureSummary(r.Step))
		return r.touch(now)
	}
	if settled < len(r.Steps[r.Step]) {
		if changed {
			return r.touch(now)
		}
		return false
	}
	if r.SoakingSince.IsZero() {
		r.SoakingSince = now
		changed = true
	}
	if now.Sub(r.SoakingSince) < r.Strategy.soak() {
		if changed {
			return r.touch(now)
		}
		return false
	}
	r.SoakingSince = time.Time{}
	if r.Step+1 >= len(r.Steps) {
		r.Phase, r.Reason = PhaseSucceeded, ""
		return r.touch(now)
	}
	r.Step++
	r.StepStartedAt = now
	return r.touch(now)
}

func (r *Rollout) fail(id, reason string) bool {
	if r.Failed[id] != "" {
		return false
	}
	if r.Failed == nil {
		r.Failed = map[string]string{}
	}
	if reason == "" {
		reason = "failed"
	}
	r.Failed[id] = reason
	return true
}

func (r *Rollout) failedIn(step int) int {
	n := 0
	for _, id := range r.Steps[step] {
		if r.Failed[id] != "" {
			n++
		}
	}
	return n
}

// failureSummary names the failed runtimes of step with their reasons, shortened for the record.
func (r *Rollout) failureSummary(step int) string {
	var parts []string
	for _, id := range r.Steps[step] {
		if why := r.Failed[id]; why != "" {
			if len(why) > 300 {
				why = why[:300] + "..."
			}
			parts = append(parts, id+": "+why)
		}
	}
	return strings.Join(parts, "; ")
}

func (r *Rollout) touch(now time.Time) bool {
	r.UpdatedAt = now
	r.Version++
	return true
}

// Operations on a rollout by hand.
const (
	OpPause   = "pause"
	OpResume  = "resume"
	OpPromote = "promote"
	OpAbort   = "abort"
)

// ErrNotAllowed is returned for an operation the rollout's phase does not allow.
type ErrNotAllowed struct{ Op, Phase string }

func (e ErrNotAllowed) Error() string {
	return fmt.Sprintf("cannot %s a rollout that is %s", e.Op, e.Phase)
}

// Apply performs op, by who, at now. Pause holds the rollout where it is (released runtimes keep the new
// revision, the others the old one); resume goes on from there, the current step's wait starting again;
// promote releases every remaining runtime at once and ends the rollout; abort returns every runtime to
// the last good revision.
func (r *Rollout) Apply(op, who string, now time.Time) error {
	by := ""
	if who != "" {
		by = " by " + who
	}
	switch {
	case op == OpPause && r.Phase == PhaseProgressing:
		r.Phase, r.Reason = PhasePaused, "paused"+by
	case op == OpResume && r.Phase == PhasePaused:
		r.Phase, r.Reason = PhaseProgressing, ""
		r.StepStartedAt, r.SoakingSince = now, time.Time{}
	case op == OpPromote && r.Active():
		r.Phase, r.Reason = PhaseSucceeded, "promoted"+by
		r.Step = max(len(r.Steps)-1, 0)
	case op == OpAbort && r.Active():
		r.Phase, r.Reason = PhaseAborted, "aborted"+by
	default:
		return ErrNotAllowed{Op: op, Phase: r.Phase}
	}
	r.touch(now)
	return nil
}

// clone returns a deep copy of r.
func (r *Rollout) clone() *Rollout {
	if r == nil {
		return nil
	}
	out := *r
	out.Steps = make([][]string, len(r.Steps))
	for i, s := range r.Steps {
		out.Steps[i] = slices.Clone(s)
	}
	if r.Failed != nil {
		out.Failed = make(map[string]string, len(r.Failed))
		for k, v := range r.Failed {
			out.Failed[k] = v
		}
	}
	if r.Strategy.CanaryLabel != nil {
		l := *r.Strategy.CanaryLabel
		out.Strategy.CanaryLabel = &l
	}
	return &out
}
