package configuration_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// countingStore counts what the service asks of the store, by kind of operation.
type countingStore struct {
	configuration.Store
	gets, getManys, lists, mutates, owners atomic.Int64
	// failEpoch fails the writes of the tenant's configuration epoch: a writer dying before its bump.
	failEpoch atomic.Bool
}

func (c *countingStore) Get(ctx context.Context, s registry.Scope, id string, out any) error {
	c.gets.Add(1)
	return c.Store.Get(ctx, s, id, out)
}

func (c *countingStore) GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(string, []byte) error) error {
	c.getManys.Add(1)
	return c.Store.GetMany(ctx, s, ids, decode)
}

func (c *countingStore) List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, s, index, first, after)
}

func (c *countingStore) Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error {
	c.mutates.Add(1)
	if id == "~epoch" && c.failEpoch.Load() {
		return errors.New("the writer died")
	}
	return c.Store.Mutate(ctx, s, id, writeID, fn)
}

func (c *countingStore) Owner(ctx context.Context, s registry.Scope, key string) (string, error) {
	c.owners.Add(1)
	return c.Store.Owner(ctx, s, key)
}

// reads is every read, a bulk one counting once (one round trip to the sidecar).
func (c *countingStore) reads() int64 {
	return c.gets.Load() + c.getManys.Load() + c.lists.Load() + c.owners.Load()
}

// countingDirector counts label requests.
type countingDirector struct {
	*fakeDirector
	calls atomic.Int64
}

func (c *countingDirector) RuntimeLabels(ctx context.Context, runtimeID string) (map[string]any, error) {
	c.calls.Add(1)
	return c.fakeDirector.RuntimeLabels(ctx, runtimeID)
}

// clock is a settable time for TTLs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// cachedEnv is a governor with caches on, over a counting store and Director; replica makes another
// process over the same store and Director.
type cachedEnv struct {
	*env
	store    *countingStore
	director *countingDirector
	clock    *clock
	svc      *configuration.Service
}

func newCachedEnv(tb testing.TB) *cachedEnv {
	tb.Helper()
	base := &env{store: memstate.New(), hub: notify.NewHub(), director: &fakeDirector{}}
	base.reg = registry.New(base.store, "governorstore")
	e := &cachedEnv{env: base, store: &countingStore{Store: base.reg}, director: &countingDirector{fakeDirector: base.director},
		clock: &clock{now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}}
	e.svc = e.replica(base.hub)
	return e
}

const labelTTL, configTTL = time.Minute, 10 * time.Second

func (e *cachedEnv) replica(hub *notify.Hub) *configuration.Service {
	svc := configuration.NewService(e.store, e.director, hub, silent())
	svc.EnableCaches(configuration.CacheOptions{LabelTTL: labelTTL, ConfigTTL: configTTL, Now: e.clock.Now})
	return svc
}

func mustEffective(t *testing.T, ctx context.Context, svc *configuration.Service, runtimeID string) *configuration.Effective {
	t.Helper()
	eff, err := svc.Effective(ctx, runtimeID)
	if err != nil {
		t.Fatalf("effective configuration of %s: %v", runtimeID, err)
	}
	return eff
}

