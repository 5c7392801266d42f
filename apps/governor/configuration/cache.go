package configuration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/expiring"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Caches of what an effective configuration is computed from, so that a long poll woken with a thousand
// others does not ask the Director and list the store a thousand times.
//
// The rule that keeps them safe: a cache may answer a read, and a write (a new revision numbered, see
// number) is made only from inputs the store shows current. Concretely:
//
//   - Labels are cached per (tenant, runtime), filled only by the runtime's own successful read and
//     served only to the runtime itself, after mayActFor: the Director already let that caller read
//     exactly this, so no one learns anything they could not ask for. Administrators always ask the
//     Director. An entry goes on the label.* and runtime.* events (a deleted runtime with it), and after
//     LabelTTL should an event be lost. A runtime view records a hash of the labels it was numbered with;
//     a cached answer that disagrees with it is read again from the Director before numbering, so a
//     replica whose event is late cannot number a revision from labels another replica already replaced.
//   - A tenant's configurations (those aimed by selector, the runtimes' own ones, the revisions a rollout
//     released) are cached per tenant and stamped with the tenant's configuration epoch: a counter in the
//     store that every change of a configuration bumps after writing it (bumpEpoch). Each computation
//     reads the epoch together with the runtime's view (one bulk read), so a cache another replica made
//     stale is never used, whether or not its configuration.changed event has arrived. Local writes and
//     the wake events drop the entry as well, and ConfigTTL bounds it should a writer die between the
//     write and the bump. Before numbering from cached configurations, their sources are checked against
//     the view's (behind): a view numbered from something newer sends the computation to the store, so
//     the moment between another replica's write and its bump cannot make a revision of the old content.

// CacheOptions turn the caches on. A zero TTL leaves that cache off.
type CacheOptions struct {
	LabelTTL  time.Duration
	ConfigTTL time.Duration
	// Now is the clock, for tests; nil is time.Now.
	Now func() time.Time
}

// EnableCaches turns the caches on and has the hub's wake-ups drop what they make stale. Call it before
// serving.
func (s *Service) EnableCaches(o CacheOptions) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.LabelTTL > 0 {
		s.labelCache = newLabelCache(o.LabelTTL, now)
	}
	if o.ConfigTTL > 0 {
		s.configCache = &configCache{ttl: o.ConfigTTL, now: now, m: map[string]*tenantConfigs{}, loading: map[string]*configLoad{}}
	}
	s.hub.OnNotify(s.dropCached)
}

// dropCached drops what a wake-up of key makes stale.
func (s *Service) dropCached(key string) {
	if tenant, ok := notify.TenantOf(key); ok && s.configCache != nil {
		s.configCache.drop(tenant)
	}
	if runtimeID, ok := notify.RuntimeOf(key); ok && s.labelCache != nil {
		s.labelCache.drop(runtimeID)
	}
}

// maxCacheEntries bounds each cache; past it, expired entries are swept first. The label cache then
// drops some live ones (package expiring), the configuration cache keeps nothing new; either way reads go
// to the source, as without a cache.
const maxCacheEntries = 100_000

// labelCache holds the labels runtimes read about themselves, by runtime id: the events that drop an entry
// name the runtime only. Each entry keeps its tenant, and only that tenant is answered from it.
type labelCache struct {
	ttl time.Duration
	now func() time.Time
	m   *expiring.Map[string, labelEntry]

	mu sync.Mutex // orders put against drop
	// gen counts drops: a read begun before a drop does not fill the cache after it.
	gen uint64
}

type labelEntry struct {
	tenant string
	labels map[string]any
}

func newLabelCache(ttl time.Duration, now func() time.Time) *labelCache {
	return &labelCache{ttl: ttl, now: now, m: expiring.New[string, labelEntry](maxCacheEntries)}
}

func (c *labelCache) get(tenant, runtimeID string) (map[string]any, bool) {
	e, ok := c.m.Get(runtimeID, c.now())
	if !ok || e.tenant != tenant {
		return nil, false
	}
	return e.labels, true
}

func (c *labelCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *labelCache) put(tenant, runtimeID string, labels map[string]any, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now := c.now()
	c.m.Put(runtimeID, labelEntry{tenant: tenant, labels: labels}, now.Add(c.ttl), now)
}

// drop forgets runtimeID (events do not say which tenant; ids are unique across tenants anyway).
func (c *labelCache) drop(runtimeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m.Delete(runtimeID)
}

