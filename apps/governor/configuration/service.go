package configuration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Registry kinds and indexes.
//
// A configuration is one entity holding its latest revision, tombstones included, so that its revision
// number survives deletion and a rollback can bring it back. Every revision is also copied into its own
// entity (kindRevision, id "<configuration>.<revision>") in the index of its configuration, which is the
// history. The copy is written right after the configuration; should the process die in between, the
// next write of the configuration writes the missing copy too (see write), and until then a rollback to
// that revision reads it from the configuration itself.
const (
	kindConfiguration = "configuration"
	kindRevision      = "configrevision"
	kindRuntimeView   = "runtimeview"
	kindStatus        = "runtimestatus"

	indexLive     = "live"     // configurations not deleted
	indexSelector = "selector" // live configurations aimed by label selector
	indexRolling  = "rolling"  // configurations whose rollout is progressing or paused
)

func revisionIndex(id string) string       { return "c:" + id }
func revisionID(id string, rev int) string { return id + "." + strconv.Itoa(rev) }
func runtimeKey(runtimeID string) string   { return "runtime:" + runtimeID }
func newConfigurationID() string           { return uuid.NewString() }
func callerSubject(ctx context.Context) string {
	id, _ := identity.FromContext(ctx)
	return id.Subject
}

// TopicChanged is the pub/sub topic announcing every new revision of a configuration.
const TopicChanged = "configuration.changed"

// TopicStatus announces each report of a runtime's agent about applying its configuration (a Status),
// for whoever shows or acts on it.
const TopicStatus = "configuration.status"

// ChangedEvent is the data of a configuration.changed event.
type ChangedEvent struct {
	Tenant          string `json:"tenant"`
	ConfigurationID string `json:"configurationID"`
	Revision        int    `json:"revision"`
	Target          Target `json:"target"`
	// PreviousTarget is set when the revision moved the configuration to another target: the runtimes
	// of both may have a new effective configuration.
	PreviousTarget *Target `json:"previousTarget,omitempty"`
	Deleted        bool    `json:"deleted,omitempty"`
}

// WakeKeys returns the notify keys a configuration.changed event wakes: every waiter of its tenant.
func WakeKeys(data []byte) ([]string, error) {
	var ev ChangedEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicChanged, err)
	}
	if err := identity.ValidateTenant(ev.Tenant); err != nil {
		return nil, fmt.Errorf("%s: %w", TopicChanged, err)
	}
	return []string{notify.TenantKey(ev.Tenant)}, nil
}

// Store is the part of the Registry the service uses; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
	Owner(ctx context.Context, s registry.Scope, key string) (string, error)
}

// LabelSource tells a runtime's labels. The Director answers it, as the caller.
type LabelSource interface {
	// RuntimeLabels returns the labels of runtime id in the caller's tenant, or an apperr NOT_FOUND error
	// when the tenant has no such runtime.
	RuntimeLabels(ctx context.Context, runtimeID string) (map[string]any, error)
	// Runtimes returns every runtime of the caller's tenant with its labels, to plan a rollout over.
	Runtimes(ctx context.Context) ([]PlannedRuntime, error)
}

// Service manages the configurations of the calling tenant.
type Service struct {
	store  Store
	labels LabelSource
	hub    *notify.Hub
	log    *slog.Logger
	now    func() time.Time
	// reported, when set, is called after each agent report, so that rollouts move on without waiting
	// for their next tick.
	reported func()
	// rolloutTenants caches the tenants recorded as having rollouts (knowRolloutTenant).
	rolloutTenants sync.Map
	// labelCache and configCache, when set (EnableCaches), keep what effective configurations are
	// computed from; see cache.go.
	labelCache  *labelCache
	configCache *configCache
}

// NewService returns a service keeping configurations in store, asking labels for runtime labels and
// waking long-polls through hub.
func NewService(store Store, labels LabelSource, hub *notify.Hub, log *slog.Logger) *Service {
	return &Service{store: store, labels: labels, hub: hub, log: log, now: time.Now}
}

// OnReport makes f be called after each agent report is stored. Set it before serving.
func (s *Service) OnReport(f func()) { s.reported = f }

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Create stores a new configuration as its revision 1.
func (s *Service) Create(ctx context.Context, in Input) (*Configuration, error) {
	candidates, err := s.candidates(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, newConfigurationID(), candidates, func(cur *Configuration) (*Configuration, error) {
		if cur != nil {
			return nil, errors.New("create configuration: generated id already taken")
		}
		target, bindings, err := build(in, nil)
		if err != nil {
			return nil, err
		}
		return &Configuration{Target: target, Bindings: bindings, Strategy: cloneStrategy(in.Rollout),
			DriftPolicy: in.DriftPolicy, AutoRollback: in.AutoRollback}, nil
	})
}