func TestLabelCache(t *testing.T) {
	prod := map[string]string{"env": "prod"}
	t.Run("a runtime's repeated reads are answered from the cache, an administrator's never", func(t *testing.T) {
		e := newCachedEnv(t)
		e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
		mustCreate(t, asUser("t1"), e.svc, forLabels(prod, httpBinding("log", "http://a")))
		for range 3 {
			if eff := mustEffective(t, asRuntime("t1", "rt-1"), e.svc, "rt-1"); eff.Revision != 1 {
				t.Fatalf("revision %d, want 1", eff.Revision)
			}
		}
		if n := e.director.calls.Load(); n != 1 {
			t.Errorf("the runtime's three reads asked the Director %d times, want 1", n)
		}
		for range 2 {
			mustEffective(t, asUser("t1"), e.svc, "rt-1")
		}
		if n := e.director.calls.Load(); n != 3 {
			t.Errorf("after two reads by an administrator the Director was asked %d times, want 3", n)
		}
	})

	t.Run("a label event drops the entry, and so does the TTL without one", func(t *testing.T) {
		e := newCachedEnv(t)
		rt := asRuntime("t1", "rt-1")
		e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
		mustCreate(t, asUser("t1"), e.svc, forLabels(prod, httpBinding("log", "http://a")))
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 0 {
			t.Fatalf("revision %d before the label, want 0", eff.Revision)
		}
		e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 0 {
			t.Fatalf("without an event the cached labels answer: revision %d, want 0", eff.Revision)
		}
		e.hub.Notify(notify.RuntimeKey("rt-1")) // what label.set does
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 1 || len(eff.Bindings) != 1 {
			t.Fatalf("after the event: revision %d with %d bindings, want 1 with 1", eff.Revision, len(eff.Bindings))
		}
		e.director.set("t1", "rt-1", map[string]any{"env": "dev"}) // this event is lost
		e.clock.advance(labelTTL - time.Second)
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 1 {
			t.Fatalf("within the TTL: revision %d, want 1", eff.Revision)
		}
		e.clock.advance(2 * time.Second)
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 2 || len(eff.Bindings) != 0 {
			t.Fatalf("past the TTL: revision %d with %d bindings, want 2 with none", eff.Revision, len(eff.Bindings))
		}
	})

	t.Run("a deleted runtime drops out", func(t *testing.T) {
		e := newCachedEnv(t)
		rt := asRuntime("t1", "rt-1")
		e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
		mustCreate(t, asUser("t1"), e.svc, forLabels(prod, httpBinding("log", "http://a")))
		mustEffective(t, rt, e.svc, "rt-1")
		e.director.mu.Lock()
		delete(e.director.runtimes["t1"], "rt-1")
		e.director.mu.Unlock()
		e.hub.Notify(notify.RuntimeKey("rt-1")) // what runtime.deleted does
		_, err := e.svc.Effective(rt, "rt-1")
		wantCode(t, err, apperr.CodeNotFound)
	})

	t.Run("no one else reads an entry", func(t *testing.T) {
		e := newCachedEnv(t)
		e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
		e.director.set("t1", "rt-2", map[string]any{"env": "prod"})
		mustCreate(t, asUser("t1"), e.svc, forLabels(prod, withToken("log", "http://a", str("s3cret"))))
		if eff := mustEffective(t, asRuntime("t1", "rt-1"), e.svc, "rt-1"); eff.Revision != 1 || !eff.SecretsIncluded {
			t.Fatalf("the runtime itself: %+v", eff)
		}
		// Another tenant's runtime or administrator naming rt-1: the Director (which knows no rt-1 in t2)
		// answers, not t1's entry.
		_, err := e.svc.Effective(asRuntime("t2", "rt-1"), "rt-1")
		wantCode(t, err, apperr.CodeNotFound)
		_, err = e.svc.Effective(asUser("t2"), "rt-1")
		wantCode(t, err, apperr.CodeNotFound)
		// Another runtime of the same tenant is refused before any cache is looked at.
		calls := e.director.calls.Load()
		_, err = e.svc.Effective(asRuntime("t1", "rt-2"), "rt-1")
		wantCode(t, err, apperr.CodeForbidden)
		if e.director.calls.Load() != calls {
			t.Error("a refused caller reached the label source")
		}
		// An administrator of t1 is answered by the Director, without secrets.
		if eff := mustEffective(t, asUser("t1"), e.svc, "rt-1"); eff.SecretsIncluded || e.director.calls.Load() != calls+1 {
			t.Errorf("administrator: secrets %v, Director asked %d times more", eff.SecretsIncluded, e.director.calls.Load()-calls)
		}
	})
}