// runtimeLabels returns the labels of runtimeID, and whether they come from the cache. fresh asks the
// Director whatever the cache holds.
func (s *Service) runtimeLabels(ctx context.Context, tenant, runtimeID string, fresh bool) (map[string]any, bool, error) {
	c := s.labelCache
	// Only the runtime itself: what it reads about itself is what it may read. mayActFor has passed.
	if c == nil || !isRuntime(ctx, runtimeID) {
		labels, err := s.labels.RuntimeLabels(ctx, runtimeID)
		return labels, false, err
	}
	if !fresh {
		if labels, ok := c.get(tenant, runtimeID); ok {
			return labels, true, nil
		}
	}
	gen := c.begin()
	labels, err := s.labels.RuntimeLabels(ctx, runtimeID)
	if err != nil {
		return nil, false, err
	}
	c.put(tenant, runtimeID, labels, gen)
	return labels, false, nil
}

// configCache holds each tenant's configurations as of an epoch.
type configCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	m       map[string]*tenantConfigs
	loading map[string]*configLoad
}

// configLoad is a list of a tenant's selector configurations in flight, which every computation of the
// same epoch waits for instead of listing again: one change wakes all the tenant's waiters at once.
type configLoad struct {
	epoch configEpoch
	done  chan struct{}
	t     *tenantConfigs
	err   error
}

// tenantConfigs is what was read of a tenant's configurations at one epoch. selector is never changed
// once made; own and revisions fill in as runtimes ask, and pass on to the next epoch's entry when they
// are still good: the runtimes' own configurations while epoch.Own is the same, the revisions always
// (a revision never changes).
type tenantConfigs struct {
	cached   bool // false: read from the store for one computation
	epoch    configEpoch
	expires  time.Time
	selector []*Configuration
	dropped  bool // by a wake-up: not served, but what it holds may pass on

	own       *memo // runtime -> its own configuration, nil for none
	revisions *memo // revisionID -> that revision
}

// memo is a map of configurations filled as they are read.
type memo struct {
	own     int64 // for the runtimes' own configurations: epoch.Own they were read at
	expires time.Time
	mu      sync.Mutex
	m       map[string]*Configuration
}

func (m *memo) get(key string) (*Configuration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[key]
	return c, ok
}

func (m *memo) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

func (m *memo) put(key string, c *Configuration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) < maxMemo {
		m.m[key] = c
	}
}

// maxMemo bounds a memo: past it, reads go to the store.
const maxMemo = 10_000

func (c *configCache) drop(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.m[tenant]; t != nil {
		t.dropped = true
	}
	delete(c.loading, tenant) // those waiting for it still get it; later ones list again
}

