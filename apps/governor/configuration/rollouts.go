package configuration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// How rollouts are kept: the Rollout lives inside its configuration's stored entity, so that a revision
// and the start of its rollout are one transaction, and every step is an ETag-checked write of that
// entity carrying its configuration.rollout event (outbox). A configuration whose rollout is active is
// in the index "rolling" of its tenant; the tenants that ever had a rollout are listed globally
// (kindRolloutTenant), so that a periodic pass (Tick) finds every active rollout without a caller.

// TopicRollout announces every change of a rollout: started, a step released, paused, resumed,
// promoted, succeeded, rolled back, aborted.
const TopicRollout = "configuration.rollout"

const kindRolloutTenant = "rollouttenant"

// RolloutEvent is the data of a configuration.rollout event.
type RolloutEvent struct {
	Tenant          string `json:"tenant"`
	ConfigurationID string `json:"configurationID"`
	// What happened: started, step, paused, resumed, promoted, succeeded, rolledBack, aborted.
	What         string    `json:"what"`
	Phase        string    `json:"phase"`
	FromRevision int       `json:"fromRevision"`
	ToRevision   int       `json:"toRevision"`
	Step         int       `json:"step"` // 1-based
	Steps        int       `json:"steps"`
	Released     []string  `json:"released,omitempty"` // runtimes of the step just released
	Reason       string    `json:"reason,omitempty"`
	At           time.Time `json:"at"`
}

func rolloutEvent(tenant string, c *Configuration, what string) registry.Event {
	r := c.Rollout
	ev := RolloutEvent{Tenant: tenant, ConfigurationID: c.ID, What: what, Phase: r.Phase, FromRevision: r.FromRevision,
		ToRevision: r.ToRevision, Step: r.Step + 1, Steps: len(r.Steps), Reason: r.Reason, At: r.UpdatedAt}
	if (what == "started" || what == "step") && r.Step < len(r.Steps) {
		ev.Released = r.Steps[r.Step]
	}
	return registry.Event{Topic: TopicRollout, Data: ev}
}

// RolloutWakeKeys returns the notify keys a configuration.rollout event wakes: every waiter of its
// tenant, since the event may release a new revision to some of them.
func RolloutWakeKeys(data []byte) ([]string, error) {
	var ev RolloutEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicRollout, err)
	}
	if err := identity.ValidateTenant(ev.Tenant); err != nil {
		return nil, fmt.Errorf("%s: %w", TopicRollout, err)
	}
	return []string{notify.TenantKey(ev.Tenant)}, nil
}

func cloneStrategy(st *Strategy) *Strategy {
	if st == nil {
		return nil
	}
	out := *st
	if st.CanaryLabel != nil {
		l := *st.CanaryLabel
		out.CanaryLabel = &l
	}
	return &out
}

// stableRevision is the last revision of prev that reached every runtime: what a new rollout starts
// from. A write during a rollout starts over from the revision that rollout started from.
func stableRevision(prev *Configuration) int {
	switch {
	case prev == nil || prev.Deleted:
		return 0
	case prev.Rollout == nil || prev.Rollout.Phase == PhaseSucceeded:
		return prev.Revision
	}
	return prev.Rollout.FromRevision
}

func matching(candidates []PlannedRuntime, t Target) []PlannedRuntime {
	var out []PlannedRuntime
	for _, r := range candidates {
		if t.Matches(r.ID, r.Labels) {
			out = append(out, r)
		}
	}
	return out
}

// candidates asks the Director, as the caller, for the runtimes a rollout of in would be planned over;
// nil when in rolls out at once.
func (s *Service) candidates(ctx context.Context, in Input) ([]PlannedRuntime, error) {
	if in.Rollout == nil || in.RuntimeID != "" {
		return nil, nil
	}
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	rts, err := s.labels.Runtimes(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan rollout: %w", err)
	}
	if err := s.knowRolloutTenant(ctx, sc.Tenant); err != nil {
		return nil, err
	}
	if rts == nil {
		rts = []PlannedRuntime{}
	}
	return rts, nil
}