// Update replaces the configuration id with in, as a new revision. With a rollout strategy, the revision
// goes out in steps (see Rollout).
func (s *Service) Update(ctx context.Context, id string, in Input) (*Configuration, error) {
	candidates, err := s.candidates(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, id, candidates, func(cur *Configuration) (*Configuration, error) {
		if cur == nil || cur.Deleted {
			return nil, apperr.NotFound("configuration", id)
		}
		target, bindings, err := build(in, cur)
		if err != nil {
			return nil, err
		}
		return &Configuration{Target: target, Bindings: bindings, Strategy: cloneStrategy(in.Rollout),
			DriftPolicy: in.DriftPolicy, AutoRollback: in.AutoRollback}, nil
	})
}

// Delete ends the configuration id with a tombstone revision, so that agents of the runtimes it aimed at
// learn of it like of any other change, and returns the tombstone.
func (s *Service) Delete(ctx context.Context, id string) (*Configuration, error) {
	return s.write(ctx, id, nil, func(cur *Configuration) (*Configuration, error) {
		if cur == nil || cur.Deleted {
			return nil, apperr.NotFound("configuration", id)
		}
		return &Configuration{Target: cur.Target, Bindings: []Binding{}, Deleted: true}, nil
	})
}

// Rollback makes a new revision of configuration id equal to its revision rev (secret values included).
// Rolling a deleted configuration back restores it.
func (s *Service) Rollback(ctx context.Context, id string, rev int) (*Configuration, error) {
	return s.rollback(ctx, id, rev, nil)
}

// rollback makes the rollback revision; auto, when set, is the automatic rollback that asks for it: the
// new revision says why, its events are written with it, and it is made only while the configuration is
// still at the revision that failed.
func (s *Service) rollback(ctx context.Context, id string, rev int, auto *AutoRollback) (*Configuration, error) {
	if !validID(id) {
		return nil, apperr.NotFound("configuration", id)
	}
	sc, err := registry.TenantScope(ctx, kindRevision)
	if err != nil {
		return nil, err
	}
	var old *Configuration
	if rev >= 1 {
		var c Configuration
		switch err := s.store.Get(ctx, sc, revisionID(id, rev), &c); {
		case err == nil:
			old = &c
		case !errors.Is(err, registry.ErrNotFound):
			return nil, fmt.Errorf("read revision %d of configuration %s: %w", rev, id, err)
		}
	}
	var extra func(tenant string, c *Configuration) []registry.Event
	if auto != nil {
		extra = func(tenant string, c *Configuration) []registry.Event {
			auto.NewRevision, auto.At = c.Revision, c.RevisedAt
			return autoRollbackEvents(tenant, *auto)
		}
	}
	// A rollback is the way back from a bad change: it goes out at once, whatever the strategy.
	return s.write(ctx, id, nil, func(cur *Configuration) (*Configuration, error) {
		if cur == nil {
			return nil, apperr.NotFound("configuration", id)
		}
		if auto != nil && (cur.Deleted || cur.Revision != auto.FailedRevision) {
			return nil, errNotRolledBack // changed since the report: the new revision is the user's call
		}
		from := old
		if from == nil && rev == cur.Revision {
			from = cur // the latest revision, its copy not written yet
		}
		switch {
		case rev < 1 || rev > cur.Revision || from == nil:
			return nil, apperr.Invalid("configuration %s has no revision %d (latest is %d)", id, rev, cur.Revision)
		case from.Deleted:
			return nil, apperr.Invalid("revision %d deleted the configuration; use deleteConfiguration", rev)
		}
		// The rules may have changed since: the restored revision must pass today's.
		if _, _, err := build(toInput(from), from); err != nil {
			return nil, apperr.Invalid("revision %d no longer passes validation: %v", rev, err)
		}
		c := &Configuration{Target: from.Target, Bindings: from.Bindings, RolledBackFrom: rev, Strategy: cloneStrategy(from.Strategy),
			DriftPolicy: from.DriftPolicy, AutoRollback: from.AutoRollback}
		if auto != nil {
			// The flag stays with what it guards: the restored revision is the one the runtime applied.
			c.AutoRollback, c.RollbackReason = cur.AutoRollback, auto.Reason
		}
		return c, nil
	}, extra)
}

