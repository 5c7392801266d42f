// Package runtimecontext is the Director's domain logic for runtime contexts: named parts of a runtime (a
// namespace, say) with a value and labels of their own. They belong to the runtime that makes the call: the
// runtime is always taken from the caller's identity, never from an argument, so no other caller can name
// one.
//
// Each runtime's contexts are a registry kind of their own, "runtimecontext:<runtime id>". The registry then
// gives per runtime what it gives per kind: the unique keys that keep context keys distinct, the "all"
// index that pages and counts, and the label indexes that the label filters walk — so the runtimes' own
// list and filter code serves contexts unchanged, and one runtime's contexts never show in another's pages.
package runtimecontext

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// KindPrefix starts the registry kind of each runtime's contexts: KindPrefix + runtime id.
const KindPrefix = "runtimecontext:"

// Kind is the registry kind holding the contexts of runtimeID. Runtime ids are UUIDs the Director
// generates, so they are safe inside storage keys.
func Kind(runtimeID string) string { return KindPrefix + runtimeID }

// MaxPageSize is the largest page a list returns.
const MaxPageSize = label.MaxPageSize

const (
	maxKeyLen   = 512
	maxValueLen = 512
	noun        = "runtime context"
)

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,512}$`)

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	label.Store
	Owner(ctx context.Context, s registry.Scope, key string) (string, error)
}

// record is a context as stored and announced: the GraphQL object and the runtime it belongs to.
type record struct {
	model.RuntimeContext
	RuntimeID string `json:"runtimeID"`
}

// ObjectID, ExtraIndexes, LabelMap and SetLabelMap let the label package handle a context's labels.
func (r *record) ObjectID() string             { return r.ID }
func (r *record) ExtraIndexes() []string       { return nil }
func (r *record) LabelMap() map[string]any     { return r.Labels }
func (r *record) SetLabelMap(l map[string]any) { r.Labels = l }

// keyKey is the unique key a context holds in its runtime's kind: no two contexts of a runtime share a key.
func keyKey(key string) string { return "key:" + key }

// event announces a change of rec on topic runtimecontext.<verb>, spelled like the other compound entities
// (bundleinstanceauth, apidefinition).
func event(verb string, rec *record) registry.Event {
	return registry.Event{Topic: "runtimecontext." + verb, Data: rec}
}

// Service manages the contexts of the calling runtime.
type Service struct {
	store Store
	defs  *label.Definitions
}

// NewService returns a service storing contexts in store and checking their labels against defs. It
// registers itself with defs as a holder of labels, so that label definitions see contexts' labels too.
func NewService(store Store, defs *label.Definitions) *Service {
	s := &Service{store: store, defs: defs}
	defs.AddHolder(s)
	return s
}

// objects is the label machinery over the contexts of runtimeID.
func (s *Service) objects(runtimeID string) *label.Objects[record, *record] {
	return &label.Objects[record, *record]{Kind: Kind(runtimeID), Noun: noun, Store: s.store, Defs: s.defs}
}

// caller returns the calling runtime's id and the scope of its contexts. Any caller other than a runtime
// gets FORBIDDEN: there is no runtime to take the contexts from. The id goes into storage keys, so a subject
// that is not a runtime id (a UUID) is refused too, whatever credential carried it.
func caller(ctx context.Context) (string, registry.Scope, error) {
	id, _ := identity.FromContext(ctx)
	if id.ConsumerType != identity.ConsumerRuntime {
		who := id.ConsumerType
		if who == "" {
			who = "unidentified"
		}
		return "", registry.Scope{}, apperr.New(apperr.CodeForbidden,
			"runtime contexts belong to the calling runtime: only a runtime, with its own credentials, may use them (this caller is %s)", who)
	}
	if u, err := uuid.Parse(id.Subject); err != nil || u.String() != id.Subject {
		return "", registry.Scope{}, apperr.New(apperr.CodeForbidden,
			"runtime contexts belong to the calling runtime, and %q is not a runtime id", truncate(id.Subject))
	}
	sc, err := registry.TenantScope(ctx, Kind(id.Subject))
	if err != nil {
		return "", registry.Scope{}, err
	}
	return id.Subject, sc, nil
}

// checkInput checks key and value, which needs no storage; labels are checked by labels.
func checkInput(in model.RuntimeContextInput) error {
	if !keyPattern.MatchString(in.Key) {
		return apperr.Invalid("key %q: use 1 to %d letters, digits, '_', '-' and '.'", truncate(in.Key), maxKeyLen)
	}
	if in.Value == "" || utf8.RuneCountInString(in.Value) > maxValueLen {
		return apperr.Invalid("value: must be 1 to %d characters", maxValueLen)
	}
	return nil
}

// labels normalises in's labels and checks them against their definitions, as for runtimes. It runs last
// before the write, because it creates the definitions of keys used for the first time.
func (s *Service) labels(ctx context.Context, in model.RuntimeContextInput) (map[string]any, error) {
	labels, err := label.NormalizeAll(in.Labels)
	if err != nil {
		return nil, err
	}
	if err := s.defs.Validate(ctx, labels); err != nil {
		return nil, err
	}
	return labels, nil
}

// truncate keeps error messages short when a key is far too long.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkKeyFree reports ALREADY_EXISTS when another context of the scope than id holds key. Register and
// Update ask before they validate labels, so that a duplicate changes nothing; the write checks again.
func (s *Service) checkKeyFree(ctx context.Context, sc registry.Scope, runtimeID, id, key string) error {
	owner, err := s.store.Owner(ctx, sc, keyKey(key))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("look up runtime context key %q: %w", key, err)
	case owner != id:
		return duplicate(runtimeID, key)
	}
	return nil
}

func duplicate(runtimeID, key string) error {
	return apperr.New(apperr.CodeAlreadyExists, "runtime %s already has a context with key %q", runtimeID, key)
}

// runtimeExists reports NOT_FOUND when the calling runtime is no longer registered: its contexts went with
// it, and new ones would belong to nothing.
func (s *Service) runtimeExists(ctx context.Context, runtimeID string) error {
	sc, err := registry.TenantScope(ctx, runtimes.Kind)
	if err != nil {
		return err
	}
	var rt struct{}
	if err := s.store.Get(ctx, sc, runtimeID, &rt); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return apperr.NotFound("runtime", runtimeID)
		}
		return fmt.Errorf("read runtime %s: %w", runtimeID, err)
	}
	return nil
}

// Register validates in and stores a new context of the calling runtime.
func (s *Service) Register(ctx context.Context, in model.RuntimeContextInput) (*model.RuntimeContext, error) {
	runtimeID, sc, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkInput(in); err != nil {
		return nil, err
	}
	if err := s.runtimeExists(ctx, runtimeID); err != nil {
		return nil, err
	}
	if err := s.checkKeyFree(ctx, sc, runtimeID, "", in.Key); err != nil {
		return nil, err
	}
	labels, err := s.labels(ctx, in)
	if err != nil {
		return nil, err
	}
	rec := &record{
		RuntimeContext: model.RuntimeContext{ID: uuid.NewString(), Key: in.Key, Value: in.Value, Labels: labels},
		RuntimeID:      runtimeID,
	}
	err = s.store.Mutate(ctx, sc, rec.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("runtime context id %s: %w", rec.ID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: rec, Indexes: label.Indexes(rec.Labels), Unique: []string{keyKey(rec.Key)},
			Events: []registry.Event{event("created", rec)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, duplicate(runtimeID, in.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("register runtime context: %w", err)
	}
	return &rec.RuntimeContext, nil
}

// Update replaces the key, value and labels of a context of the calling runtime.
func (s *Service) Update(ctx context.Context, id string, in model.RuntimeContextInput) (*model.RuntimeContext, error) {
	runtimeID, sc, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkInput(in); err != nil {
		return nil, err
	}
	if _, err := s.objects(runtimeID).Get(ctx, id); err != nil {
		return nil, err
	}
	if err := s.checkKeyFree(ctx, sc, runtimeID, id, in.Key); err != nil {
		return nil, err
	}
	labels, err := s.labels(ctx, in)
	if err != nil {
		return nil, err
	}
	var out *record
	err = s.store.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound(noun, id)
		}
		rec, err := decode(cur)
		if err != nil {
			return registry.Change{}, err
		}
		rec.Key, rec.Value, rec.Labels = in.Key, in.Value, labels
		out = rec
		return registry.Change{Data: rec, Indexes: label.Indexes(rec.Labels), Unique: []string{keyKey(rec.Key)},
			Events: []registry.Event{event("updated", rec)}}, nil
	})
	if errors.Is(err, registry.ErrAlreadyExists) {
		return nil, duplicate(runtimeID, in.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("update runtime context %s: %w", id, err)
	}
	return &out.RuntimeContext, nil
}

// Unregister removes a context of the calling runtime and returns it.
func (s *Service) Unregister(ctx context.Context, id string) (*model.RuntimeContext, error) {
	_, sc, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.remove(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	return &rec.RuntimeContext, nil
}

// remove deletes context id of scope sc in one write that also announces it, and returns what was there.
func (s *Service) remove(ctx context.Context, sc registry.Scope, id string) (*record, error) {
	var gone *record
	err := s.store.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound(noun, id)
		}
		rec, err := decode(cur)
		if err != nil {
			return registry.Change{}, err
		}
		gone = rec
		return registry.Change{Events: []registry.Event{event("deleted", rec)}}, nil
	})
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("unregister runtime context %s: %w", id, err)
	}
	return gone, nil
}

// Get returns a context of the calling runtime; another runtime's context is not found.
func (s *Service) Get(ctx context.Context, id string) (*model.RuntimeContext, error) {
	runtimeID, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.objects(runtimeID).Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &rec.RuntimeContext, nil
}

// List returns a page of the calling runtime's contexts matching every filter, in registration order.
func (s *Service) List(ctx context.Context, filters []*model.LabelFilter, first int, after string) (*model.RuntimeContextPage, error) {
	runtimeID, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.objects(runtimeID).List(ctx, filters, first, after)
	if err != nil {
		return nil, err
	}
	out := &model.RuntimeContextPage{Data: make([]*model.RuntimeContext, len(p.Data)), PageInfo: p.PageInfo, TotalCount: p.Total}
	for i, rec := range p.Data {
		out.Data[i] = &rec.RuntimeContext
	}
	return out, nil
}

// DeleteForRuntime removes every context of runtimeID in the caller's tenant: the cascade of
// unregisterRuntime (runtimes.Parts). Calling it again after a failure finishes the job.
func (s *Service) DeleteForRuntime(ctx context.Context, runtimeID string) error {
	sc, err := registry.TenantScope(ctx, Kind(runtimeID))
	if err != nil {
		return err
	}
	for {
		p, err := s.store.List(ctx, sc, registry.IndexAll, MaxPageSize, "")
		if err != nil {
			return fmt.Errorf("list contexts of runtime %s: %w", runtimeID, err)
		}
		if len(p.IDs) == 0 {
			return nil
		}
		for _, id := range p.IDs {
			if _, err := s.remove(ctx, sc, id); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
				return err
			}
		}
	}
}

// EachLabel implements label.Holder over the contexts of every runtime of the caller's tenant.
func (s *Service) EachLabel(ctx context.Context, key string, fn func(value any) error) error {
	return s.eachRuntime(ctx, func(runtimeID string) error { return s.objects(runtimeID).EachLabel(ctx, key, fn) })
}

// RemoveLabel implements label.Holder over the contexts of every runtime of the caller's tenant.
func (s *Service) RemoveLabel(ctx context.Context, key string) error {
	return s.eachRuntime(ctx, func(runtimeID string) error { return s.objects(runtimeID).RemoveLabel(ctx, key) })
}

// eachRuntime calls fn with the id of every runtime of the caller's tenant. Label definitions change
// rarely, so walking the runtimes there is cheaper than keeping a tenant-wide index of contexts' labels
// on every context write.
func (s *Service) eachRuntime(ctx context.Context, fn func(runtimeID string) error) error {
	sc, err := registry.TenantScope(ctx, runtimes.Kind)
	if err != nil {
		return err
	}
	after := ""
	for {
		p, err := s.store.List(ctx, sc, registry.IndexAll, MaxPageSize, after)
		if err != nil {
			return fmt.Errorf("list runtimes: %w", err)
		}
		for _, id := range p.IDs {
			if err := fn(id); err != nil {
				return err
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

func decode(data []byte) (*record, error) {
	rec := new(record)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("decode runtime context: %w", err)
	}
	return rec, nil
}
