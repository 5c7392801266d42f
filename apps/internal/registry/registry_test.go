package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func put(t *testing.T, r *registry.Registry, s registry.Scope, id string, v item, indexes ...string) {
	t.Helper()
	err := r.Mutate(context.Background(), s, id, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, registry.ErrAlreadyExists
		}
		return registry.Change{Data: v, Indexes: indexes}, nil
	})
	if err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
}

func listAll(t *testing.T, r *registry.Registry, s registry.Scope, index string, pageSize int) []string {
	t.Helper()
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		p, err := r.List(context.Background(), s, index, pageSize, after)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(p.IDs) > pageSize {
			t.Fatalf("page has %d ids, want at most %d", len(p.IDs), pageSize)
		}
		ids = append(ids, p.IDs...)
		if !p.HasNextPage {
			return ids
		}
		after = p.EndCursor
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestCreateGetListAcrossBuckets(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	s := registry.Scope{Tenant: "t1", Kind: "application"}
	const n = registry.BucketSize*2 + 17
	for i := range n {
		put(t, r, s, fmt.Sprintf("id-%04d", i), item{Name: fmt.Sprint(i)})
	}
	var got item
	if err := r.Get(context.Background(), s, "id-0300", &got); err != nil || got.Name != "300" {
		t.Fatalf("get: %v %+v", err, got)
	}
	for _, size := range []int{1, 7, 100, registry.BucketSize, 1000} {
		ids := listAll(t, r, s, registry.IndexAll, size)
		if len(ids) != n {
			t.Fatalf("page size %d: listed %d ids, want %d", size, len(ids), n)
		}
		for i, id := range ids {
			if want := fmt.Sprintf("id-%04d", i); id != want {
				t.Fatalf("page size %d: position %d is %s, want %s", size, i, id, want)
			}
		}
	}
	p, _ := r.List(context.Background(), s, registry.IndexAll, 10, "")
	if p.TotalCount != n {
		t.Fatalf("totalCount %d, want %d", p.TotalCount, n)
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	a := registry.Scope{Tenant: "a", Kind: "application"}
	b := registry.Scope{Tenant: "b", Kind: "application"}
	put(t, r, a, "x", item{Name: "a's"})
	var got item
	if err := r.Get(context.Background(), b, "x", &got); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tenant b read tenant a's entity: %v %+v", err, got)
	}
	if p, _ := r.List(context.Background(), b, registry.IndexAll, 10, ""); len(p.IDs) != 0 || p.TotalCount != 0 {
		t.Fatalf("tenant b lists %+v", p)
	}
}

func TestDeleteAndIndexes(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "application"}
	for i := range 10 {
		ix := "even"
		if i%2 == 1 {
			ix = "odd"
		}
		put(t, r, s, fmt.Sprint(i), item{Count: i}, ix)
	}
	if got := listAll(t, r, s, "odd", 2); fmt.Sprint(got) != "[1 3 5 7 9]" {
		t.Fatalf("odd index: %v", got)
	}
	// Move 3 from odd to even, delete 4.
	if err := r.Mutate(context.Background(), s, "3", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Count: 3}, Indexes: []string{"even"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Mutate(context.Background(), s, "4", "", func([]byte) (registry.Change, error) {
		return registry.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, r, s, "odd", 2); fmt.Sprint(got) != "[1 5 7 9]" {
		t.Fatalf("odd index after move: %v", got)
	}
	if got := listAll(t, r, s, "even", 3); fmt.Sprint(got) != "[0 2 6 8 3]" {
		t.Fatalf("even index after move and delete: %v", got)
	}
	p, _ := r.List(context.Background(), s, registry.IndexAll, 100, "")
	if p.TotalCount != 9 || len(p.IDs) != 9 {
		t.Fatalf("all index after delete: %+v", p)
	}
	var got item
	if err := r.Get(context.Background(), s, "4", &got); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("deleted entity still readable: %v", err)
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	t.Run("atomic transactions", func(t *testing.T) {
		testConcurrentWriters(t, registry.New(memstate.New(), "registry"))
	})
	// A store like state.redis, whose transactions apply whatever passed its checks: tenant locks keep
	// writers from interleaving. (Without them this test loses updates.)
	t.Run("non-atomic transactions with tenant locks", func(t *testing.T) {
		testConcurrentWriters(t, registry.New(memstate.NewNonAtomic(), "registry", registry.WithTenantLocks()))
	})
}

func testConcurrentWriters(t *testing.T, r *registry.Registry) {
	s := registry.Scope{Tenant: "t", Kind: "counter"}
	put(t, r, s, "c", item{})
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Creates and increments at once: both the entity and the "all" index head are contended.
				put := r.Mutate(context.Background(), s, fmt.Sprintf("w%d-%d", w, i), "", func([]byte) (registry.Change, error) {
					return registry.Change{Data: item{}}, nil
				})
				inc := r.Mutate(context.Background(), s, "c", "", func(cur []byte) (registry.Change, error) {
					var v item
					if err := json.Unmarshal(cur, &v); err != nil {
						return registry.Change{}, err
					}
					v.Count++
					return registry.Change{Data: v}, nil
				})
				errs <- errors.Join(put, inc)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var got item
	if err := r.Get(context.Background(), s, "c", &got); err != nil || got.Count != writers*each {
		t.Fatalf("counter %d (%v), want %d", got.Count, err, writers*each)
	}
	if ids := listAll(t, r, s, registry.IndexAll, 50); len(ids) != writers*each+1 {
		t.Fatalf("listed %d, want %d", len(ids), writers*each+1)
	}
}

func TestRetriedWriteDoesNotDuplicate(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "application"}
	create := func() error {
		return r.Mutate(context.Background(), s, "a1", "req-1", func(cur []byte) (registry.Change, error) {
			if cur != nil {
				return registry.Change{}, registry.ErrAlreadyExists
			}
			return registry.Change{Data: item{Name: "a"}}, nil
		})
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	before := st.Txns
	// The same request again (say, the first answer was lost): no error, no second write.
	if err := create(); err != nil {
		t.Fatalf("retried write failed: %v", err)
	}
	if st.Txns != before {
		t.Fatalf("retried write committed again")
	}
	p, _ := r.List(context.Background(), s, registry.IndexAll, 10, "")
	if p.TotalCount != 1 {
		t.Fatalf("totalCount %d after retry, want 1", p.TotalCount)
	}
}

func TestInvalidCursor(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	for _, c := range []string{"abc", "c-1", "c!"} {
		_, err := r.List(context.Background(), registry.Scope{Tenant: "t", Kind: "k"}, registry.IndexAll, 10, c)
		if !errors.Is(err, registry.ErrInvalidCursor) {
			t.Fatalf("cursor %q: err %v, want ErrInvalidCursor", c, err)
		}
	}
}

func TestUniqueKeys(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	s := registry.Scope{Tenant: "t", Kind: "application"}
	create := func(id, name string) error {
		return r.Mutate(context.Background(), s, id, "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Name: name}, Unique: []string{"name:" + name}}, nil
		})
	}
	if err := create("1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := create("2", "a"); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Fatalf("second holder of a name: %v", err)
	}
	if p, _ := r.List(context.Background(), s, registry.IndexAll, 10, ""); p.TotalCount != 1 {
		t.Fatalf("refused write left %d entities", p.TotalCount)
	}
	// Deleting the holder frees the name.
	if err := r.Mutate(context.Background(), s, "1", "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := create("2", "a"); err != nil {
		t.Fatalf("name not freed: %v", err)
	}
	// Another tenant may use the same name.
	other := registry.Scope{Tenant: "u", Kind: "application"}
	if err := r.Mutate(context.Background(), other, "3", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "a"}, Unique: []string{"name:a"}}, nil
	}); err != nil {
		t.Fatalf("name taken across tenants: %v", err)
	}
}