// toInput turns a stored revision back into input, secrets as stored.
func toInput(c *Configuration) Input {
	in := Input{RuntimeID: c.Target.RuntimeID, LabelSelector: c.Target.LabelSelector, Rollout: cloneStrategy(c.Strategy),
		DriftPolicy: c.DriftPolicy, AutoRollback: c.AutoRollback}
	for _, b := range c.Bindings {
		bi := BindingInput{Name: b.Name, Type: b.Type, Metadata: b.Metadata, Scopes: b.Scopes}
		for _, sm := range b.SecretMetadata {
			bi.SecretMetadata = append(bi.SecretMetadata, SecretInput{Name: sm.Name, Value: &sm.Value})
		}
		in.Bindings = append(in.Bindings, bi)
	}
	return in
}

// write makes the next revision of configuration id: next receives the current revision (nil if there
// is none) and returns the content of the new one, or why there is none. The configuration, its indexes,
// its unique runtime key and the configuration.changed event are written in one transaction, and so is
// the start of its rollout when the new revision has a strategy: candidates (non-nil) are the runtimes
// to plan it over. extra, when set, adds events to the transaction.
func (s *Service) write(ctx context.Context, id string, candidates []PlannedRuntime, next func(cur *Configuration) (*Configuration, error),
	extra ...func(tenant string, c *Configuration) []registry.Event) (*Configuration, error) {
	if !validID(id) {
		return nil, apperr.NotFound("configuration", id)
	}
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	var prev, made *Configuration
	err = s.store.Mutate(ctx, sc, id, "", func(raw []byte) (registry.Change, error) {
		prev, made = nil, nil
		if raw != nil {
			prev = new(Configuration)
			if err := json.Unmarshal(raw, prev); err != nil {
				return registry.Change{}, fmt.Errorf("decode configuration %s: %w", id, err)
			}
		}
		c, err := next(prev)
		if err != nil {
			return registry.Change{}, err
		}
		now := s.now().UTC()
		c.ID, c.Revision, c.CreatedAt, c.RevisedAt, c.RevisedBy = id, 1, now, now, callerSubject(ctx)
		if prev != nil {
			c.Revision, c.CreatedAt = prev.Revision+1, prev.CreatedAt
		}
		if err := checkSize(c); err != nil {
			return registry.Change{}, err
		}
		events := []registry.Event{{Topic: TopicChanged, Data: changedEvent(sc.Tenant, prev, c)}}
		if c.Strategy != nil && candidates != nil && !c.Deleted && c.RolledBackFrom == 0 {
			c.Rollout = newRollout(stableRevision(prev), c.Revision, *c.Strategy, PlanSteps(matching(candidates, c.Target), *c.Strategy), now)
			events = append(events, rolloutEvent(sc.Tenant, c, "started"))
		}
		for _, f := range extra {
			if f != nil {
				events = append(events, f(sc.Tenant, c)...)
			}
		}
		made = c
		return registry.Change{
			Data:    c,
			Indexes: indexesOf(c),
			Unique:  uniqueOf(c),
			Events:  events,
		}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, s.runtimeTaken(ctx, sc, made)
	}
	if err != nil {
		return nil, fmt.Errorf("write configuration %s: %w", id, err)
	}
	// History: the previous revision first, in case its writer died before recording it.
	if prev != nil {
		s.recordRevision(ctx, prev)
	}
	s.recordRevision(ctx, made)
	s.configurationsChanged(ctx, sc.Tenant, made.Target.RuntimeID != "" || (prev != nil && prev.Target.RuntimeID != ""))
	return made.redacted(), nil
}

func indexesOf(c *Configuration) []string {
	switch {
	case c.Deleted:
		return nil
	case c.Target.RuntimeID == "" && c.Rollout.Active():
		return []string{indexLive, indexSelector, indexRolling}
	case c.Target.RuntimeID == "":
		return []string{indexLive, indexSelector}
	}
	return []string{indexLive}
}

// uniqueOf claims the runtime for a configuration aimed at one runtime: a runtime has at most one, so
// that its precedence is clear. An empty (not nil) list releases a claim.
func uniqueOf(c *Configuration) []string {
	if c.Deleted || c.Target.RuntimeID == "" {
		return []string{}
	}
	return []string{runtimeKey(c.Target.RuntimeID)}
}

func changedEvent(tenant string, prev, c *Configuration) ChangedEvent {
	ev := ChangedEvent{Tenant: tenant, ConfigurationID: c.ID, Revision: c.Revision, Target: c.Target, Deleted: c.Deleted}
	if prev != nil && !sameTarget(prev.Target, c.Target) {
		t := prev.Target
		ev.PreviousTarget = &t
	}
	return ev
}

func sameTarget(a, b Target) bool {
	if a.RuntimeID != b.RuntimeID || len(a.LabelSelector) != len(b.LabelSelector) {
		return false
	}
	for i := range a.LabelSelector {
		if a.LabelSelector[i] != b.LabelSelector[i] {
			return false
		}
	}
	return true
}

// runtimeTaken explains an ALREADY_EXISTS from the runtime's unique key.
func (s *Service) runtimeTaken(ctx context.Context, sc registry.Scope, c *Configuration) error {
	if c == nil {
		return apperr.New(apperr.CodeAlreadyExists, "the runtime already has a configuration")
	}
	owner, err := s.store.Owner(ctx, sc, runtimeKey(c.Target.RuntimeID))
	if err != nil {
		owner = "another one"
	}
	return apperr.New(apperr.CodeAlreadyExists,
		"runtime %q already has configuration %s; a runtime has one configuration of its own, change that one", c.Target.RuntimeID, owner)
}

var errRecorded = errors.New("revision already recorded")

// recordRevision copies revision c into the history, unless it is there already. A failure is logged, not
// returned: the revision itself is stored, and the next write of the configuration records it again.
func (s *Service) recordRevision(ctx context.Context, c *Configuration) {
	sc, err := registry.TenantScope(ctx, kindRevision)
	if err != nil {
		return
	}
	rev := *c
	rev.Rollout = nil // the state of a rollout is not part of the revision
	err = s.store.Mutate(ctx, sc, revisionID(c.ID, c.Revision), "", func(raw []byte) (registry.Change, error) {
		if raw != nil {
			return registry.Change{}, errRecorded
		}
		return registry.Change{Data: &rev, Indexes: []string{revisionIndex(c.ID)}}, nil
	})
	if err != nil && !errors.Is(err, errRecorded) {
		s.log.WarnContext(ctx, "record configuration revision", "configuration", c.ID, "revision", c.Revision, "err", err)
	}
}

// Get returns configuration id, secret values left out. A deleted one is not found.
func (s *Service) Get(ctx context.Context, id string) (*Configuration, error) {
	c, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Deleted {
		return nil, apperr.NotFound("configuration", id)
	}
	return c.redacted(), nil
}

// current reads the latest revision of configuration id, tombstone or not.
func (s *Service) current(ctx context.Context, id string) (*Configuration, error) {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, apperr.NotFound("configuration", id)
	}
	var c Configuration
	if err := s.store.Get(ctx, sc, id, &c); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("configuration", id)
		}
		return nil, fmt.Errorf("read configuration %s: %w", id, err)
	}
	return &c, nil
}

