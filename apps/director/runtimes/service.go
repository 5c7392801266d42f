// Package runtimes is the Director's domain logic for runtimes and for the automatic scenario assignments
// that put runtimes into scenarios by their labels.
package runtimes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/appname"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of runtimes.
const Kind = "runtime"

// Parts are the things a runtime owns that live in other packages (its contexts): they go with it.
type Parts interface {
	// DeleteForRuntime removes everything runtimeID owns; calling it again after a failure finishes the job.
	DeleteForRuntime(ctx context.Context, runtimeID string) error
}

// Service manages the runtimes of the calling tenant.
type Service struct {
	store Store
	defs  *label.Definitions
	objs  *label.Objects[model.Runtime, *model.Runtime]
	parts Parts
	now   func() time.Time
}

// Store is what the service keeps runtimes and their heartbeats in; *registry.Registry implements it.
type Store interface {
	label.Store
	Liveness
}

// NewService returns a service storing runtimes in store and checking labels against defs.
func NewService(store Store, defs *label.Definitions) *Service {
	s := &Service{store: store, defs: defs, now: time.Now}
	s.objs = &label.Objects[model.Runtime, *model.Runtime]{
		Kind: Kind, Noun: "runtime", Store: store, Defs: defs, Changed: s.applyAssignments,
	}
	defs.AddHolder(s.objs)
	return s
}