func TestConfigurationCache(t *testing.T) {
	prod := map[string]string{"env": "prod"}
	e := newCachedEnv(t)
	rt := asRuntime("t1", "rt-1")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	c := mustCreate(t, asUser("t1"), e.svc, forLabels(prod, httpBinding("log", "http://a")))
	mustEffective(t, rt, e.svc, "rt-1")

	lists, reads := e.store.lists.Load(), e.store.reads()
	for range 5 {
		if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 1 {
			t.Fatalf("revision %d, want 1", eff.Revision)
		}
	}
	if n := e.store.lists.Load() - lists; n != 0 {
		t.Errorf("five reads from the cache listed the store %d times", n)
	}
	if n := e.store.reads() - reads; n != 5 {
		t.Errorf("five reads from the cache made %d store reads, want 5 (the view and the epoch, in one)", n)
	}

	// A write here drops the entry at once.
	if _, err := e.svc.Update(asUser("t1"), c.ID, forLabels(prod, httpBinding("log", "http://b"))); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 2 || metadata(binding(t, eff, "log").Binding, "url") != "http://b" {
		t.Fatalf("after a write: %+v", eff)
	}

	// A write by another replica whose event never arrives: the epoch read with the view shows it.
	other := e.replica(notify.NewHub())
	if _, err := other.Update(asUser("t1"), c.ID, forLabels(prod, httpBinding("log", "http://c"))); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 3 || metadata(binding(t, eff, "log").Binding, "url") != "http://c" {
		t.Fatalf("after another replica's write: %+v", eff)
	}

	// The runtime's own configuration is cached with the tenant's, and follows writes likewise.
	own := mustCreate(t, asUser("t1"), other, forRuntime("rt-1", httpBinding("own", "http://o")))
	if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 4 || len(eff.Bindings) != 2 {
		t.Fatalf("after its own configuration: %+v", eff)
	}
	if _, err := other.Delete(asUser("t1"), own.ID); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, e.svc, "rt-1"); eff.Revision != 5 || len(eff.Bindings) != 1 {
		t.Fatalf("after its own configuration was deleted: %+v", eff)
	}
}

// Two replicas over one store, each with its caches, and a runtime whose polls land on either: the
// revisions they answer agree, and a replica that missed the label event does not number a revision
// from the labels the other already replaced.
func TestCachedReplicasAgree(t *testing.T) {
	prod := map[string]string{"env": "prod"}
	e := newCachedEnv(t)
	a, b := e.svc, e.replica(notify.NewHub())
	rt := asRuntime("t1", "rt-1")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	c := mustCreate(t, asUser("t1"), a, forLabels(prod, httpBinding("log", "http://a")))
	for _, svc := range []*configuration.Service{a, b} {
		if eff := mustEffective(t, rt, svc, "rt-1"); eff.Revision != 1 {
			t.Fatalf("revision %d, want 1", eff.Revision)
		}
	}

	// The label goes; only a hears of it and numbers revision 2 without the binding.
	e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
	e.hub.Notify(notify.RuntimeKey("rt-1"))
	if eff := mustEffective(t, rt, a, "rt-1"); eff.Revision != 2 || len(eff.Bindings) != 0 {
		t.Fatalf("a after the label went: %+v", eff)
	}
	// b still holds the old labels; the view (numbered for other labels) says so, and b asks again.
	if eff := mustEffective(t, rt, b, "rt-1"); eff.Revision != 2 || len(eff.Bindings) != 0 {
		t.Fatalf("b, which missed the event: %+v", eff)
	}
	// The label comes back and again only a hears of it; then b writes a change of the configuration.
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	e.hub.Notify(notify.RuntimeKey("rt-1"))
	if _, err := b.Update(asUser("t1"), c.ID, forLabels(prod, httpBinding("log", "http://b"))); err != nil {
		t.Fatal(err)
	}
	// Asked first, b's stale labels give what the view numbered 2 holds: a read of what is stored, no
	// new revision made from them.
	if eff := mustEffective(t, rt, b, "rt-1"); eff.Revision != 2 || len(eff.Bindings) != 0 {
		t.Fatalf("b before a: %+v", eff)
	}
	// a numbers the change for the labels it knows; b, asked next, disagrees with the view's labels,
	// asks the Director again and answers the same revision instead of numbering its own.
	second := mustEffective(t, rt, a, "rt-1")
	first := mustEffective(t, rt, b, "rt-1")
	if first.Revision != 3 || second.Revision != 3 || metadata(binding(t, first, "log").Binding, "url") != "http://b" {
		t.Fatalf("a answered %+v, b %+v; want revision 3 with http://b from both", second, first)
	}
	for range 3 {
		for _, svc := range []*configuration.Service{a, b} {
			if eff := mustEffective(t, rt, svc, "rt-1"); eff.Revision != 3 {
				t.Fatalf("the revision moved to %d without a change", eff.Revision)
			}
		}
	}
}

