package label

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/schemacheck"
)

// DefinitionKind is the registry kind of label definitions; the id is the label key.
const DefinitionKind = "labeldefinition"

// defaultScenariosSchema is the scenarios definition a tenant starts with: a non-empty list of distinct
// scenario names, DEFAULT being the only one until the tenant defines more.
const defaultScenariosSchema = `{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","pattern":"^[A-Za-z0-9]([-_A-Za-z0-9 ]{0,126}[A-Za-z0-9])?$","enum":["DEFAULT"]}}`

// Store is the storage label definitions need; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Holder is a kind of object that carries labels (applications, runtimes). Definitions use it to check a
// new schema against existing labels and to remove labels with their definition.
type Holder interface {
	// EachLabel calls fn with every value of label key held by the caller's tenant's objects.
	EachLabel(ctx context.Context, key string, fn func(value any) error) error
	// RemoveLabel removes label key from every object of the caller's tenant.
	RemoveLabel(ctx context.Context, key string) error
}

// Definitions manages label definitions and validates label values against them.
type Definitions struct {
	store   Store
	holders []Holder

	mu       sync.Mutex
	compiled map[[32]byte]*jsonschema.Schema
}

// NewDefinitions returns the label definitions kept in store.
func NewDefinitions(store Store) *Definitions {
	return &Definitions{store: store, compiled: map[[32]byte]*jsonschema.Schema{}}
}

// AddHolder registers a kind of labelled object. Call it while wiring, before serving.
func (d *Definitions) AddHolder(h Holder) { d.holders = append(d.holders, h) }

func (d *Definitions) scope(ctx context.Context) (registry.Scope, error) {
	return registry.TenantScope(ctx, DefinitionKind)
}

// compile returns the compiled schema, cached by its text.
func (d *Definitions) compile(schema string) (*jsonschema.Schema, error) {
	sum := sha256.Sum256([]byte(schema))
	d.mu.Lock()
	s, ok := d.compiled[sum]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := schemacheck.Compile(schema)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.compiled[sum] = s
	d.mu.Unlock()
	return s, nil
}

func (d *Definitions) validate(def *model.LabelDefinition, value any) error {
	if def == nil || def.Schema == nil || *def.Schema == "" {
		return nil
	}
	s, err := d.compile(*def.Schema)
	if err != nil {
		return fmt.Errorf("label definition %q: %w", def.Key, err)
	}
	if err := schemacheck.Check(s, value); err != nil {
		return apperr.Invalid("label %q does not satisfy its definition's schema: %s", def.Key, err)
	}
	return nil
}

// Validate checks normalised labels against their definitions, creating a definition without a schema for
// every key used for the first time (and the default one for scenarios).
func (d *Definitions) Validate(ctx context.Context, labels map[string]any) error {
	if len(labels) == 0 {
		return nil
	}
	sc, err := d.scope(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if !ValidKey(k) {
			return apperr.Invalid("label key %q: use letters, digits, '_', '-' and '.' (at most 256)", k)
		}
		keys = append(keys, k)
	}
	// One bulk read for the definitions that exist; the others are created on first use.
	defs := make(map[string]*model.LabelDefinition, len(keys))
	err = d.store.GetMany(ctx, sc, keys, func(id string, data []byte) error {
		var def model.LabelDefinition
		if err := json.Unmarshal(data, &def); err != nil {
			return fmt.Errorf("decode label definition %s: %w", id, err)
		}
		defs[id] = &def
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		def := defs[k]
		if def == nil {
			if def, err = d.ensure(ctx, k); err != nil {
				return err
			}
		}
		if err := d.validate(def, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

// ensure returns the definition of key, creating it if missing. The common case, a key already defined, is
// a plain read: label writes must not queue behind the tenant's other writes just to look at a schema.
func (d *Definitions) ensure(ctx context.Context, key string) (*model.LabelDefinition, error) {
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	var def model.LabelDefinition
	err = d.store.Get(ctx, sc, key, &def)
	if err == nil {
		return &def, nil
	}
	if !errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("label definition %s: %w", key, err)
	}
	err = d.store.Mutate(ctx, sc, key, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			// Created meanwhile by another writer: use that one.
			if err := json.Unmarshal(cur, &def); err != nil {
				return registry.Change{}, err
			}
			return registry.Change{}, errKeep
		}
		def = model.LabelDefinition{Key: key}
		if key == ScenariosKey {
			s := defaultScenariosSchema
			def.Schema = &s
		}
		return registry.Change{Data: implicitDefinition{LabelDefinition: def, Implicit: true}}, nil
	})
	if err != nil && !errors.Is(err, errKeep) {
		return nil, fmt.Errorf("label definition %s: %w", key, err)
	}
	return &def, nil
}

// implicitDefinition is how a definition created on first use is stored: marked, so that the first
// explicit createLabelDefinition of its key still succeeds (the default scenarios one has a schema).
type implicitDefinition struct {
	model.LabelDefinition
	Implicit bool `json:"implicit,omitempty"`
}

// errKeep ends a Mutate that found what it needed without writing.
var errKeep = errors.New("keep")

// Get returns the definition of key. Every tenant has the scenarios definition, from its first use.
func (d *Definitions) Get(ctx context.Context, key string) (*model.LabelDefinition, error) {
	if key == ScenariosKey {
		return d.ensure(ctx, key)
	}
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	var def model.LabelDefinition
	if err := d.store.Get(ctx, sc, key, &def); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound("label definition", key)
		}
		return nil, err
	}
	return &def, nil
}

