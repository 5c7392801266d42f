// Package bundle is the Director's domain logic for bundles: the groups of API definitions, event
// definitions and documents an application offers together, and the instance auths that hand out
// credentials to them. Everything is kept in the registry, scoped to the calling tenant; specifications are
// downloaded from their fetch requests and credentials are asked from the application's webhook over HTTP.
package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Registry kinds this package stores.
const (
	KindBundle          = "bundle"
	KindAPIDefinition   = "apidefinition"
	KindEventDefinition = "eventdefinition"
	KindDocument        = "document"
	KindInstanceAuth    = "bundleinstanceauth"

	// kindApplication is the application package's kind. It is repeated here rather than imported because
	// the application package calls this one (bundles given at registration, cascade on unregister).
	kindApplication = "application"
)

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(id string, data []byte) error) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
	List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error)
	ListMany(ctx context.Context, s registry.Scope, reqs []registry.ListRequest) ([]registry.Page, error)
}

// Config tunes the HTTP calls the service makes. Zero fields take the defaults.
type Config struct {
	// FetchTimeout bounds one specification download (default 10s).
	FetchTimeout time.Duration
	// MaxSpecSize is the largest specification kept, downloaded or given inline (default 5 MiB).
	MaxSpecSize int64
	// WebhookTimeout bounds one call of an application's webhook (default 4s). With the retries it must
	// stay below the gateway's timeout for the Director (INVOKE_TIMEOUT, 15s).
	WebhookTimeout time.Duration
	// WebhookAttempts is how often a webhook is tried before giving up (default 3).
	WebhookAttempts int
	// WebhookBackoff is the pause before the second attempt; it doubles after each one (default 200ms).
	WebhookBackoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = 10 * time.Second
	}
	if c.MaxSpecSize <= 0 {
		c.MaxSpecSize = 5 << 20
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = 4 * time.Second
	}
	if c.WebhookAttempts <= 0 {
		c.WebhookAttempts = 3
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = 200 * time.Millisecond
	}
	return c
}

// Service manages the bundles of the calling tenant and everything in them.
type Service struct {
	store   Store
	cfg     Config
	fetcher fetcher
	hooks   webhookCaller
	now     func() time.Time
	// runtimeScenarios tells which scenarios a runtime caller is in; without it runtimes reach no
	// application's instance auths (see checkApplication).
	runtimeScenarios access.ScenarioSource
}

// SetRuntimeScenarios connects the source of runtimes' scenarios, which decides which applications'
// bundles a runtime caller may ask credentials for.
func (s *Service) SetRuntimeScenarios(src access.ScenarioSource) { s.runtimeScenarios = src }

// NewService returns a service storing bundles in store and making its HTTP calls (specification
// downloads, application webhooks) with client; a nil client means a plain http.Client. Timeouts come from
// cfg, per call, so client needs none of its own.
func NewService(store Store, client *http.Client, cfg Config) *Service {
	if client == nil {
		client = &http.Client{}
	}
	cfg = cfg.withDefaults()
	return &Service{
		store:   store,
		cfg:     cfg,
		fetcher: fetcher{client: client, timeout: cfg.FetchTimeout, maxSize: cfg.MaxSpecSize},
		hooks:   webhookCaller{client: client, timeout: cfg.WebhookTimeout, attempts: cfg.WebhookAttempts, backoff: cfg.WebhookBackoff},
		now:     time.Now,
	}
}

// Indexes. Ids are generated UUIDs, so they are safe inside index names; groups are free text, so they are
// escaped to keep '/' out of storage keys.
func appIndex(appID string) string       { return "app:" + appID }
func bundleIndex(bundleID string) string { return "bundle:" + bundleID }
func groupIndex(bundleID, group string) string {
	return "bundle:" + bundleID + ":group:" + url.PathEscape(group)
}

// childIndexes are the indexes of a definition in bundleID, with group when it has one.
func childIndexes(bundleID string, group *string) []string {
	ix := []string{bundleIndex(bundleID)}
	if group != nil && *group != "" {
		ix = append(ix, groupIndex(bundleID, *group))
	}
	return ix
}