// A write whose epoch bump never happened (its writer died, or the bump is still on its way) and whose
// event did not reach b: b's cache is stale, and the view another replica numbered since shows it, so b
// reads the store instead of numbering the old configuration again.
func TestStaleConfigurationCacheDoesNotNumber(t *testing.T) {
	prod := map[string]string{"env": "prod"}
	e := newCachedEnv(t)
	a, b := e.svc, e.replica(notify.NewHub())
	rt := asRuntime("t1", "rt-1")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	c := mustCreate(t, asUser("t1"), a, forLabels(prod, httpBinding("log", "http://v1")))
	for _, svc := range []*configuration.Service{a, b} {
		mustEffective(t, rt, svc, "rt-1")
	}
	e.store.failEpoch.Store(true)
	if _, err := a.Update(asUser("t1"), c.ID, forLabels(prod, httpBinding("log", "http://v2"))); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, a, "rt-1"); eff.Revision != 2 {
		t.Fatalf("a: revision %d, want 2", eff.Revision)
	}
	eff := mustEffective(t, rt, b, "rt-1")
	if eff.Revision != 2 || metadata(binding(t, eff, "log").Binding, "url") != "http://v2" {
		t.Fatalf("b with a stale cache: %+v; want revision 2 with http://v2", eff)
	}
	// A configuration created meanwhile, which b's cache has never seen, likewise.
	other := mustCreate(t, asUser("t1"), a, forLabels(prod, httpBinding("metrics", "http://m")))
	if eff := mustEffective(t, rt, a, "rt-1"); eff.Revision != 3 {
		t.Fatalf("a: revision %d, want 3", eff.Revision)
	}
	if eff := mustEffective(t, rt, b, "rt-1"); eff.Revision != 3 || len(eff.Bindings) != 2 {
		t.Fatalf("b after a configuration it has not seen: %+v", eff)
	}
	// And one deleted meanwhile while b's cache still holds it (b refreshed after a write whose bump
	// went through): the view, numbered without it, is newer, and b reads again.
	e.store.failEpoch.Store(false)
	if _, err := a.Update(asUser("t1"), c.ID, forLabels(prod, httpBinding("log", "http://v3"))); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, b, "rt-1"); eff.Revision != 4 || len(eff.Bindings) != 2 {
		t.Fatalf("b after a write it was told of: %+v", eff)
	}
	e.store.failEpoch.Store(true)
	if _, err := a.Delete(asUser("t1"), other.ID); err != nil {
		t.Fatal(err)
	}
	if eff := mustEffective(t, rt, a, "rt-1"); eff.Revision != 5 || len(eff.Bindings) != 1 {
		t.Fatalf("a after the deletion: %+v", eff)
	}
	if eff := mustEffective(t, rt, b, "rt-1"); eff.Revision != 5 || len(eff.Bindings) != 1 {
		t.Fatalf("b after a deletion it has not seen: %+v", eff)
	}
}

// fanout starts n long polls of runtimes rt-000.. (labelled env=prod) after revision after, makes one
// change of configuration id, and waits until every poll answered. It returns the revisions answered.
func fanout(tb testing.TB, e *cachedEnv, id string, n, after int, url string) []int {
	tb.Helper()
	var wg sync.WaitGroup
	revs := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		rid := fmt.Sprintf("rt-%03d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			eff, err := e.svc.Watch(asRuntime("t1", rid), rid, after, 10*time.Second)
			if err == nil {
				revs[i] = eff.Revision
			}
			errs[i] = err
		}()
	}
	time.Sleep(100 * time.Millisecond) // every poll asleep
	if _, err := e.svc.Update(asUser("t1"), id, forLabels(map[string]string{"env": "prod"}, httpBinding("log", url))); err != nil {
		tb.Fatal(err)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return revs
}

func fleetEnv(tb testing.TB, n int, cached bool) (*cachedEnv, string) {
	tb.Helper()
	e := newCachedEnv(tb)
	if !cached {
		e.svc = configuration.NewService(e.store, e.director, e.hub, silent())
	}
	for i := range n {
		e.director.set("t1", fmt.Sprintf("rt-%03d", i), map[string]any{"env": "prod"})
	}
	c, err := e.svc.Create(asUser("t1"), forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://v1")))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		rid := fmt.Sprintf("rt-%03d", i)
		if _, err := e.svc.Effective(asRuntime("t1", rid), rid); err != nil {
			tb.Fatal(err)
		}
	}
	return e, c.ID
}

