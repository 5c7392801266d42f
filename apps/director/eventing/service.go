// Package eventing decides where an application delivers its events: the eventing endpoint of a runtime
// chosen as the application's default or, without one, of the oldest runtime sharing a scenario with it,
// as in Compass. The choice is stored per tenant; the URL is built when asked for, from the runtime's
// labels, so it follows changes to them.
package eventing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/director/appname"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of default eventing settings; the id is the application id.
const Kind = "eventing"

// EventServiceURLLabel is the runtime label holding the runtime's events endpoint.
const EventServiceURLLabel = "runtime_eventServiceUrl"

const scenariosLabel = "scenarios"

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Applications reads the caller's applications. Unknown ids give a NOT_FOUND error.
type Applications interface {
	Application(ctx context.Context, id string) (*model.Application, error)
}

// Runtimes reads the labels of the caller's runtimes. Unknown ids give a NOT_FOUND error.
type Runtimes interface {
	RuntimeLabels(ctx context.Context, id string) (map[string]any, error)
	// OldestInScenarios returns the id and labels of the first registered runtime in any of scenarios; an
	// empty id when there is none.
	OldestInScenarios(ctx context.Context, scenarios []string) (id string, labels map[string]any, err error)
}

// setting is what is stored per application.
type setting struct {
	AppID     string `json:"appID"`
	RuntimeID string `json:"runtimeID"`
}

// Service manages the default eventing of the calling tenant's applications.
type Service struct {
	store    Store
	apps     Applications
	runtimes Runtimes
}

// NewService returns a service keeping settings in store and reading applications and runtimes through
// apps and runtimes (a *Lookup serves both).
func NewService(store Store, apps Applications, runtimes Runtimes) *Service {
	return &Service{store: store, apps: apps, runtimes: runtimes}
}

func scope(ctx context.Context) (registry.Scope, error) { return registry.TenantScope(ctx, Kind) }

// SetDefault makes runtimeID the default receiver of application appID's events. The two must share a
// scenario.
func (s *Service) SetDefault(ctx context.Context, appID, runtimeID string) (*model.ApplicationEventingConfiguration, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	if appID == "" {
		return nil, apperr.Invalid("appID: required")
	}
	if runtimeID == "" {
		return nil, apperr.Invalid("runtimeID: required")
	}
	app, err := s.apps.Application(ctx, appID)
	if err != nil {
		return nil, err
	}
	labels, err := s.runtimes.RuntimeLabels(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	if !shareScenario(app.Labels, labels) {
		return nil, apperr.Invalid("runtimeID: runtime %q shares no scenario with application %q", runtimeID, appID)
	}
	set := setting{AppID: appID, RuntimeID: runtimeID}
	err = s.store.Mutate(ctx, sc, appID, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: set}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("set default eventing of application %s: %w", appID, err)
	}
	return configuration(app, labels), nil
}

// DeleteDefault removes application appID's default event receiver and returns the configuration it gave;
// without one, an empty URL (as Compass, which did not report the fallback here).
func (s *Service) DeleteDefault(ctx context.Context, appID string) (*model.ApplicationEventingConfiguration, error) {
	if appID == "" {
		return nil, apperr.Invalid("appID: required")
	}
	app, err := s.apps.Application(ctx, appID)
	if err != nil {
		return nil, err
	}
	_, labels, err := s.chosen(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	if err := s.Forget(ctx, appID); err != nil {
		return nil, err
	}
	return configuration(app, labels), nil
}

// Forget drops application appID's setting, if any, without checking that the application exists: for
// the application's own removal.
func (s *Service) Forget(ctx context.Context, appID string) error {
	sc, err := scope(ctx)
	if err != nil {
		return err
	}
	err = s.store.Mutate(ctx, sc, appID, "", func([]byte) (registry.Change, error) {
		return registry.Change{}, nil
	})
	if err != nil {
		return fmt.Errorf("delete default eventing of application %s: %w", appID, err)
	}
	return nil
}

// ForApplication returns app's eventing configuration. The receiver is its default runtime while the two
// share a scenario; otherwise, as in Compass, the oldest runtime sharing a scenario with it. The URL is
// empty without such a runtime, or when the runtime has no events endpoint.
//
// Unlike Compass, reading never writes: Compass stored the fallback it found as the new default (and
// dropped a default that no longer shared a scenario), so that its answer depended on whether someone had
// asked before. Here the answer follows from the current runtimes and labels alone, and a default that
// shares a scenario again is the receiver again.
func (s *Service) ForApplication(ctx context.Context, app *model.Application) (*model.ApplicationEventingConfiguration, error) {
	id, labels, err := s.chosen(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	if id != "" && shareScenario(app.Labels, labels) {
		return configuration(app, labels), nil
	}
	scenarios := scenarios(app.Labels)
	if len(scenarios) == 0 {
		return configuration(app, nil), nil
	}
	if _, labels, err = s.runtimes.OldestInScenarios(ctx, scenarios); err != nil {
		return nil, fmt.Errorf("eventing of application %s: %w", app.ID, err)
	}
	return configuration(app, labels), nil
}

// chosen returns the id and labels of application appID's default runtime; an empty id when it has none
// or the runtime is gone.
func (s *Service) chosen(ctx context.Context, appID string) (string, map[string]any, error) {
	sc, err := scope(ctx)
	if err != nil {
		return "", nil, err
	}
	var set setting
	if err := s.store.Get(ctx, sc, appID, &set); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return "", nil, nil
		}
		return "", nil, fmt.Errorf("read default eventing of application %s: %w", appID, err)
	}
	labels, err := s.runtimes.RuntimeLabels(ctx, set.RuntimeID)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return set.RuntimeID, labels, nil
}

// ForRuntime returns rt's eventing configuration: its events endpoint as its label gives it, or an empty URL
// when the label is missing (or not a string), as in Compass.
func (s *Service) ForRuntime(rt *model.Runtime) *model.RuntimeEventingConfiguration {
	return &model.RuntimeEventingConfiguration{DefaultURL: eventServiceURL(rt.Labels)}
}

// eventServiceURL is a runtime's events endpoint, empty when it has none.
func eventServiceURL(runtimeLabels map[string]any) string {
	base, _ := runtimeLabels[EventServiceURLLabel].(string)
	return base
}

// configuration builds the URL as Compass does: <eventServiceUrl>/<application name>/v1/events, the name
// as the runtime sees it (normalized unless the runtime's isNormalized label says otherwise). Without a
// runtime (nil labels) or an endpoint, the URL is empty.
func configuration(app *model.Application, runtimeLabels map[string]any) *model.ApplicationEventingConfiguration {
	base := eventServiceURL(runtimeLabels)
	if base == "" {
		return &model.ApplicationEventingConfiguration{DefaultURL: ""}
	}
	name := appname.ForRuntime(app.RegisteredName(), runtimeLabels)
	return &model.ApplicationEventingConfiguration{
		DefaultURL: strings.TrimSuffix(base, "/") + "/" + url.PathEscape(name) + "/v1/events",
	}
}

// shareScenario reports whether two label sets have a scenario in common. As in Compass, an object without
// a scenarios label is in no scenario (applications registered without one are given DEFAULT on the way in).
func shareScenario(a, b map[string]any) bool {
	sa, sb := scenarios(a), scenarios(b)
	return slices.ContainsFunc(sa, func(s string) bool { return slices.Contains(sb, s) })
}

func scenarios(labels map[string]any) []string {
	var out []string
	switch v := labels[scenariosLabel].(type) {
	case []string:
		out = v
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = []string{v}
	}
	return out
}
