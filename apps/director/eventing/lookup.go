package eventing

import (
	"context"
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Registry kinds read by Lookup. They are spelled out rather than imported so that eventing does not
// depend on the packages that own applications and runtimes.
const (
	applicationKind = "application"
	runtimeKind     = "runtime"
)

// Getter reads one entity; *registry.Registry implements it.
type Getter interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
}

// Lookup reads applications and runtimes of the caller's tenant straight from the registry. It implements
// Applications and Runtimes.
type Lookup struct {
	store Getter
}

// NewLookup returns a Lookup over store.
func NewLookup(store Getter) *Lookup { return &Lookup{store: store} }

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