// load reads the entity id of kind in the caller's tenant; a missing one is NOT_FOUND, named what.
func load[T any](ctx context.Context, st Store, kind, what, id string) (*T, registry.Scope, error) {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, sc, err
	}
	v := new(T)
	if err := st.Get(ctx, sc, id, v); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, sc, apperr.NotFound(what, id)
		}
		return nil, sc, err
	}
	return v, sc, nil
}

// event announces a change on topic <kind>.<verb>: bundle.created, apidefinition.updated, ...
func event(sc registry.Scope, verb string, data any) registry.Event {
	return registry.Event{Topic: sc.Kind + "." + verb, Data: data}
}

// create writes a new entity; the id must be free.
func create(ctx context.Context, st Store, sc registry.Scope, what, id string, data any, indexes []string) error {
	err := st.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, apperr.New(apperr.CodeAlreadyExists, "%s %q already exists", what, id)
		}
		return registry.Change{Data: data, Indexes: indexes, Events: []registry.Event{event(sc, "created", data)}}, nil
	})
	if err != nil && apperr.CodeOf(err) == apperr.CodeInternal {
		return fmt.Errorf("create %s %s: %w", what, id, err)
	}
	return err
}

// change applies fn to the stored entity id and writes the result with the indexes fn returns. fn may run
// more than once (when writers collide), each time on a freshly read entity, so it must only touch v.
// A nil data from fn deletes the entity. The entity as written (or as it was, when deleted) is returned.
func change[T any](ctx context.Context, st Store, sc registry.Scope, what, id string, fn func(v *T) (data any, indexes []string, err error)) (*T, error) {
	var out *T
	err := st.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound(what, id)
		}
		v := new(T)
		if err := json.Unmarshal(cur, v); err != nil {
			return registry.Change{}, fmt.Errorf("decode %s %s: %w", what, id, err)
		}
		data, indexes, err := fn(v)
		if err != nil {
			return registry.Change{}, err
		}
		out = v
		ev := event(sc, "updated", data)
		if data == nil {
			ev = event(sc, "deleted", v)
		}
		return registry.Change{Data: data, Indexes: indexes, Events: []registry.Event{ev}}, nil
	})
	if err != nil {
		if apperr.CodeOf(err) == apperr.CodeInternal {
			return nil, fmt.Errorf("write %s %s: %w", what, id, err)
		}
		return nil, err
	}
	return out, nil
}

// remove deletes the entity id and returns it as it was.
func remove[T any](ctx context.Context, st Store, sc registry.Scope, what, id string) (*T, error) {
	return change(ctx, st, sc, what, id, func(*T) (any, []string, error) { return nil, nil, nil })
}

// removeAll deletes every entity of sc in index, page by page. Entities vanish from the index as they are
// deleted, so it reads the first page again until the index is empty.
func removeAll(ctx context.Context, st Store, sc registry.Scope, index string) error {
	for {
		p, err := st.List(ctx, sc, index, MaxPageSize, "")
		if err != nil {
			return fmt.Errorf("list %s/%s: %w", sc.Kind, index, err)
		}
		if len(p.IDs) == 0 {
			return nil
		}
		for _, id := range p.IDs {
			err := st.Mutate(ctx, sc, id, "", func([]byte) (registry.Change, error) {
				return registry.Change{Events: []registry.Event{event(sc, "deleted", map[string]string{"id": id})}}, nil
			})
			if err != nil {
				return fmt.Errorf("delete %s %s: %w", sc.Kind, id, err)
			}
		}
	}
}

func checkPage(first int) error {
	if first < 0 || first > MaxPageSize {
		return apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	return nil
}

func listErr(what string, err error) error {
	if errors.Is(err, registry.ErrInvalidCursor) {
		return apperr.Invalid("after: not a cursor this API handed out")
	}
	return fmt.Errorf("list %s: %w", what, err)
}
