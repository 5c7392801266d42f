// Package application is the Director's domain logic for applications: validation, tenancy and storage
// through the registry.
package application

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of applications.
const Kind = "application"

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(id string, data []byte) error) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
	List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error)
}

// Service manages the applications of the calling tenant.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a service storing applications in store.
func NewService(store Store) *Service {
	return &Service{store: store, now: time.Now}
}

var (
	namePattern     = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,35}$`)
	labelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,256}$`)
)

func scope(ctx context.Context) (registry.Scope, error) { return registry.TenantScope(ctx, Kind) }

// nameIndex is the unique key that keeps application names unique within a tenant.
func nameIndex(name string) string { return "name:" + name }

// Register validates in and stores a new application.
func (s *Service) Register(ctx context.Context, in model.ApplicationRegisterInput) (*model.Application, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	app, err := s.fromInput(in)
	if err != nil {
		return nil, err
	}
	err = s.store.Mutate(ctx, sc, app.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("application id %s: %w", app.ID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: app, Unique: []string{nameIndex(app.Name)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.New(apperr.CodeAlreadyExists, "an application named %q already exists", app.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("register application: %w", err)
	}
	return app, nil
}

func (s *Service) fromInput(in model.ApplicationRegisterInput) (*model.Application, error) {
	if !namePattern.MatchString(in.Name) {
		return nil, apperr.Invalid("name %q: use up to 36 lower case letters, digits, '-' and '.', starting with a letter", in.Name)
	}
	if in.ProviderName != nil && len(*in.ProviderName) > 256 {
		return nil, apperr.Invalid("providerName: at most 256 characters")
	}
	if in.Description != nil && len(*in.Description) > 2000 {
		return nil, apperr.Invalid("description: at most 2000 characters")
	}
	if in.HealthCheckURL != nil {
		if err := validURL(*in.HealthCheckURL, 256); err != nil {
			return nil, apperr.Invalid("healthCheckURL: %v", err)
		}
	}
	if len(in.Bundles) > 0 {
		return nil, apperr.New(apperr.CodeNotImplemented, "bundles cannot be registered yet")
	}
	labels, err := validLabels(in.Labels)
	if err != nil {
		return nil, err
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
		if err := validURL(w.URL, 256); err != nil {
			return nil, apperr.Invalid("webhooks[%d].url: %v", i, err)
		}
		auth, err := model.AuthFromInput(w.Auth)
		if err != nil {
			return nil, apperr.Invalid("webhooks[%d].auth: %v", i, err)
		}
		app.Webhooks = append(app.Webhooks, &model.Webhook{
			ID: uuid.NewString(), ApplicationID: app.ID, Type: w.Type, URL: w.URL, Auth: auth,
		})
	}
	return app, nil
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

func validLabels(in map[string]any) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		if !labelKeyPattern.MatchString(k) {
			return nil, apperr.Invalid("label key %q: use letters, digits and underscores", k)
		}
		if v == nil {
			return nil, apperr.Invalid("label %q: value must not be null", k)
		}
		out[k] = v
	}
	return out, nil
}

// Get returns the application id of the calling tenant.
func (s *Service) Get(ctx context.Context, id string) (*model.Application, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	var app model.Application
	if err := s.store.Get(ctx, sc, id, &app); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("application", id)
		}
		return nil, err
	}
	return &app, nil
}

// List returns a page of the calling tenant's applications, oldest first.
func (s *Service) List(ctx context.Context, first int, after string) (*model.ApplicationPage, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	apps, p, err := registry.ListAs[model.Application](ctx, s.store, sc, registry.IndexAll, first, after)
	if errors.Is(err, registry.ErrInvalidCursor) {
		return nil, apperr.Invalid("after: not a cursor this API handed out")
	}
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return &model.ApplicationPage{
		Data:       apps,
		TotalCount: int(p.TotalCount),
		PageInfo:   &model.PageInfo{StartCursor: after, EndCursor: p.EndCursor, HasNextPage: p.HasNextPage},
	}, nil
}
