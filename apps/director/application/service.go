// Package application is the Director's domain logic for applications: validation, labels and scenarios,
// webhooks, tenancy and storage through the registry.
package application

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/appname"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of applications.
const Kind = "application"

// MaxPageSize is the largest page a list returns.
const MaxPageSize = label.MaxPageSize

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	label.Store
	Owner(ctx context.Context, s registry.Scope, key string) (string, error)
}

// Parts are the things an application owns that live in other packages (bundles, for instance): they are
// created with it and removed with it.
type Parts interface {
	ValidateForApplication(in []*model.BundleCreateInput) error
	CreateForApplication(ctx context.Context, appID string, in []*model.BundleCreateInput) error
	DeleteForApplication(ctx context.Context, appID string) error
}

// Service manages the applications of the calling tenant.
type Service struct {
	store Store
	defs  *label.Definitions
	objs  *label.Objects[model.Application, *model.Application]
	parts Parts
	now   func() time.Time
	// runtimeScenarios tells which scenarios a runtime caller is in (see access.ApplicationVisible).
	runtimeScenarios access.ScenarioSource
	// hide keeps applications out of applicationsForRuntime (see ForRuntime).
	hide HideSelectors
}

// NewService returns a service storing applications in store and checking labels against defs.
func NewService(store Store, defs *label.Definitions) *Service {
	s := &Service{store: store, defs: defs, now: time.Now}
	s.objs = &label.Objects[model.Application, *model.Application]{Kind: Kind, Noun: "application", Store: store, Defs: defs}
	defs.AddHolder(s.objs)
	return s
}

// SetRuntimeScenarios connects the source of runtimes' scenarios, which decides what runtime callers see.
func (s *Service) SetRuntimeScenarios(src access.ScenarioSource) { s.runtimeScenarios = src }

// SetParts connects the owner of the application's bundles.
func (s *Service) SetParts(p Parts) { s.parts = p }

// maxNameLength is Compass's limit on application names, in characters.
const maxNameLength = 36

func scope(ctx context.Context) (registry.Scope, error) { return registry.TenantScope(ctx, Kind) }

// event announces a change of app on topic application.<verb>.
func event(verb string, app *model.Application) registry.Event {
	return registry.Event{Topic: "application." + verb, Data: app}
}

// Unique keys held by an application: its normalized name and its webhooks' ids (to find the application
// of a webhook). The name is claimed in its normalized form, as Compass checked it: runtimes see
// normalized names, so "app@shop" and "App Shop" (both mp-app-shop) cannot both exist in a tenant.
// Applications stored before names were free-form hold "name:<name>" instead, until their next change of
// webhooks claims the normalized key: until then a new name that normalizes like one of theirs ("Shop"
// next to an old "shop") is not refused. There is no migration; `make reset` or re-registering clears it.
func nameKey(name string) string  { return "name:" + appname.Normalize(name) }
func webhookKey(id string) string { return "webhook:" + id }

func indexes(app *model.Application) []string {
	return append(label.Indexes(app.Labels), app.ExtraIndexes()...)
}

func uniqueKeys(app *model.Application) []string {
	keys := []string{nameKey(app.Name)}
	for _, w := range app.Webhooks {
		keys = append(keys, webhookKey(w.ID))
	}
	return keys
}