// SetParts connects the owner of the runtimes' contexts.
func (s *Service) SetParts(p Parts) { s.parts = p }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,35}$`)

func nameKey(name string) string { return "name:" + name }

// event announces a change of rt on topic runtime.<verb>.
func event(verb string, rt *model.Runtime) registry.Event {
	return registry.Event{Topic: "runtime." + verb, Data: rt}
}

func (s *Service) validate(ctx context.Context, in model.RuntimeInput) (map[string]any, error) {
	if !namePattern.MatchString(in.Name) {
		return nil, apperr.Invalid("name %q: use up to 36 lower case letters, digits, '-' and '.', starting with a letter", in.Name)
	}
	if in.Description != nil && len(*in.Description) > 2000 {
		return nil, apperr.Invalid("description: at most 2000 characters")
	}
	if in.StatusCondition != nil && !in.StatusCondition.IsValid() {
		return nil, apperr.Invalid("statusCondition %q is not valid", *in.StatusCondition)
	}
	labels, err := label.NormalizeAll(in.Labels)
	if err != nil {
		return nil, err
	}
	// As Compass did on register and update: a runtime sees normalized application names unless it says
	// otherwise (runtime agents name resources after them). Added before validation, so that the key gets
	// its label definition like any other.
	if _, ok := labels[appname.IsNormalizedLabel]; !ok {
		labels[appname.IsNormalizedLabel] = "true"
	}
	if err := s.defs.Validate(ctx, labels); err != nil {
		return nil, err
	}
	return labels, nil
}

// Register validates in and stores a new runtime, in the scenarios its labels select.
func (s *Service) Register(ctx context.Context, in model.RuntimeInput) (*model.Runtime, error) {
	sc, err := registry.TenantScope(ctx, Kind)
	if err != nil {
		return nil, err
	}
	labels, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	rt := &model.Runtime{
		ID:          uuid.NewString(),
		Name:        in.Name,
		Description: in.Description,
		Labels:      labels,
		Status:      &model.RuntimeStatus{Condition: model.RuntimeStatusConditionInitial, Timestamp: now},
		Metadata:    &model.RuntimeMetadata{CreationTimestamp: now},
	}
	if in.StatusCondition != nil {
		rt.Status.Condition = *in.StatusCondition
	}
	// Runtimes without a scenario join the tenant's default one, as applications do (and as in Compass).
	if _, ok := rt.Labels[label.ScenariosKey]; !ok {
		if rt.Labels == nil {
			rt.Labels = map[string]any{}
		}
		rt.Labels[label.ScenariosKey] = []any{label.DefaultScenario}
	}
	asas, err := s.assignments(ctx)
	if err != nil {
		return nil, err
	}
	assign(rt, asas)
	err = s.store.Mutate(ctx, sc, rt.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, registry.ErrAlreadyExists
		}
		return registry.Change{Data: rt, Indexes: label.Indexes(rt.Labels), Unique: []string{nameKey(rt.Name)}, Events: []registry.Event{event("created", rt)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.NameNotUnique("a runtime named %q already exists", rt.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("register runtime: %w", err)
	}
	return rt, nil
}

// Update replaces a runtime's name, description, status and labels.
func (s *Service) Update(ctx context.Context, id string, in model.RuntimeInput) (*model.Runtime, error) {
	sc, err := registry.TenantScope(ctx, Kind)
	if err != nil {
		return nil, err
	}
	labels, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	asas, err := s.assignments(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var out *model.Runtime
	err = s.store.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("runtime", id)
		}
		rt, err := decode(cur)
		if err != nil {
			return registry.Change{}, err
		}
		rt.Name, rt.Description, rt.Labels = in.Name, in.Description, maps.Clone(labels)
		if in.StatusCondition != nil && *in.StatusCondition != rt.Status.Condition {
			rt.Status = &model.RuntimeStatus{Condition: *in.StatusCondition, Timestamp: now}
		}
		assign(rt, asas)
		out = rt
		return registry.Change{Data: rt, Indexes: label.Indexes(rt.Labels), Unique: []string{nameKey(rt.Name)}, Events: []registry.Event{event("updated", rt)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.NameNotUnique("a runtime named %q already exists", in.Name)
	}
	return out, err
}

// Unregister removes a runtime with its contexts and the assignments of its scenarios, and returns it.
func (s *Service) Unregister(ctx context.Context, id string) (*model.Runtime, error) {
	rt, err := s.objs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	// What the runtime owns goes first: a failure then leaves the runtime in place, and unregistering it
	// again finishes the job, instead of leaving parts nobody can reach.
	if s.parts != nil {
		if err := s.parts.DeleteForRuntime(ctx, id); err != nil {
			return nil, fmt.Errorf("unregister runtime %s: %w", id, err)
		}
	}
	// As Compass's deleteRuntime did, the automatic assignments of the runtime's scenarios go too (and with
	// them the scenarios they gave other runtimes).
	for _, scenario := range label.Strings(rt.Labels[label.ScenariosKey]) {
		_, err := s.DeleteAssignmentForScenario(ctx, scenario)
		if err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return nil, fmt.Errorf("unregister runtime %s: %w", id, err)
		}
	}
	sc, _ := registry.TenantScope(ctx, Kind)
	if err := s.store.Mutate(ctx, sc, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{Events: []registry.Event{event("deleted", rt)}}, nil
	}); err != nil {
		return nil, fmt.Errorf("unregister runtime %s: %w", id, err)
	}
	return rt, nil
}

// Get returns runtime id of the calling tenant; a runtime caller sees only itself.
func (s *Service) Get(ctx context.Context, id string) (*model.Runtime, error) {
	if !access.RuntimeVisible(ctx, id) {
		return nil, apperr.NotFound("runtime", id)
	}
	return s.objs.Get(ctx, id)
}

// List returns a page of the tenant's runtimes matching filters; a runtime caller sees only itself.
func (s *Service) List(ctx context.Context, filters []*model.LabelFilter, first int, after string) (*model.RuntimePage, error) {
	if caller := access.Caller(ctx); caller.ConsumerType == identity.ConsumerRuntime {
		page := &model.RuntimePage{Data: []*model.Runtime{}, PageInfo: model.NewPageInfo(after, "", false)}
		if rt, err := s.Get(ctx, caller.Subject); err == nil && after == "" && first > 0 && len(filters) == 0 {
			page.Data, page.TotalCount = append(page.Data, rt), 1
		}
		return page, nil
	}
	p, err := s.objs.List(ctx, filters, first, after)
	if err != nil {
		return nil, err
	}
	return &model.RuntimePage{Data: p.Data, PageInfo: p.PageInfo, TotalCount: p.Total}, nil
}

// SetLabel sets one label of a runtime (and applies the scenario assignments it may now match).
func (s *Service) SetLabel(ctx context.Context, id, key string, value any) (*model.Label, error) {
	return s.objs.SetLabel(ctx, id, key, value)
}

// DeleteLabel removes one label of a runtime.
func (s *Service) DeleteLabel(ctx context.Context, id, key string) (*model.Label, error) {
	return s.objs.DeleteLabel(ctx, id, key)
}

// Scenarios returns the scenarios runtime id is in.
func (s *Service) Scenarios(ctx context.Context, id string) ([]string, error) {
	rt, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return label.Strings(rt.Labels[label.ScenariosKey]), nil
}

// assign recomputes rt's scenarios from asas: the scenarios it has not from an assignment (set by a user)
// stay, and the assignments whose selector its labels match add theirs; the scenarios an assignment gave
// earlier and no longer gives go. It reports whether the scenarios changed.
func assign(rt *model.Runtime, asas []*model.AutomaticScenarioAssignment) bool {
	current, had := rt.Labels[label.ScenariosKey]
	old := label.Strings(current)
	scenarios := slices.DeleteFunc(slices.Clone(old), func(s string) bool { return slices.Contains(rt.AssignedScenarios, s) })
	var assigned []string
	for _, a := range asas {
		if want, ok := a.Selector.Value.(string); ok && matches(rt.Labels[a.Selector.Key], want) && !slices.Contains(scenarios, a.ScenarioName) {
			scenarios = append(scenarios, a.ScenarioName)
			assigned = append(assigned, a.ScenarioName)
		}
	}
	changed := !slices.Equal(old, scenarios) || !slices.Equal(rt.AssignedScenarios, assigned)
	rt.AssignedScenarios = assigned
	switch {
	case len(scenarios) > 0 && !slices.Equal(old, scenarios):
		if rt.Labels == nil {
			rt.Labels = map[string]any{}
		}
		rt.Labels[label.ScenariosKey] = label.StringList(scenarios)
	case len(scenarios) == 0 && had && len(old) > 0:
		// Every scenario came from assignments that no longer match.
		delete(rt.Labels, label.ScenariosKey)
	}
	return changed
}

// matches reports whether a label value selects: a string equal to want, or a list with an element equal
// to it.
func matches(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return v == want
	case []any:
		return slices.Contains(v, any(want))
	}
	return false
}

// applyAssignments runs after every label change of a runtime.
func (s *Service) applyAssignments(ctx context.Context, rt *model.Runtime) error {
	asas, err := s.assignments(ctx)
	if err != nil {
		return err
	}
	probe := *rt
	probe.Labels = maps.Clone(rt.Labels)
	if !assign(&probe, asas) {
		return nil
	}
	_, err = s.objs.Update(ctx, rt.ID, func(cur *model.Runtime) ([]registry.Event, error) {
		assign(cur, asas)
		return []registry.Event{event("updated", cur)}, nil
	})
	return err
}
