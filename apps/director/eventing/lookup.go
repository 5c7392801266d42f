package eventing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Registry kinds read by Lookup. They are spelled out rather than imported so that eventing does not
// depend on the packages that own applications and runtimes.
const (
	applicationKind = "application"
	runtimeKind     = "runtime"
)

// Reader reads entities and walks indexes; *registry.Registry implements it.
type Reader interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(id string, data []byte) error) error
	List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error)
}

// Lookup reads applications and runtimes of the caller's tenant straight from the registry. It implements
// Applications and Runtimes.
type Lookup struct {
	store Reader
}

// NewLookup returns a Lookup over store.
func NewLookup(store Reader) *Lookup { return &Lookup{store: store} }

// Application implements Applications.
func (l *Lookup) Application(ctx context.Context, id string) (*model.Application, error) {
	var app model.Application
	if err := l.get(ctx, applicationKind, id, &app); err != nil {
		return nil, err
	}
	return &app, nil
}

// RuntimeLabels implements Runtimes.
func (l *Lookup) RuntimeLabels(ctx context.Context, id string) (map[string]any, error) {
	var rt struct {
		Labels map[string]any `json:"labels"`
	}
	if err := l.get(ctx, runtimeKind, id, &rt); err != nil {
		return nil, err
	}
	return rt.Labels, nil
}

// OldestInScenarios implements Runtimes. It reads the ids of every runtime in the scenarios and then those
// runtimes, so its cost grows with the runtimes the scenarios hold: a tenant has few runtimes.
func (l *Lookup) OldestInScenarios(ctx context.Context, scenarios []string) (string, map[string]any, error) {
	sc, err := registry.TenantScope(ctx, runtimeKind)
	if err != nil {
		return "", nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, name := range scenarios {
		index := label.Filter{Key: label.ScenariosKey, HasValue: true, Element: true, Value: name}.Index()
		for cursor := ""; ; {
			p, err := l.store.List(ctx, sc, index, label.MaxPageSize, cursor)
			if err != nil {
				return "", nil, fmt.Errorf("runtimes in scenario %s: %w", name, err)
			}
			for _, id := range p.IDs {
				if !seen[id] {
					seen[id], ids = true, append(ids, id)
				}
			}
			if !p.HasNextPage {
				break
			}
			cursor = p.EndCursor
		}
	}
	var (
		oldest       model.Runtime
		oldestLabels map[string]any
	)
	err = l.store.GetMany(ctx, sc, ids, func(id string, data []byte) error {
		var rt model.Runtime
		if err := json.Unmarshal(data, &rt); err != nil {
			return fmt.Errorf("decode runtime %s: %w", id, err)
		}
		if rt.Metadata == nil {
			rt.Metadata = &model.RuntimeMetadata{}
		}
		// Oldest by registration, as Compass's GetOldestForFilters; the id breaks ties, so that the choice
		// does not depend on the order of the indexes.
		if oldestLabels == nil || rt.Metadata.CreationTimestamp.Before(oldest.Metadata.CreationTimestamp) ||
			(rt.Metadata.CreationTimestamp.Equal(oldest.Metadata.CreationTimestamp) && rt.ID < oldest.ID) {
			oldest, oldestLabels = rt, rt.Labels
			if oldestLabels == nil {
				oldestLabels = map[string]any{}
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("read runtimes in scenarios %v: %w", scenarios, err)
	}
	return oldest.ID, oldestLabels, nil
}

func (l *Lookup) get(ctx context.Context, kind, id string, out any) error {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return err
	}
	if err := l.store.Get(ctx, sc, id, out); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return apperr.NotFound(kind, id)
		}
		return fmt.Errorf("read %s %s: %w", kind, id, err)
	}
	return nil
}
