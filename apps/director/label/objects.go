package label

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Object is what Objects needs of a labelled type: its id, its label map, and the indexes it belongs to
// besides its labels' (ExtraIndexes).
type Object interface {
	ObjectID() string
	ExtraIndexes() []string
	LabelMap() map[string]any
	SetLabelMap(map[string]any)
}

// Objects implements the label operations shared by applications and runtimes for one registry kind.
// P is the pointer type of T.
type Objects[T any, P interface {
	*T
	Object
}] struct {
	Kind  string // registry kind
	Noun  string // for messages: "application"
	Store Store
	Defs  *Definitions
	// Changed, when set, runs after every successful write with the object as written.
	Changed func(ctx context.Context, obj P) error
}

func (o *Objects[T, P]) scope(ctx context.Context) (registry.Scope, error) {
	return registry.TenantScope(ctx, o.Kind)
}

// Get reads the object id of the caller's tenant.
func (o *Objects[T, P]) Get(ctx context.Context, id string) (P, error) {
	sc, err := o.scope(ctx)
	if err != nil {
		return nil, err
	}
	obj := P(new(T))
	if err := o.Store.Get(ctx, sc, id, obj); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, apperr.NotFound(o.Noun, id)
		}
		return nil, err
	}
	return obj, nil
}

// Update reads object id, lets fn change it and writes it back with its label indexes and the events fn
// returns, atomically. fn may run more than once when writers collide.
func (o *Objects[T, P]) Update(ctx context.Context, id string, fn func(P) ([]registry.Event, error)) (P, error) {
	sc, err := o.scope(ctx)
	if err != nil {
		return nil, err
	}
	var out P
	err = o.Store.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound(o.Noun, id)
		}
		obj := P(new(T))
		if err := json.Unmarshal(cur, obj); err != nil {
			return registry.Change{}, err
		}
		events, err := fn(obj)
		if err != nil {
			return registry.Change{}, err
		}
		out = obj
		return registry.Change{Data: obj, Indexes: append(Indexes(obj.LabelMap()), obj.ExtraIndexes()...), Events: events}, nil
	})
	if err != nil {
		return nil, err
	}
	if o.Changed != nil {
		if err := o.Changed(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetLabel sets label key of object id after checking it against the key's definition.
func (o *Objects[T, P]) SetLabel(ctx context.Context, id, key string, value any) (*model.Label, error) {
	v, err := Normalize(value)
	if err != nil {
		return nil, apperr.Invalid("label %q: %v", key, err)
	}
	if v == nil {
		return nil, apperr.Invalid("label %q: value must not be null", key)
	}
	if err := o.Defs.Validate(ctx, map[string]any{key: v}); err != nil {
		return nil, err
	}
	_, err = o.Update(ctx, id, func(obj P) ([]registry.Event, error) {
		labels := maps.Clone(obj.LabelMap())
		if labels == nil {
			labels = map[string]any{}
		}
		labels[key] = v
		obj.SetLabelMap(labels)
		return []registry.Event{o.labelEvent("label.set", id, key, v)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &model.Label{Key: key, Value: v}, nil
}

// LabelChange is the payload of label.set and label.deleted events.
type LabelChange struct {
	ObjectType string `json:"objectType"`
	ObjectID   string `json:"objectID"`
	Key        string `json:"key"`
	Value      any    `json:"value"`
}

func (o *Objects[T, P]) labelEvent(topic, id, key string, value any) registry.Event {
	return registry.Event{Topic: topic, Data: LabelChange{ObjectType: o.Noun, ObjectID: id, Key: key, Value: value}}
}

// DeleteLabel removes label key from object id and returns it.
func (o *Objects[T, P]) DeleteLabel(ctx context.Context, id, key string) (*model.Label, error) {
	var removed *model.Label
	_, err := o.Update(ctx, id, func(obj P) ([]registry.Event, error) {
		labels := maps.Clone(obj.LabelMap())
		v, ok := labels[key]
		if !ok {
			return nil, apperr.NotFound(o.Noun+" label", key)
		}
		delete(labels, key)
		obj.SetLabelMap(labels)
		removed = &model.Label{Key: key, Value: v}
		return []registry.Event{o.labelEvent("label.deleted", id, key, v)}, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// List returns a page of the tenant's objects matching filters.
func (o *Objects[T, P]) List(ctx context.Context, in []*model.LabelFilter, first int, after string) (*Page[T], error) {
	sc, err := o.scope(ctx)
	if err != nil {
		return nil, err
	}
	filters, err := ParseFilters(in)
	if err != nil {
		return nil, err
	}
	return List(ctx, o.Store, sc, filters, first, after, func(t *T) map[string]any { return P(t).LabelMap() })
}

// each calls fn with every object of the tenant that has label key.
func (o *Objects[T, P]) each(ctx context.Context, key string, fn func(P) error) error {
	sc, err := o.scope(ctx)
	if err != nil {
		return err
	}
	after := ""
	for {
		objs, p, err := registry.ListAs[T](ctx, o.Store, sc, keyIndex(key), MaxPageSize, after)
		if err != nil {
			return fmt.Errorf("list %s with label %s: %w", o.Noun, key, err)
		}
		for _, obj := range objs {
			if err := fn(P(obj)); err != nil {
				return err
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

// EachLabel implements Holder.
func (o *Objects[T, P]) EachLabel(ctx context.Context, key string, fn func(any) error) error {
	return o.each(ctx, key, func(obj P) error { return fn(obj.LabelMap()[key]) })
}

// RemoveLabel implements Holder.
func (o *Objects[T, P]) RemoveLabel(ctx context.Context, key string) error {
	var ids []string
	if err := o.each(ctx, key, func(obj P) error {
		ids = append(ids, obj.ObjectID())
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := o.DeleteLabel(ctx, id, key); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return err
		}
	}
	return nil
}
