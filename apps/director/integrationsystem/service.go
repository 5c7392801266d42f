// Package integrationsystem is the Director's domain logic for integration systems: external systems that
// manage applications on behalf of tenants. They belong to no tenant, so they live in the registry's global
// scope.
package integrationsystem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of integration systems.
const Kind = "integrationsystem"

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Service manages integration systems.
type Service struct {
	store Store
}

// NewService returns a service storing integration systems in store.
func NewService(store Store) *Service { return &Service{store: store} }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,35}$`)

var scope = registry.GlobalScope(Kind)

// nameKey is the unique key that keeps names unique across the management plane.
func nameKey(name string) string { return "name:" + name }

func validate(in model.IntegrationSystemInput) error {
	if !namePattern.MatchString(in.Name) {
		return apperr.Invalid("name %q: use up to 36 lower case letters, digits, '-' and '.', starting with a letter", in.Name)
	}
	if in.Description != nil && len(*in.Description) > 2000 {
		return apperr.Invalid("description: at most 2000 characters")
	}
	return nil
}

// Register validates in and stores a new integration system.
func (s *Service) Register(ctx context.Context, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	is := &model.IntegrationSystem{ID: uuid.NewString(), Name: in.Name, Description: in.Description}
	err := s.store.Mutate(ctx, scope, is.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("integration system id %s: %w", is.ID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: is, Unique: []string{nameKey(is.Name)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.NameNotUnique("an integration system named %q already exists", is.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("register integration system: %w", err)
	}
	return withAuths(is), nil
}

// Update replaces the name and description of integration system id.
func (s *Service) Update(ctx context.Context, id string, in model.IntegrationSystemInput) (*model.IntegrationSystem, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	is := &model.IntegrationSystem{ID: id, Name: in.Name, Description: in.Description}
	err := s.store.Mutate(ctx, scope, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("integration system", id)
		}
		return registry.Change{Data: is, Unique: []string{nameKey(is.Name)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, apperr.NameNotUnique("an integration system named %q already exists", is.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update integration system %s: %w", id, err)
	}
	return withAuths(is), nil
}

// Unregister deletes integration system id and returns it as it was.
func (s *Service) Unregister(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	var old model.IntegrationSystem
	err := s.store.Mutate(ctx, scope, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("integration system", id)
		}
		if err := json.Unmarshal(cur, &old); err != nil {
			return registry.Change{}, fmt.Errorf("decode integration system %s: %w", id, err)
		}
		return registry.Change{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("unregister integration system %s: %w", id, err)
	}
	return withAuths(&old), nil
}

// Get returns integration system id.
func (s *Service) Get(ctx context.Context, id string) (*model.IntegrationSystem, error) {
	var is model.IntegrationSystem
	if err := s.store.Get(ctx, scope, id, &is); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("integration system", id)
		}
		return nil, err
	}
	return withAuths(&is), nil
}

// List returns a page of integration systems, oldest first.
func (s *Service) List(ctx context.Context, first int, after string) (*model.IntegrationSystemPage, error) {
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	systems, p, err := registry.ListAs[model.IntegrationSystem](ctx, s.store, scope, registry.IndexAll, first, after)
	if errors.Is(err, registry.ErrInvalidCursor) {
		return nil, apperr.Invalid("after: not a cursor this API handed out")
	}
	if err != nil {
		return nil, fmt.Errorf("list integration systems: %w", err)
	}
	for _, is := range systems {
		withAuths(is)
	}
	return &model.IntegrationSystemPage{
		Data:       systems,
		TotalCount: int(p.TotalCount),
		PageInfo:   model.NewPageInfo(after, p.EndCursor, p.HasNextPage),
	}, nil
}

// withAuths answers auths with an empty list rather than null: the Connector will issue system auths and
// fill this in.
func withAuths(is *model.IntegrationSystem) *model.IntegrationSystem {
	if is.Auths == nil {
		is.Auths = []*model.SystemAuth{}
	}
	return is
}