func TestUniqueKeysSurviveUpdatesThatDoNotName(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	s := registry.Scope{Tenant: "t", Kind: "application"}
	ctx := context.Background()
	if err := r.Mutate(ctx, s, "1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "a"}, Unique: []string{"name:a", "webhook:w1"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Mutate(ctx, s, "1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "a", Count: 1}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if owner, err := r.Owner(ctx, s, "webhook:w1"); err != nil || owner != "1" {
		t.Fatalf("owner after update: %q %v", owner, err)
	}
	if err := r.Mutate(ctx, s, "1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "a"}, Unique: []string{"name:a"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Owner(ctx, s, "webhook:w1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("released key still owned: %v", err)
	}
}

type recordingPublisher struct {
	mu     sync.Mutex
	topics []string
	ids    map[string]bool
	fail   bool
}

func (p *recordingPublisher) Publish(_ context.Context, topic, id string, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("broker down")
	}
	if p.ids == nil {
		p.ids = map[string]bool{}
	}
	if !p.ids[id] {
		p.ids[id] = true
		p.topics = append(p.topics, topic)
	}
	return nil
}

func (p *recordingPublisher) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.topics...)
}

func TestOutboxEventsSurviveBrokerOutage(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "application"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 3 {
		err := r.Mutate(ctx, s, fmt.Sprint(i), "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Count: i}, Events: []registry.Event{{Topic: "application.created", Data: i}}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The broker is down: nothing goes out, nothing is lost.
	down := &recordingPublisher{fail: true}
	relayCtx, stop := context.WithCancel(ctx)
	go r.Relay(relayCtx, slog.New(slog.DiscardHandler), down, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	stop()
	// A new process (a fresh registry on the same store) with the broker back publishes all of them.
	up := &recordingPublisher{}
	go registry.New(st, "registry").Relay(ctx, slog.New(slog.DiscardHandler), up, time.Hour)
	deadline := time.Now().Add(2 * time.Second)
	for len(up.seen()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := up.seen(); len(got) != 3 {
		t.Fatalf("published %v, want 3 application.created events", got)
	}
}

func TestRelayPublishesRightAfterTheWrite(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	pub := &recordingPublisher{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// With an hour between sweeps, only the signal from the write can explain a prompt publish.
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	if err := r.Mutate(ctx, registry.Scope{Tenant: "t", Kind: "a"}, "1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: 1, Events: []registry.Event{{Topic: "a.created", Data: 1}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(pub.seen()) == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if len(pub.seen()) != 1 {
		t.Fatal("event not published after the write")
	}
}

func TestEnqueuedEventsAreRelayed(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Enqueue(ctx, "t", registry.Event{Topic: "audit", Data: 1}, registry.Event{Topic: "audit", Data: 2}); err != nil {
		t.Fatal(err)
	}
	if err := r.Enqueue(ctx, "", registry.Event{Topic: "audit", Data: 3}); err != nil {
		t.Fatal(err)
	}
	// A fresh registry on the same store, as after a restart, finds them in the outbox.
	pub := &recordingPublisher{}
	go registry.New(st, "registry").Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	deadline := time.Now().Add(2 * time.Second)
	for len(pub.seen()) < 3 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if got := pub.seen(); len(got) != 3 {
		t.Fatalf("published %v, want 3 audit events", got)
	}
}

// staleSnapshot fails the first transaction as state.sqlite does in WAL mode when another connection
// committed since the transaction's snapshot, rolling it back whole.
type staleSnapshot struct {
	*memstate.Store
	failed bool
}

func (s *staleSnapshot) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	if !s.failed {
		s.failed = true
		return errors.New("error executing state transaction: rpc error: code = Internal desc = error while executing state transaction: database is locked (517)")
	}
	return s.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// A sqlite transaction refused for a stale snapshot changed nothing, so the write is read again and tried
// again, as after an ETag conflict, instead of failing its caller.
func TestStaleSqliteSnapshotIsTriedAgain(t *testing.T) {
	st := &staleSnapshot{Store: memstate.New()}
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "token"}
	err := r.Mutate(context.Background(), s, "k1", "", func(cur []byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "a"}}, nil
	})
	if err != nil || !st.failed {
		t.Fatalf("write after a stale snapshot: %v (refused once: %v)", err, st.failed)
	}
	var got item
	if err := r.Get(context.Background(), s, "k1", &got); err != nil || got.Name != "a" {
		t.Fatalf("stored %+v, %v", got, err)
	}
}
