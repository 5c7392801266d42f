package runtimes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// AssignmentKind is the registry kind of automatic scenario assignments; the id is the scenario name, as
// a scenario has at most one assignment.
const AssignmentKind = "scenarioassignment"

func decode(raw []byte) (*model.Runtime, error) {
	var rt model.Runtime
	if err := json.Unmarshal(raw, &rt); err != nil {
		return nil, fmt.Errorf("decode runtime: %w", err)
	}
	return &rt, nil
}

// assignments returns every assignment of the tenant. Tenants have a handful, one per scenario at most.
func (s *Service) assignments(ctx context.Context) ([]*model.AutomaticScenarioAssignment, error) {
	sc, err := registry.TenantScope(ctx, AssignmentKind)
	if err != nil {
		return nil, err
	}
	var out []*model.AutomaticScenarioAssignment
	after := ""
	for {
		page, p, err := registry.ListAs[model.AutomaticScenarioAssignment](ctx, s.store, sc, registry.IndexAll, label.MaxPageSize, after)
		if err != nil {
			return nil, fmt.Errorf("list scenario assignments: %w", err)
		}
		out = append(out, page...)
		if !p.HasNextPage {
			return out, nil
		}
		after = p.EndCursor
	}
}

// CreateAssignment stores an assignment and puts the runtimes it selects into its scenario.
func (s *Service) CreateAssignment(ctx context.Context, in model.AutomaticScenarioAssignmentSetInput) (*model.AutomaticScenarioAssignment, error) {
	sc, err := registry.TenantScope(ctx, AssignmentKind)
	if err != nil {
		return nil, err
	}
	if in.Selector == nil || !label.ValidKey(in.Selector.Key) {
		return nil, apperr.Invalid("selector: a label key of letters, digits, '_', '-' and '.' is required")
	}
	scenarios, err := s.defs.Scenarios(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(scenarios, in.ScenarioName) {
		return nil, apperr.Invalid("scenario %q is not defined in the tenant (see the scenarios label definition)", in.ScenarioName)
	}
	asa := &model.AutomaticScenarioAssignment{ScenarioName: in.ScenarioName, Selector: &model.Label{Key: in.Selector.Key, Value: in.Selector.Value}}
	err = s.store.Mutate(ctx, sc, in.ScenarioName, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, apperr.New(apperr.CodeAlreadyExists, "scenario %q already has an assignment", in.ScenarioName)
		}
		return registry.Change{Data: asa, Indexes: []string{selectorIndex(in.Selector.Key, in.Selector.Value)}}, nil
	})
	if err != nil {
		return nil, err
	}
	all, err := s.assignments(ctx)
	if err != nil {
		return nil, err
	}
	err = s.eachSelected(ctx, asa, func(rt *model.Runtime) error {
		_, err := s.objs.Update(ctx, rt.ID, func(cur *model.Runtime) ([]registry.Event, error) {
			if !assign(cur, all) {
				return nil, nil
			}
			return []registry.Event{event("updated", cur)}, nil
		})
		return err
	})
	return asa, err
}

func selectorIndex(key, value string) string {
	return label.Filter{Key: key, HasValue: true, Value: value}.Index()
}

// eachSelected calls fn with every runtime whose labels match the assignment's selector.
func (s *Service) eachSelected(ctx context.Context, asa *model.AutomaticScenarioAssignment, fn func(*model.Runtime) error) error {
	sc, err := registry.TenantScope(ctx, Kind)
	if err != nil {
		return err
	}
	// A string label equal to the value, or a list label with an element equal to it.
	value := fmt.Sprint(asa.Selector.Value)
	var ids []string
	for _, index := range []string{selectorIndex(asa.Selector.Key, value), label.Filter{Key: asa.Selector.Key, HasValue: true, Element: true, Value: value}.Index()} {
		after := ""
		for {
			p, err := s.store.List(ctx, sc, index, label.MaxPageSize, after)
			if err != nil {
				return err
			}
			ids = append(ids, p.IDs...)
			if !p.HasNextPage {
				break
			}
			after = p.EndCursor
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		rt, err := s.objs.Get(ctx, id)
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(rt); err != nil {
			return err
		}
	}
	return nil
}

// AssignmentForScenario returns the assignment of a scenario.
func (s *Service) AssignmentForScenario(ctx context.Context, scenario string) (*model.AutomaticScenarioAssignment, error) {
	sc, err := registry.TenantScope(ctx, AssignmentKind)
	if err != nil {
		return nil, err
	}
	var asa model.AutomaticScenarioAssignment
	if err := s.store.Get(ctx, sc, scenario, &asa); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("scenario assignment", scenario)
		}
		return nil, err
	}
	return &asa, nil
}

// AssignmentsForSelector returns the assignments whose selector is exactly the given label.
func (s *Service) AssignmentsForSelector(ctx context.Context, sel model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	all, err := s.assignments(ctx)
	if err != nil {
		return nil, err
	}
	out := []*model.AutomaticScenarioAssignment{}
	for _, a := range all {
		if a.Selector.Key == sel.Key && a.Selector.Value == sel.Value {
			out = append(out, a)
		}
	}
	return out, nil
}

// Assignments returns a page of the tenant's assignments.
func (s *Service) Assignments(ctx context.Context, first int, after string) (*model.AutomaticScenarioAssignmentPage, error) {
	sc, err := registry.TenantScope(ctx, AssignmentKind)
	if err != nil {
		return nil, err
	}
	p, err := label.List(ctx, s.store, sc, nil, first, after, func(*model.AutomaticScenarioAssignment) map[string]any { return nil })
	if err != nil {
		return nil, err
	}
	return &model.AutomaticScenarioAssignmentPage{Data: p.Data, PageInfo: p.PageInfo, TotalCount: p.Total}, nil
}

// DeleteAssignmentForScenario removes a scenario's assignment and takes the scenario away from the
// runtimes it selected.
func (s *Service) DeleteAssignmentForScenario(ctx context.Context, scenario string) (*model.AutomaticScenarioAssignment, error) {
	asa, err := s.AssignmentForScenario(ctx, scenario)
	if err != nil {
		return nil, err
	}
	// The assignment goes first: runtimes re-apply the assignments that exist after every label change.
	sc, _ := registry.TenantScope(ctx, AssignmentKind)
	if err := s.store.Mutate(ctx, sc, scenario, "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		return nil, fmt.Errorf("delete scenario assignment %s: %w", scenario, err)
	}
	// The runtimes it selected lose the scenario, unless a user gave it to them.
	rest, err := s.assignments(ctx)
	if err != nil {
		return nil, err
	}
	err = s.eachSelected(ctx, asa, func(rt *model.Runtime) error {
		_, err := s.objs.Update(ctx, rt.ID, func(cur *model.Runtime) ([]registry.Event, error) {
			if !assign(cur, rest) {
				return nil, nil
			}
			return []registry.Event{event("updated", cur)}, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return asa, nil
}

// DeleteAssignmentsForSelector removes every assignment with exactly this selector.
func (s *Service) DeleteAssignmentsForSelector(ctx context.Context, sel model.LabelSelectorInput) ([]*model.AutomaticScenarioAssignment, error) {
	asas, err := s.AssignmentsForSelector(ctx, sel)
	if err != nil {
		return nil, err
	}
	for _, a := range asas {
		if _, err := s.DeleteAssignmentForScenario(ctx, a.ScenarioName); err != nil {
			return nil, err
		}
	}
	return asas, nil
}