// Register validates in and stores a new application, with its bundles when given.
func (s *Service) Register(ctx context.Context, in model.ApplicationRegisterInput) (*model.Application, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	app, err := s.fromInput(in)
	if err != nil {
		return nil, err
	}
	if err := s.checkIntegrationSystem(ctx, in.IntegrationSystemID); err != nil {
		return nil, err
	}
	if len(in.Bundles) > 0 {
		if s.parts == nil {
			return nil, apperr.New(apperr.CodeNotImplemented, "bundles cannot be registered here")
		}
		if err := s.parts.ValidateForApplication(in.Bundles); err != nil {
			return nil, err
		}
	}
	if err := s.defs.Validate(ctx, app.Labels); err != nil {
		return nil, err
	}
	err = s.store.Mutate(ctx, sc, app.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("application id %s: %w", app.ID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: app, Indexes: indexes(app), Unique: uniqueKeys(app), Events: []registry.Event{event("created", app)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.NameNotUnique("an application named %q (or named the same once normalized, %q) already exists", app.Name, appname.Normalize(app.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("register application: %w", err)
	}
	if len(in.Bundles) > 0 {
		if err := s.parts.CreateForApplication(ctx, app.ID, in.Bundles); err != nil {
			// Bundles are validated before anything is written, so this is a storage failure: take the
			// application back rather than leave it half registered.
			if _, uerr := s.Unregister(ctx, app.ID); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return nil, err
		}
	}
	return app, nil
}

func (s *Service) fromInput(in model.ApplicationRegisterInput) (*model.Application, error) {
	// Free-form, as in Compass: runtimes that want a safe name see the normalized one (package appname).
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > maxNameLength {
		return nil, apperr.Invalid("name %q: use 1 to %d characters", in.Name, maxNameLength)
	}
	if err := checkFields(in.ProviderName, in.Description, in.HealthCheckURL); err != nil {
		return nil, err
	}
	labels, err := normalizeLabels(in.Labels)
	if err != nil {
		return nil, err
	}
	// Applications without a scenario join the tenant's default one.
	if _, ok := labels[label.ScenariosKey]; !ok {
		labels[label.ScenariosKey] = []any{label.DefaultScenario}
	}
	now := s.now().UTC()
	app := &model.Application{
		ID:                  uuid.NewString(),
		Name:                in.Name,
		ProviderName:        in.ProviderName,
		Description:         in.Description,
		IntegrationSystemID: in.IntegrationSystemID,
		Labels:              labels,
		HealthCheckURL:      in.HealthCheckURL,
		Status:              &model.ApplicationStatus{Condition: model.ApplicationStatusConditionInitial, Timestamp: now},
		CreatedAt:           now,
	}
	if in.StatusCondition != nil {
		if !in.StatusCondition.IsValid() {
			return nil, apperr.Invalid("statusCondition %q is not valid", *in.StatusCondition)
		}
		app.Status.Condition = *in.StatusCondition
	}
	for i, w := range in.Webhooks {
		wh, err := webhookFromInput(app.ID, w)
		if err != nil {
			return nil, apperr.Invalid("webhooks[%d]: %v", i, err)
		}
		app.Webhooks = append(app.Webhooks, wh)
	}
	return app, nil
}

func checkFields(providerName, description, healthCheckURL *string) error {
	if providerName != nil && len(*providerName) > 256 {
		return apperr.Invalid("providerName: at most 256 characters")
	}
	if description != nil && len(*description) > 2000 {
		return apperr.Invalid("description: at most 2000 characters")
	}
	if healthCheckURL != nil {
		if err := validURL(*healthCheckURL, 256); err != nil {
			return apperr.Invalid("healthCheckURL: %v", err)
		}
	}
	return nil
}

func webhookFromInput(appID string, w *model.WebhookInput) (*model.Webhook, error) {
	if !w.Type.IsValid() {
		return nil, fmt.Errorf("type %q is not valid", w.Type)
	}
	if err := validURL(w.URL, 256); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	auth, err := model.AuthFromInput(w.Auth)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &model.Webhook{ID: uuid.NewString(), ApplicationID: appID, Type: w.Type, URL: w.URL, Auth: auth}, nil
}

func validURL(raw string, maxLen int) error {
	if len(raw) > maxLen {
		return fmt.Errorf("at most %d characters", maxLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return nil
}

func normalizeLabels(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if !label.ValidKey(k) {
			return nil, apperr.Invalid("label key %q: use letters, digits, '_', '-' and '.'", k)
		}
		n, err := label.Normalize(v)
		if err != nil || n == nil {
			return nil, apperr.Invalid("label %q: value must be a non-null JSON value", k)
		}
		out[k] = n
	}
	return out, nil
}

// Get returns the application id of the calling tenant; a caller that may not see it is refused
// (access.NotAllowed).
func (s *Service) Get(ctx context.Context, id string) (*model.Application, error) {
	app, err := s.objs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	visible, err := access.ApplicationVisible(ctx, app, s.runtimeScenarios)
	if err != nil {
		return nil, err
	}
	if !visible {
		// Refused, as in Compass, rather than not found: the caller learns nothing of the application.
		return nil, access.NotAllowed()
	}
	return app, nil
}

// ByName finds the tenant's application with this name, compared as Compass compares names (normalized:
// "App Shop" finds "app-shop"). It reads the unique key every application holds, so it costs one read
// however many applications the tenant has; the caller sees it only where Get would show it.
func (s *Service) ByName(ctx context.Context, name string) (*model.Application, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, apperr.Invalid("name: required")
	}
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := s.store.Owner(ctx, sc, nameKey(name))
	if errors.Is(err, registry.ErrNotFound) {
		// Applications stored before names were normalized hold the name as it was given (see nameKey).
		id, err = s.store.Owner(ctx, sc, "name:"+name)
	}
	if errors.Is(err, registry.ErrNotFound) {
		return nil, apperr.NotFound("application", name)
	}
	if err != nil {
		return nil, fmt.Errorf("find application %q: %w", name, err)
	}
	return s.Get(ctx, id)
}

// List returns a page of the calling tenant's applications matching filters, oldest first. An application
// caller sees only itself, a runtime caller the applications sharing its scenarios.
func (s *Service) List(ctx context.Context, filters []*model.LabelFilter, first int, after string) (*model.ApplicationPage, error) {
	switch caller := access.Caller(ctx); caller.ConsumerType {
	case identity.ConsumerApplication:
		page := &model.ApplicationPage{Data: []*model.Application{}, PageInfo: model.NewPageInfo(after, "", false)}
		if app, err := s.Get(ctx, caller.Subject); err == nil && after == "" && first > 0 {
			page.Data, page.TotalCount = append(page.Data, app), 1
		} else if err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return nil, err
		}
		return page, nil
	case identity.ConsumerRuntime:
		if len(filters) > 0 {
			return nil, apperr.Invalid("filter: not available to runtime callers; they see the applications of their scenarios")
		}
		scenarios, err := s.runtimeScenarios(ctx, caller.Subject)
		if err != nil {
			return nil, err
		}
		return s.ForScenarios(ctx, scenarios, first, after)
	}
	p, err := s.objs.List(ctx, filters, first, after)
	if err != nil {
		return nil, err
	}
	return &model.ApplicationPage{Data: p.Data, PageInfo: p.PageInfo, TotalCount: p.Total}, nil
}

// Update changes an application's own fields. An application caller may update only itself
// (access.OwnApplication).
func (s *Service) Update(ctx context.Context, id string, in model.ApplicationUpdateInput) (*model.Application, error) {
	if err := access.OwnApplication(ctx, id); err != nil {
		return nil, err
	}
	if err := checkFields(in.ProviderName, in.Description, in.HealthCheckURL); err != nil {
		return nil, err
	}
	if in.StatusCondition != nil && !in.StatusCondition.IsValid() {
		return nil, apperr.Invalid("statusCondition %q is not valid", *in.StatusCondition)
	}
	if err := s.checkIntegrationSystem(ctx, in.IntegrationSystemID); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	return s.objs.Update(ctx, id, func(app *model.Application) ([]registry.Event, error) {
		// As in Compass, the update input replaces the application's own fields.
		app.ProviderName, app.Description = in.ProviderName, in.Description
		app.HealthCheckURL, app.IntegrationSystemID = in.HealthCheckURL, in.IntegrationSystemID
		if in.StatusCondition != nil && *in.StatusCondition != app.Status.Condition {
			app.Status = &model.ApplicationStatus{Condition: *in.StatusCondition, Timestamp: now}
		}
		return []registry.Event{event("updated", app)}, nil
	})
}

// Unregister removes an application with everything it owns and returns it.
func (s *Service) Unregister(ctx context.Context, id string) (*model.Application, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	app, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.parts != nil {
		if err := s.parts.DeleteForApplication(ctx, id); err != nil {
			return nil, fmt.Errorf("unregister application %s: %w", id, err)
		}
	}
	if err := s.store.Mutate(ctx, sc, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{Events: []registry.Event{event("deleted", app)}}, nil
	}); err != nil {
		return nil, fmt.Errorf("unregister application %s: %w", id, err)
	}
	return app, nil
}

// SetLabel sets one label of an application.
func (s *Service) SetLabel(ctx context.Context, id, key string, value any) (*model.Label, error) {
	return s.objs.SetLabel(ctx, id, key, value)
}

// DeleteLabel removes one label of an application.
func (s *Service) DeleteLabel(ctx context.Context, id, key string) (*model.Label, error) {
	return s.objs.DeleteLabel(ctx, id, key)
}

// ForScenarios returns a page of the applications in any of scenarios. Each application appears once:
// under the first of the scenarios it is in, which keeps the walk (and the cursor) simple.
func (s *Service) ForScenarios(ctx context.Context, scenarios []string, first int, after string) (*model.ApplicationPage, error) {
	return forScenarios(ctx, s.store, scenarios, first, after, nil)
}

// AddWebhook adds a webhook to an application. An application caller may add webhooks only to itself.
func (s *Service) AddWebhook(ctx context.Context, appID string, in model.WebhookInput) (*model.Webhook, error) {
	if err := access.OwnApplication(ctx, appID); err != nil {
		return nil, err
	}
	var wh *model.Webhook
	_, err := s.updateWithKeys(ctx, appID, func(app *model.Application) error {
		var err error
		if wh, err = webhookFromInput(app.ID, &in); err != nil {
			return apperr.Invalid("%v", err)
		}
		app.Webhooks = append(app.Webhooks, wh)
		return nil
	})
	return wh, err
}

// UpdateWebhook replaces a webhook's type, URL and auth.
func (s *Service) UpdateWebhook(ctx context.Context, webhookID string, in model.WebhookInput) (*model.Webhook, error) {
	return s.changeWebhook(ctx, webhookID, func(app *model.Application, i int) (*model.Webhook, error) {
		next, err := webhookFromInput(app.ID, &in)
		if err != nil {
			return nil, apperr.Invalid("%v", err)
		}
		next.ID = webhookID
		app.Webhooks[i] = next
		return next, nil
	})
}

// DeleteWebhook removes a webhook and returns it.
func (s *Service) DeleteWebhook(ctx context.Context, webhookID string) (*model.Webhook, error) {
	return s.changeWebhook(ctx, webhookID, func(app *model.Application, i int) (*model.Webhook, error) {
		wh := app.Webhooks[i]
		app.Webhooks = slices.Delete(app.Webhooks, i, i+1)
		return wh, nil
	})
}

// changeWebhook finds the application holding webhookID and lets fn change its webhook at index i; fn
// returns the webhook to answer with. An application caller may change only its own webhooks.
func (s *Service) changeWebhook(ctx context.Context, webhookID string, fn func(app *model.Application, i int) (*model.Webhook, error)) (*model.Webhook, error) {
	appID, err := s.webhookOwner(ctx, webhookID)
	if err != nil {
		return nil, err
	}
	if err := access.OwnApplication(ctx, appID); err != nil {
		return nil, err
	}
	var wh *model.Webhook
	_, err = s.updateWithKeys(ctx, appID, func(app *model.Application) error {
		i := slices.IndexFunc(app.Webhooks, func(w *model.Webhook) bool { return w.ID == webhookID })
		if i < 0 {
			return apperr.NotFound("webhook", webhookID)
		}
		var err error
		wh, err = fn(app, i)
		return err
	})
	return wh, err
}

func (s *Service) webhookOwner(ctx context.Context, webhookID string) (string, error) {
	sc, err := scope(ctx)
	if err != nil {
		return "", err
	}
	appID, err := s.store.Owner(ctx, sc, webhookKey(webhookID))
	if errors.Is(err, registry.ErrNotFound) {
		return "", apperr.NotFound("webhook", webhookID)
	}
	return appID, err
}

// updateWithKeys is Update for changes that alter the application's unique keys (its webhooks).
func (s *Service) updateWithKeys(ctx context.Context, id string, fn func(*model.Application) error) (*model.Application, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	var out *model.Application
	err = s.store.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("application", id)
		}
		app, err := decode(cur)
		if err != nil {
			return registry.Change{}, err
		}
		if err := fn(app); err != nil {
			return registry.Change{}, err
		}
		out = app
		return registry.Change{Data: app, Indexes: indexes(app), Unique: uniqueKeys(app), Events: []registry.Event{event("updated", app)}}, nil
	})
	return out, err
}

// EachWithHealthCheck calls fn with every application of the tenant that has a healthCheckURL.
func (s *Service) EachWithHealthCheck(ctx context.Context, fn func(*model.Application) error) error {
	sc, err := scope(ctx)
	if err != nil {
		return err
	}
	after := ""
	for {
		apps, p, err := registry.ListAs[model.Application](ctx, s.store, sc, model.HealthIndex, MaxPageSize, after)
		if err != nil {
			return fmt.Errorf("list applications to probe: %w", err)
		}
		for _, app := range apps {
			if err := fn(app); err != nil {
				return err
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

// SetStatus changes an application's status condition (the health prober follows its health check).
func (s *Service) SetStatus(ctx context.Context, id string, cond model.ApplicationStatusCondition) error {
	now := s.now().UTC()
	_, err := s.objs.Update(ctx, id, func(app *model.Application) ([]registry.Event, error) {
		app.Status = &model.ApplicationStatus{Condition: cond, Timestamp: now}
		return []registry.Event{event("updated", app)}, nil
	})
	return err
}