// get returns the tenant's configurations as of epoch, listing them with load unless they are held.
func (c *configCache) get(ctx context.Context, tenant string, epoch configEpoch, load func() ([]*Configuration, error)) (*tenantConfigs, error) {
	c.mu.Lock()
	if t := c.m[tenant]; t != nil && !t.dropped && t.epoch == epoch && c.now().Before(t.expires) {
		c.mu.Unlock()
		return t, nil
	}
	if l := c.loading[tenant]; l != nil && l.epoch == epoch {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.t, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &configLoad{epoch: epoch, done: make(chan struct{})}
	c.loading[tenant] = l
	c.mu.Unlock()

	sel, err := load()

	c.mu.Lock()
	defer c.mu.Unlock()
	mine := c.loading[tenant] == l // else dropped meanwhile: answer the waiters, keep nothing
	if mine {
		delete(c.loading, tenant)
	}
	l.err = err
	if err == nil {
		now := c.now()
		l.t = &tenantConfigs{cached: true, epoch: epoch, expires: now.Add(c.ttl), selector: sel}
		prev := c.m[tenant]
		if prev != nil && prev.own.own == epoch.Own && now.Before(prev.own.expires) {
			l.t.own = prev.own
		} else {
			l.t.own = &memo{own: epoch.Own, expires: now.Add(c.ttl), m: map[string]*Configuration{}}
		}
		if prev != nil && prev.revisions.len() < maxMemo {
			l.t.revisions = prev.revisions
		} else {
			l.t.revisions = &memo{m: map[string]*Configuration{}}
		}
		if mine {
			if len(c.m) >= maxCacheEntries {
				now := c.now()
				for k, t := range c.m {
					if !now.Before(t.expires) {
						delete(c.m, k)
					}
				}
			}
			if len(c.m) < maxCacheEntries {
				c.m[tenant] = l.t
			}
		}
	}
	close(l.done)
	return l.t, l.err
}

// epochID is the one entity per tenant that counts the changes of its configurations. It lives in the scope
// of the runtime views, so that one bulk read fetches it with a view; its id is no runtime id (validID).
const epochID = "~epoch"

type configEpoch struct {
	N int64 `json:"n"` // every change of a configuration
	// Own counts the changes of configurations aimed at one runtime (before or after the change): while it
	// stays, what was read of the runtimes' own configurations stays good.
	Own int64 `json:"own,omitempty"`
}

// readView reads the runtime's view and, when the configurations are cached, the tenant's configuration
// epoch, in one round trip. view is nil when the runtime has none.
func (s *Service) readView(ctx context.Context, runtimeID string) (view *runtimeView, epoch configEpoch, err error) {
	sc, err := registry.TenantScope(ctx, kindRuntimeView)
	if err != nil {
		return nil, epoch, err
	}
	if s.configCache == nil {
		var v runtimeView
		switch err := s.store.Get(ctx, sc, runtimeID, &v); {
		case errors.Is(err, registry.ErrNotFound):
			return nil, epoch, nil
		case err != nil:
			return nil, epoch, fmt.Errorf("read runtime view %s: %w", runtimeID, err)
		}
		return &v, epoch, nil
	}
	err = s.store.GetMany(ctx, sc, []string{runtimeID, epochID}, func(id string, data []byte) error {
		if id == epochID {
			if err := json.Unmarshal(data, &epoch); err != nil {
				return fmt.Errorf("decode configuration epoch: %w", err)
			}
			return nil
		}
		view = new(runtimeView)
		if err := json.Unmarshal(data, view); err != nil {
			return fmt.Errorf("decode runtime view %s: %w", runtimeID, err)
		}
		return nil
	})
	if err != nil {
		return nil, epoch, fmt.Errorf("read runtime view %s: %w", runtimeID, err)
	}
	return view, epoch, nil
}

// configurationsChanged follows every write of a tenant's configurations (a revision, a rollout's step):
// it bumps the epoch, so that every replica's cache of the tenant stops being used, and wakes the
// tenant's waiters here (the hub drops this process's cache first). Other replicas wake on the
// configuration.changed or configuration.rollout event written with the change.
// own tells whether the change concerns a configuration aimed at one runtime.
func (s *Service) configurationsChanged(ctx context.Context, tenant string, own bool) {
	s.bumpEpoch(ctx, own)
	s.hub.Notify(notify.TenantKey(tenant))
}

// bumpEpoch adds one to the tenant's configuration epoch. A failure is logged: the write it follows is
// done; the wake events and ConfigTTL bound how long a replica's cache may serve what it replaced.
func (s *Service) bumpEpoch(ctx context.Context, own bool) {
	sc, err := registry.TenantScope(ctx, kindRuntimeView)
	if err != nil {
		return
	}
	err = s.store.Mutate(ctx, sc, epochID, "", func(raw []byte) (registry.Change, error) {
		var e configEpoch
		if raw != nil {
			if err := json.Unmarshal(raw, &e); err != nil {
				return registry.Change{}, fmt.Errorf("decode configuration epoch: %w", err)
			}
		}
		e.N++
		if own {
			e.Own++
		}
		return registry.Change{Data: e}, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "bump configuration epoch", "err", err)
	}
}

// configurations returns the tenant's configurations as of epoch: from the cache when it is on, unless
// fresh.
func (s *Service) configurations(ctx context.Context, tenant string, epoch configEpoch, fresh bool) (*tenantConfigs, error) {
	if s.configCache == nil || fresh {
		sel, err := s.selectorConfigurations(ctx)
		if err != nil {
			return nil, err
		}
		return &tenantConfigs{selector: sel}, nil
	}
	return s.configCache.get(ctx, tenant, epoch, func() ([]*Configuration, error) {
		// Not the caller's cancellation: others wait on this list, and one caller hanging up must not fail
		// them. Its values stay: they carry the tenant.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return s.selectorConfigurations(lctx)
	})
}

// loadTimeout bounds a list others wait on.
const loadTimeout = 30 * time.Second

// ownConfiguration returns the runtime's own configuration, or nil, through t when it is cached.
func (s *Service) ownConfiguration(ctx context.Context, t *tenantConfigs, runtimeID string) (*Configuration, error) {
	if t.own == nil {
		return s.runtimeConfiguration(ctx, runtimeID)
	}
	if c, ok := t.own.get(runtimeID); ok {
		return c, nil
	}
	c, err := s.runtimeConfiguration(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	t.own.put(runtimeID, c)
	return c, nil
}

// releasedRevision reads revision rev of configuration id, through t when it is cached (a revision never
// changes).
func (s *Service) releasedRevision(ctx context.Context, t *tenantConfigs, id string, rev int) (*Configuration, error) {
	if t == nil || t.revisions == nil {
		return s.revision(ctx, id, rev)
	}
	key := revisionID(id, rev)
	if c, ok := t.revisions.get(key); ok {
		return c, nil
	}
	c, err := s.revision(ctx, id, rev)
	if err != nil {
		return nil, err
	}
	t.revisions.put(key, c)
	return c, nil
}