// knowRolloutTenant records that tenant may have rollouts, for Tick. It is written before the rollout
// itself, so that no rollout is ever out of Tick's sight; a tenant recorded in vain costs one empty list.
func (s *Service) knowRolloutTenant(ctx context.Context, tenant string) error {
	if _, ok := s.rolloutTenants.Load(tenant); ok {
		return nil
	}
	err := s.store.Mutate(ctx, registry.GlobalScope(kindRolloutTenant), tenant, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, errRecorded
		}
		return registry.Change{Data: tenant}, nil
	})
	if err != nil && !errors.Is(err, errRecorded) {
		return fmt.Errorf("record rollout tenant: %w", err)
	}
	s.rolloutTenants.Store(tenant, true)
	return nil
}

// released replaces each configuration under a rollout by the revision the rollout released to
// runtimeID (from the history, through t's cache when t is cached), and leaves out those that released
// none to it.
func (s *Service) released(ctx context.Context, runtimeID string, cs []*Configuration, t *tenantConfigs) ([]*Configuration, error) {
	out := make([]*Configuration, 0, len(cs))
	for _, c := range cs {
		if c.Rollout == nil {
			out = append(out, c)
			continue
		}
		switch rev := c.Rollout.RevisionFor(runtimeID); {
		case rev == c.Revision:
			out = append(out, c)
		case rev > 0:
			old, err := s.releasedRevision(ctx, t, c.ID, rev)
			if err != nil {
				return nil, err
			}
			out = append(out, old)
		}
	}
	return out, nil
}

// revision reads revision rev of configuration id from the history.
func (s *Service) revision(ctx context.Context, id string, rev int) (*Configuration, error) {
	sc, err := registry.TenantScope(ctx, kindRevision)
	if err != nil {
		return nil, err
	}
	var c Configuration
	if err := s.store.Get(ctx, sc, revisionID(id, rev), &c); err != nil {
		return nil, fmt.Errorf("read revision %d of configuration %s: %w", rev, id, err)
	}
	return &c, nil
}

// Tick moves every active rollout of every tenant on: it is called periodically, by every replica (the
// writes are ETag-checked, so two replicas ticking together cost a retry, not a double step).
func (s *Service) Tick(ctx context.Context) error {
	after := ""
	var errs []error
	for {
		tenants, p, err := registry.ListAs[string](ctx, s.store, registry.GlobalScope(kindRolloutTenant), registry.IndexAll, MaxPageSize, after)
		if err != nil {
			return fmt.Errorf("list rollout tenants: %w", err)
		}
		for _, t := range tenants {
			tctx := identity.NewContext(ctx, identity.Identity{Tenant: *t, Subject: rolloutSubject, ConsumerType: identity.ConsumerService})
			if err := s.tickTenant(tctx); err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", *t, err))
			}
		}
		if !p.HasNextPage {
			return errors.Join(errs...)
		}
		after = p.EndCursor
	}
}

// rolloutSubject is who the Governor's own rollout steps are recorded as.
const rolloutSubject = "governor-rollout"