// List returns a page of the tenant's configurations that are not deleted, in the order they were created
// (or restored), secret values left out.
func (s *Service) List(ctx context.Context, first int, after string) (*Page, error) {
	return s.page(ctx, kindConfiguration, indexLive, first, after)
}

// Revisions returns a page of the revisions of configuration id, oldest first, secret values left out.
// An unknown id has no revisions.
func (s *Service) Revisions(ctx context.Context, id string, first int, after string) (*Page, error) {
	if !validID(id) {
		return &Page{StartCursor: after}, nil
	}
	return s.page(ctx, kindRevision, revisionIndex(id), first, after)
}

// checkPage refuses a page size or cursor a list cannot take.
func checkPage(first int, after string) error {
	if first < 0 || first > MaxPageSize {
		return apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	if registry.CheckCursor(after) != nil {
		return apperr.Invalid("after: not a cursor this API handed out")
	}
	return nil
}

func (s *Service) page(ctx context.Context, kind, index string, first int, after string) (*Page, error) {
	if err := checkPage(first, after); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, err
	}
	items, p, err := registry.ListAs[Configuration](ctx, s.store, sc, index, first, after)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	out := &Page{StartCursor: after, EndCursor: p.EndCursor, HasNextPage: p.HasNextPage, TotalCount: int(p.TotalCount)}
	if out.EndCursor == "" {
		out.EndCursor = after
	}
	for _, c := range items {
		out.Items = append(out.Items, c.redacted())
	}
	return out, nil
}