// One change wakes every waiter of the tenant: each gets the new revision, and with the caches the wake
// costs no Director call and one list of the tenant's configurations in all.
func TestFanoutFromCaches(t *testing.T) {
	const n = 50
	e, id := fleetEnv(t, n, true)
	calls, lists := e.director.calls.Load(), e.store.lists.Load()
	for i, rev := range fanout(t, e, id, n, 1, "http://v2") {
		if rev != 2 {
			t.Fatalf("runtime %d got revision %d, want 2", i, rev)
		}
	}
	if d := e.director.calls.Load() - calls; d != 0 {
		t.Errorf("the wake asked the Director %d times, want 0", d)
	}
	// One list for the selector index's page; the write's own reads list nothing.
	if d := e.store.lists.Load() - lists; d != 1 {
		t.Errorf("the wake listed the store %d times, want 1", d)
	}
}

// BenchmarkFanout measures what one change costs when it wakes n long polls: Director calls and store
// operations per woken poll, with the caches and without.
func BenchmarkFanout(b *testing.B) {
	const n = 200
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("n=%d/cached=%v", n, cached), func(b *testing.B) {
			e, id := fleetEnv(b, n, cached)
			calls, reads, mutates := e.director.calls.Load(), e.store.reads(), e.store.mutates.Load()
			b.ResetTimer()
			for i := range b.N {
				for _, rev := range fanout(b, e, id, n, i+1, fmt.Sprintf("http://v%d", i+2)) {
					if rev != i+2 {
						b.Fatalf("revision %d, want %d", rev, i+2)
					}
				}
			}
			b.StopTimer()
			wakes := float64(b.N * n)
			b.ReportMetric(float64(e.director.calls.Load()-calls)/wakes, "labelcalls/wake")
			b.ReportMetric(float64(e.store.reads()-reads)/wakes, "reads/wake")
			b.ReportMetric(float64(e.store.mutates.Load()-mutates)/wakes, "mutates/wake")
		})
	}
}

// Waiters on one replica, the change written by another: the event wakes them (here the hub notified as
// the subscription does), and each gets the new revision, numbered once per runtime.
func TestFanoutAcrossReplicas(t *testing.T) {
	const n = 20
	e, id := fleetEnv(t, n, true)
	writer := e.replica(notify.NewHub())
	var wg sync.WaitGroup
	revs := make([]int, n)
	for i := range n {
		rid := fmt.Sprintf("rt-%03d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if eff, err := e.svc.Watch(asRuntime("t1", rid), rid, 1, 5*time.Second); err == nil {
				revs[i] = eff.Revision
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := writer.Update(asUser("t1"), id, forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://v2"))); err != nil {
		t.Fatal(err)
	}
	mutates := e.store.mutates.Load()
	start := time.Now()
	e.hub.Notify(notify.TenantKey("t1")) // the configuration.changed event reaching this replica
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the waiters answered %v after the event", d)
	}
	for i, rev := range revs {
		if rev != 2 {
			t.Fatalf("runtime %d got revision %d, want 2", i, rev)
		}
	}
	if d := e.store.mutates.Load() - mutates; d != n {
		t.Errorf("%d writes for %d runtimes, want one view each", d, n)
	}
	// The writer's replica answers the same revisions from the store.
	for i := range n {
		rid := fmt.Sprintf("rt-%03d", i)
		if eff := mustEffective(t, asRuntime("t1", rid), writer, rid); eff.Revision != 2 {
			t.Fatalf("the writer's replica answers revision %d for %s", eff.Revision, rid)
		}
	}
}

// With the runtime's labels cached, a poll woken after its caller's assertion ran out needs no Director
// call, and answers the change instead of what it computed before.
func TestWatchWokenAfterTheAssertionFromTheCache(t *testing.T) {
	e := newCachedEnv(t)
	e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
	c := mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://old")))
	res := make(chan *configuration.Effective, 1)
	go func() {
		eff, err := e.svc.Watch(asRuntime("t1", "rt-1"), "rt-1", 1, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		res <- eff
	}()
	time.Sleep(50 * time.Millisecond)
	e.director.mu.Lock()
	e.director.refuse = apperr.New(apperr.CodeUnauthenticated, "caller assertion expired or not yet valid")
	e.director.mu.Unlock()
	if _, err := e.svc.Update(asUser("t1"), c.ID, forRuntime("rt-1", httpBinding("log", "http://new"))); err != nil {
		t.Fatal(err)
	}
	select {
	case eff := <-res:
		if eff == nil || eff.Revision != 2 || metadata(binding(t, eff, "log").Binding, "url") != "http://new" {
			t.Fatalf("answered %+v, want revision 2", eff)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no answer")
	}
}