func (s *Service) tickTenant(ctx context.Context) error {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return err
	}
	after := ""
	for {
		cs, p, err := registry.ListAs[Configuration](ctx, s.store, sc, indexRolling, MaxPageSize, after)
		if err != nil {
			return fmt.Errorf("list rolling configurations: %w", err)
		}
		for _, c := range cs {
			if err := s.advance(ctx, c); err != nil {
				s.log.WarnContext(ctx, "rollout step", "configuration", c.ID, "err", err)
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

var errStale = errors.New("rollout changed meanwhile")

// advance feeds c's rollout what the runtimes of its current step show, and stores what follows.
func (s *Service) advance(ctx context.Context, c *Configuration) error {
	r := c.Rollout
	if r == nil || r.Phase != PhaseProgressing || r.Step >= len(r.Steps) {
		return nil
	}
	obs, err := s.observe(ctx, c.ID, r.FromRevision, r.ToRevision, r.Steps[r.Step])
	if err != nil {
		return err
	}
	next := r.clone()
	step := next.Step
	if !next.Advance(obsOnly(obs), s.now().UTC()) {
		return nil
	}
	what := "progress"
	switch {
	case next.Phase == PhaseRolledBack:
		what = "rolledBack"
	case next.Phase == PhaseSucceeded:
		what = "succeeded"
	case next.Step != step:
		what = "step"
	}
	return s.storeRollout(ctx, c.ID, r.Version, next, what)
}

// storeRollout writes next as the rollout of configuration id, provided the stored rollout is still at
// version (else errStale, which a later tick sorts out).
func (s *Service) storeRollout(ctx context.Context, id string, version int, next *Rollout, what string) error {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return err
	}
	err = s.store.Mutate(ctx, sc, id, "", func(raw []byte) (registry.Change, error) {
		if raw == nil {
			return registry.Change{}, errStale
		}
		var c Configuration
		if err := json.Unmarshal(raw, &c); err != nil {
			return registry.Change{}, fmt.Errorf("decode configuration %s: %w", id, err)
		}
		if c.Rollout == nil || c.Rollout.Version != version || c.Revision != next.ToRevision {
			return registry.Change{}, errStale
		}
		c.Rollout = next
		return registry.Change{Data: &c, Indexes: indexesOf(&c), Unique: uniqueOf(&c),
			Events: []registry.Event{rolloutEvent(sc.Tenant, &c, what)}}, nil
	})
	if errors.Is(err, errStale) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store rollout of configuration %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "rollout", "configuration", id, "what", what, "phase", next.Phase, "step", next.Step+1,
		"steps", len(next.Steps), "reason", next.Reason)
	// Released runtimes (or, after a rollback, all of them) have a new effective configuration.
	s.configurationsChanged(ctx, sc.Tenant, false) // rollouts are of selector configurations
	return nil
}

// observed is what is known of a runtime under a rollout: its Observation for the revision rolled out,
// and the revision of the configuration it last applied (0 when unknown).
type observed struct {
	Observation
	AppliedRevision int
}

func obsOnly(m map[string]observed) map[string]Observation {
	out := make(map[string]Observation, len(m))
	for k, v := range m {
		out[k] = v.Observation
	}
	return out
}

// observe reads, for each runtime, its agent's last report and which revision of configuration id that
// report was about. A report is about the sources of the effective revision it names: those numbered
// with it, or, when the bindings did not change since, those the runtime view holds now.
func (s *Service) observe(ctx context.Context, id string, from, to int, runtimeIDs []string) (map[string]observed, error) {
	vsc, err := registry.TenantScope(ctx, kindRuntimeView)
	if err != nil {
		return nil, err
	}
	ssc, err := registry.TenantScope(ctx, kindStatus)
	if err != nil {
		return nil, err
	}
	views := map[string]runtimeView{}
	err = s.store.GetMany(ctx, vsc, runtimeIDs, func(rid string, data []byte) error {
		var v runtimeView
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("decode runtime view %s: %w", rid, err)
		}
		views[rid] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read runtime views: %w", err)
	}
	out := make(map[string]observed, len(runtimeIDs))
	err = s.store.GetMany(ctx, ssc, runtimeIDs, func(rid string, data []byte) error {
		var st Status
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("decode status %s: %w", rid, err)
		}
		sources := st.Sources
		if v, ok := views[rid]; ok && v.Revision == st.Revision {
			sources = v.Sources
		}
		// Left: what the runtime should run now no longer has this configuration. Only with a previous
		// revision, which every planned runtime had until it recomputed; for a new configuration the
		// same view means "not recomputed yet".
		left := from > 0
		if v, ok := views[rid]; ok && left {
			for _, src := range v.Sources {
				left = left && src.ConfigurationID != id
			}
		} else {
			left = false
		}
		rev := 0
		for _, src := range sources {
			if src.ConfigurationID == id {
				rev = src.Revision
			}
		}
		o := observed{Observation: Observation{Left: left}}
		switch st.Status {
		case StatusApplied, StatusDrifted:
			// A drifted runtime did apply the revision; drift is someone's change to it, not the revision's
			// failure, and the agent restores it (or was told to leave it).
			o.AppliedRevision = rev
			o.Applied = rev == to
		case StatusFailed:
			o.Failed = rev == to
			o.Reason = fmt.Sprintf("agent reported FAILED for revision %d: %s", to, st.Reason)
		}
		out[rid] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	// Still heartbeating: a runtime the Director turned FAILED fails the step, applied or not.
	unhealthy, err := s.failedHealth(ctx, runtimeIDs)
	if err != nil {
		return nil, err
	}
	for id, why := range unhealthy {
		o := out[id]
		o.Failed, o.Reason = true, why
		out[id] = o
	}
	return out, nil
}

// OperateRollout pauses, resumes, promotes or aborts the rollout of configuration id (see
// Rollout.Apply) and returns its status.
func (s *Service) OperateRollout(ctx context.Context, id, op string) (*RolloutStatus, error) {
	c, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Deleted || c.Rollout == nil {
		return nil, apperr.New(apperr.CodeNotFound, "configuration %s has no rollout", id)
	}
	next := c.Rollout.clone()
	if err := next.Apply(op, callerSubject(ctx), s.now().UTC()); err != nil {
		return nil, apperr.New(apperr.CodeConflict, "%v", err)
	}
	what := map[string]string{OpPause: "paused", OpResume: "resumed", OpPromote: "promoted", OpAbort: "aborted"}[op]
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	err = s.store.Mutate(ctx, sc, id, "", func(raw []byte) (registry.Change, error) {
		var cur Configuration
		if raw == nil {
			return registry.Change{}, apperr.NotFound("configuration", id)
		}
		if err := json.Unmarshal(raw, &cur); err != nil {
			return registry.Change{}, fmt.Errorf("decode configuration %s: %w", id, err)
		}
		if cur.Rollout == nil || cur.Rollout.Version != c.Rollout.Version || cur.Revision != c.Revision {
			return registry.Change{}, apperr.New(apperr.CodeConflict, "the rollout changed meanwhile; look at it again")
		}
		cur.Rollout = next
		return registry.Change{Data: &cur, Indexes: indexesOf(&cur), Unique: uniqueOf(&cur),
			Events: []registry.Event{rolloutEvent(sc.Tenant, &cur, what)}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s rollout of configuration %s: %w", op, id, err)
	}
	s.configurationsChanged(ctx, sc.Tenant, false) // rollouts are of selector configurations
	c.Rollout = next
	return s.rolloutStatus(ctx, c)
}

// Per-runtime states in a RolloutStatus.
const (
	RuntimePending  = "PENDING"  // not released yet: keeps the previous revision
	RuntimeApplying = "APPLYING" // released, not reported applied yet
	RuntimeApplied  = "APPLIED"
	RuntimeFailed   = "FAILED"
	RuntimeLeft     = "LEFT" // no longer aimed at: its labels changed
)

// RolloutStatus is a rollout as shown: its state and where each runtime stands.
type RolloutStatus struct {
	ConfigurationID string
	Rollout
	Done, FailedCount, Pending int
	Runtimes                   []RolloutRuntime
}

// RolloutRuntime is one runtime of a rollout: the revision it should run and the one it last applied.
type RolloutRuntime struct {
	RuntimeID       string
	Step            int // 0-based
	DesiredRevision int
	AppliedRevision int // 0 when unknown
	State           string
	Reason          string
}

// RolloutOf returns the rollout of configuration id, or nil when its latest revision has none.
func (s *Service) RolloutOf(ctx context.Context, id string) (*RolloutStatus, error) {
	c, err := s.current(ctx, id)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.Deleted || c.Rollout == nil {
		return nil, nil
	}
	return s.rolloutStatus(ctx, c)
}

func (s *Service) rolloutStatus(ctx context.Context, c *Configuration) (*RolloutStatus, error) {
	r := c.Rollout
	var all []string
	for _, st := range r.Steps {
		all = append(all, st...)
	}
	obs, err := s.observe(ctx, c.ID, r.FromRevision, r.ToRevision, all)
	if err != nil {
		return nil, err
	}
	out := &RolloutStatus{ConfigurationID: c.ID, Rollout: *r.clone()}
	for i, st := range r.Steps {
		for _, id := range st {
			rr := RolloutRuntime{RuntimeID: id, Step: i, DesiredRevision: r.RevisionFor(id), AppliedRevision: obs[id].AppliedRevision}
			released := rr.DesiredRevision == r.ToRevision && (r.Phase != PhaseSucceeded || i <= r.Step)
			switch {
			case r.Failed[id] != "":
				rr.State, rr.Reason = RuntimeFailed, r.Failed[id]
			case released && obs[id].Applied:
				rr.State = RuntimeApplied
			case obs[id].Left:
				rr.State = RuntimeLeft
			case released && obs[id].Failed:
				rr.State, rr.Reason = RuntimeFailed, obs[id].Reason
			case released:
				rr.State = RuntimeApplying
			case rr.DesiredRevision == rr.AppliedRevision && rr.AppliedRevision > 0 && !r.Active():
				rr.State = RuntimeApplied // back on the last good revision
			default:
				rr.State = RuntimePending
			}
			switch rr.State {
			case RuntimeApplied:
				out.Done++
			case RuntimeFailed:
				out.FailedCount++
			case RuntimeLeft:
			default:
				out.Pending++
			}
			out.Runtimes = append(out.Runtimes, rr)
		}
	}
	return out, nil
}
