// Package apptemplate is the Director's domain logic for application templates: application inputs with
// `{{name}}` placeholders, from which tenants register applications by filling in values. Templates are
// shared by every tenant (access level GLOBAL), so they live in the registry's global scope; the
// applications registered from them belong to the caller's tenant.
package apptemplate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of application templates.
const Kind = "applicationtemplate"

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Registrar registers the application built from a template; *application.Service implements it.
type Registrar interface {
	Register(ctx context.Context, in model.ApplicationRegisterInput) (*model.Application, error)
}

// Service manages application templates and registers applications from them.
type Service struct {
	store Store
	apps  Registrar
}

// NewService returns a service storing templates in store and registering applications through apps.
func NewService(store Store, apps Registrar) *Service {
	return &Service{store: store, apps: apps}
}

var (
	placeholderNamePattern = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,35}$`)
	// placeholderPattern finds placeholders in the stored application input. Only well-formed names count,
	// so other text in double braces stays literal.
	placeholderPattern = regexp.MustCompile(`\{\{([a-z][a-z0-9.-]{0,35})\}\}`)
	printableASCII     = regexp.MustCompile(`^[\x20-\x7e]{1,100}$`)
)

var scope = registry.GlobalScope(Kind)

// nameKey both claims a template's name (as a unique key) and finds the template by name (as an index of
// one member). Names may hold any printable ASCII, so they are escaped to stay clear of key separators.
func nameKey(name string) string { return "name:" + url.PathEscape(name) }

func (s *Service) fromInput(id string, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	if !printableASCII.MatchString(in.Name) {
		return nil, apperr.Invalid("name: use 1 to 100 printable ASCII characters")
	}
	if in.Description != nil && len(*in.Description) > 2000 {
		return nil, apperr.Invalid("description: at most 2000 characters")
	}
	if !in.AccessLevel.IsValid() {
		return nil, apperr.Invalid("accessLevel %q is not valid", in.AccessLevel)
	}
	if in.ApplicationInput == nil {
		return nil, apperr.Invalid("applicationInput: required")
	}
	appInput, err := encode(in.ApplicationInput)
	if err != nil {
		return nil, fmt.Errorf("encode application input: %w", err)
	}
	used := map[string]bool{}
	for _, m := range placeholderPattern.FindAllStringSubmatch(appInput, -1) {
		used[m[1]] = true
	}

	defs := make([]*model.PlaceholderDefinition, 0, len(in.Placeholders))
	declared := map[string]bool{}
	for i, p := range in.Placeholders {
		if p == nil {
			return nil, apperr.Invalid("placeholders[%d]: must not be null", i)
		}
		if !placeholderNamePattern.MatchString(p.Name) {
			return nil, apperr.Invalid("placeholders[%d].name %q: use up to 36 lower case letters, digits, '-' and '.', starting with a letter", i, p.Name)
		}
		if p.Description != nil && len(*p.Description) > 2000 {
			return nil, apperr.Invalid("placeholders[%d].description: at most 2000 characters", i)
		}
		if declared[p.Name] {
			return nil, apperr.Invalid("placeholders[%d].name: %q is declared more than once", i, p.Name)
		}
		if !used[p.Name] {
			return nil, apperr.Invalid("placeholders[%d].name: {{%s}} does not appear in applicationInput", i, p.Name)
		}
		declared[p.Name] = true
		defs = append(defs, &model.PlaceholderDefinition{Name: p.Name, Description: p.Description})
	}
	// An undeclared placeholder could never be given a value, so every registration would fail later.
	for _, m := range placeholderPattern.FindAllStringSubmatch(appInput, -1) {
		if !declared[m[1]] {
			return nil, apperr.Invalid("applicationInput: placeholder {{%s}} is not declared in placeholders", m[1])
		}
	}
	return &model.ApplicationTemplate{
		ID:               id,
		Name:             in.Name,
		Description:      in.Description,
		ApplicationInput: appInput,
		Placeholders:     defs,
		AccessLevel:      in.AccessLevel,
	}, nil
}

// encode returns v as compact JSON without HTML escaping, so that clients read back what they wrote.
func encode(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

func (s *Service) write(ctx context.Context, t *model.ApplicationTemplate, create bool) error {
	err := s.store.Mutate(ctx, scope, t.ID, "", func(cur []byte) (registry.Change, error) {
		if create && cur != nil {
			return registry.Change{}, fmt.Errorf("application template id %s: %w", t.ID, registry.ErrAlreadyExists)
		}
		if !create && cur == nil {
			return registry.Change{}, apperr.NotFound("application template", t.ID)
		}
		return registry.Change{Data: t, Indexes: []string{nameKey(t.Name)}, Unique: []string{nameKey(t.Name)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return apperr.NameNotUnique("an application template named %q already exists", t.Name)
	}
	return err
}

// Create validates in and stores a new template.
func (s *Service) Create(ctx context.Context, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	t, err := s.fromInput(uuid.NewString(), in)
	if err != nil {
		return nil, err
	}
	if err := s.write(ctx, t, true); err != nil {
		return nil, fmt.Errorf("create application template: %w", err)
	}
	return present(t)
}

// Update replaces template id. Applications registered from it earlier do not change.
func (s *Service) Update(ctx context.Context, id string, in model.ApplicationTemplateInput) (*model.ApplicationTemplate, error) {
	t, err := s.fromInput(id, in)
	if err != nil {
		return nil, err
	}
	if err := s.write(ctx, t, false); err != nil {
		return nil, fmt.Errorf("update application template %s: %w", id, err)
	}
	return present(t)
}

// Delete removes template id and returns it as it was.
func (s *Service) Delete(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	var old model.ApplicationTemplate
	err := s.store.Mutate(ctx, scope, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("application template", id)
		}
		if err := json.Unmarshal(cur, &old); err != nil {
			return registry.Change{}, fmt.Errorf("decode application template %s: %w", id, err)
		}
		return registry.Change{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete application template %s: %w", id, err)
	}
	return present(&old)
}

// Get returns template id.
func (s *Service) Get(ctx context.Context, id string) (*model.ApplicationTemplate, error) {
	var t model.ApplicationTemplate
	if err := s.store.Get(ctx, scope, id, &t); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("application template", id)
		}
		return nil, err
	}
	return present(&t)
}

// List returns a page of templates, oldest first.
func (s *Service) List(ctx context.Context, first int, after string) (*model.ApplicationTemplatePage, error) {
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	ts, p, err := registry.ListAs[model.ApplicationTemplate](ctx, s.store, scope, registry.IndexAll, first, after)
	if errors.Is(err, registry.ErrInvalidCursor) {
		return nil, apperr.Invalid("after: not a cursor this API handed out")
	}
	if err != nil {
		return nil, fmt.Errorf("list application templates: %w", err)
	}
	for i, t := range ts {
		if ts[i], err = present(t); err != nil {
			return nil, err
		}
	}
	return &model.ApplicationTemplatePage{
		Data:       ts,
		TotalCount: int(p.TotalCount),
		PageInfo:   model.NewPageInfo(after, p.EndCursor, p.HasNextPage),
	}, nil
}

// byName returns the template called name.
func (s *Service) byName(ctx context.Context, name string) (*model.ApplicationTemplate, error) {
	ts, _, err := registry.ListAs[model.ApplicationTemplate](ctx, s.store, scope, nameKey(name), 1, "")
	if err != nil {
		return nil, fmt.Errorf("find application template %q: %w", name, err)
	}
	if len(ts) == 0 {
		return nil, apperr.New(apperr.CodeNotFound, "application template named %q not found", name)
	}
	return ts[0], nil
}

// RegisterApplication fills the placeholders of template in.TemplateName with in.Values and registers the
// resulting application in the caller's tenant.
func (s *Service) RegisterApplication(ctx context.Context, in model.ApplicationFromTemplateInput) (*model.Application, error) {
	if !printableASCII.MatchString(in.TemplateName) {
		return nil, apperr.Invalid("templateName: use 1 to 100 printable ASCII characters")
	}
	t, err := s.byName(ctx, in.TemplateName)
	if err != nil {
		return nil, err
	}
	appIn, err := fill(t, in.Values)
	if err != nil {
		return nil, err
	}
	app, err := s.apps.Register(ctx, appIn)
	if err != nil {
		return nil, fmt.Errorf("register application from template %q: %w", t.Name, err)
	}
	return app, nil
}

// fill substitutes values into the template's application input. Every placeholder needs exactly one
// value and every value a placeholder.
func fill(t *model.ApplicationTemplate, values []*model.TemplateValueInput) (model.ApplicationRegisterInput, error) {
	var out model.ApplicationRegisterInput
	declared := make(map[string]bool, len(t.Placeholders))
	for _, p := range t.Placeholders {
		declared[p.Name] = true
	}
	// Values go into JSON strings, so they are escaped as JSON: a value cannot break out of its string.
	escaped := make(map[string]string, len(values))
	for i, v := range values {
		if v == nil {
			return out, apperr.Invalid("values[%d]: must not be null", i)
		}
		if !declared[v.Placeholder] {
			return out, apperr.Invalid("values[%d].placeholder: template %q has no placeholder %q", i, t.Name, v.Placeholder)
		}
		if _, dup := escaped[v.Placeholder]; dup {
			return out, apperr.Invalid("values[%d].placeholder: %q is given more than once", i, v.Placeholder)
		}
		q, err := encode(v.Value)
		if err != nil {
			return out, fmt.Errorf("encode value of %s: %w", v.Placeholder, err)
		}
		escaped[v.Placeholder] = q[1 : len(q)-1]
	}
	for _, p := range t.Placeholders {
		if _, ok := escaped[p.Name]; !ok {
			return out, apperr.Invalid("values: no value for placeholder %q", p.Name)
		}
	}
	filled := placeholderPattern.ReplaceAllStringFunc(t.ApplicationInput, func(m string) string {
		if v, ok := escaped[m[2:len(m)-2]]; ok {
			return v
		}
		return m
	})
	if err := json.Unmarshal([]byte(filled), &out); err != nil {
		return out, fmt.Errorf("decode application input of template %q: %w", t.Name, err)
	}
	return out, nil
}