// List returns every label definition of the tenant.
func (d *Definitions) List(ctx context.Context) ([]*model.LabelDefinition, error) {
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	var out []*model.LabelDefinition
	after := ""
	for {
		defs, p, err := registry.ListAs[model.LabelDefinition](ctx, d.store, sc, registry.IndexAll, MaxPageSize, after)
		if err != nil {
			return nil, fmt.Errorf("list label definitions: %w", err)
		}
		out = append(out, defs...)
		if !p.HasNextPage {
			return out, nil
		}
		after = p.EndCursor
	}
}

func (d *Definitions) checkInput(in model.LabelDefinitionInput) error {
	if !ValidKey(in.Key) {
		return apperr.Invalid("key %q: use letters, digits, '_', '-' and '.' (at most 256)", in.Key)
	}
	if in.Schema != nil && *in.Schema != "" {
		if _, err := d.compile(*in.Schema); err != nil {
			return apperr.Invalid("schema: %v", err)
		}
	}
	if in.Key == ScenariosKey {
		// Applications registered without scenarios get DEFAULT; a schema without it would refuse them all.
		msg := "schema: the scenarios label definition must allow the DEFAULT scenario (items.enum must list \"DEFAULT\")"
		if in.Schema == nil || *in.Schema == "" {
			return apperr.Invalid("%s", msg)
		}
		def := &model.LabelDefinition{Key: in.Key, Schema: in.Schema}
		if err := d.validate(def, []any{DefaultScenario}); err != nil {
			return apperr.Invalid("%s", msg)
		}
	}
	return nil
}

// Create defines a label key. A key used before without a definition of its own already has an empty
// one (created on first use); creating it again sets its schema, provided existing labels satisfy it.
func (d *Definitions) Create(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	if err := d.checkInput(in); err != nil {
		return nil, err
	}
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	// A plain read: Get would create the default scenarios definition first, and then refuse this one.
	var cur implicitDefinition
	err = d.store.Get(ctx, sc, in.Key, &cur)
	if err == nil && cur.Schema != nil && !cur.Implicit {
		return nil, apperr.New(apperr.CodeAlreadyExists, "label definition %q already exists", in.Key)
	}
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("label definition %s: %w", in.Key, err)
	}
	return d.put(ctx, in)
}

// Update replaces the schema of an existing definition, if every existing label satisfies it.
func (d *Definitions) Update(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	if err := d.checkInput(in); err != nil {
		return nil, err
	}
	if _, err := d.Get(ctx, in.Key); err != nil {
		return nil, err
	}
	return d.put(ctx, in)
}

func (d *Definitions) put(ctx context.Context, in model.LabelDefinitionInput) (*model.LabelDefinition, error) {
	def := &model.LabelDefinition{Key: in.Key, Schema: in.Schema}
	for _, h := range d.holders {
		if err := h.EachLabel(ctx, in.Key, func(v any) error { return d.validate(def, v) }); err != nil {
			if apperr.CodeOf(err) == apperr.CodeInvalidInput {
				return nil, apperr.Invalid("existing labels do not satisfy the new schema: %v", err)
			}
			return nil, err
		}
	}
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.store.Mutate(ctx, sc, in.Key, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: def}, nil
	}); err != nil {
		return nil, fmt.Errorf("save label definition %s: %w", in.Key, err)
	}
	return def, nil
}

// Delete removes a definition; with deleteRelated the labels using it go too, otherwise it must be unused.
func (d *Definitions) Delete(ctx context.Context, key string, deleteRelated bool) (*model.LabelDefinition, error) {
	def, err := d.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if key == ScenariosKey {
		return nil, apperr.Invalid("the scenarios label definition cannot be deleted")
	}
	for _, h := range d.holders {
		if deleteRelated {
			if err := h.RemoveLabel(ctx, key); err != nil {
				return nil, err
			}
			continue
		}
		inUse := errors.New("in use")
		if err := h.EachLabel(ctx, key, func(any) error { return inUse }); errors.Is(err, inUse) {
			return nil, apperr.New(apperr.CodeConflict, "label %q is still in use; pass deleteRelatedLabels: true to remove those labels", key)
		} else if err != nil {
			return nil, err
		}
	}
	sc, err := d.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.store.Mutate(ctx, sc, key, "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		return nil, fmt.Errorf("delete label definition %s: %w", key, err)
	}
	return def, nil
}

// Scenarios returns the scenario names the tenant has defined.
func (d *Definitions) Scenarios(ctx context.Context) ([]string, error) {
	def, err := d.ensure(ctx, ScenariosKey)
	if err != nil {
		return nil, err
	}
	if def.Schema == nil {
		return nil, nil
	}
	var s struct {
		Items struct {
			Enum []string `json:"enum"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(*def.Schema), &s); err != nil {
		return nil, nil
	}
	return s.Items.Enum, nil
}
