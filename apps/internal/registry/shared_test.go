package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// stalling is a store whose transactions that touch a key containing stall wait until release is closed:
// a write of the tenant held up in the sidecar, with the writers behind it in the tenant queue.
type stalling struct {
	*memstate.Store
	stall   string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stalling) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	for _, op := range ops {
		if strings.Contains(op.Item.Key, s.stall) {
			s.once.Do(func() { close(s.entered) })
			<-s.release
			break
		}
	}
	return s.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// While a write that joins an index holds the tenant's queue, an update that touches only its own entity
// goes through; a write that needs the tenant's shared keys (an event, a new index) waits its turn.
func TestOwnEntityWritesDoNotQueueBehindTheTenant(t *testing.T) {
	st := &stalling{Store: memstate.New(), stall: "/i/slow/", entered: make(chan struct{}), release: make(chan struct{})}
	r := registry.New(st, "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t", Kind: "view"}
	put(t, r, s, "v1", item{Name: "v1"})
	put(t, r, s, "v2", item{Name: "v2"})

	slow := make(chan error, 1)
	go func() {
		slow <- r.Mutate(ctx, s, "v1", "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Name: "v1"}, Indexes: []string{"slow"}}, nil
		})
	}()
	<-st.entered

	update := func(id string, c registry.Change) chan error {
		done := make(chan error, 1)
		go func() {
			done <- r.Mutate(ctx, s, id, "", func([]byte) (registry.Change, error) { return c, nil })
		}()
		return done
	}
	own := update("v2", registry.Change{Data: item{Name: "v2", Count: 1}})
	select {
	case err := <-own:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("an update of its own entity waited for the tenant's queue")
	}
	withEvent := update("v2", registry.Change{Data: item{Name: "v2", Count: 2}, Events: []registry.Event{{Topic: "x", Data: 1}}})
	withIndex := update("v2", registry.Change{Data: item{Name: "v2", Count: 3}, Indexes: []string{"other"}})
	time.Sleep(100 * time.Millisecond)
	select {
	case <-withEvent:
		t.Fatal("a write with an event went past the tenant's queue")
	case <-withIndex:
		t.Fatal("a write joining an index went past the tenant's queue")
	default:
	}
	close(st.release)
	for _, c := range []chan error{slow, withEvent, withIndex} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	var got item
	if err := r.Get(ctx, s, "v2", &got); err != nil || got.Count < 2 {
		t.Fatalf("v2 after the writes: %+v %v", got, err)
	}
	// The two queued writes went in either order; the index follows whichever was last.
	want := map[int]string{2: "[]", 3: "[v2]"}[got.Count]
	if ids := listAll(t, r, s, "other", 10); fmt.Sprint(ids) != want {
		t.Fatalf("index other lists %v with count %d", ids, got.Count)
	}
	if ids := listAll(t, r, s, "slow", 10); fmt.Sprint(ids) != "[v1]" {
		t.Fatalf("index slow lists %v", ids)
	}
}

type flagged struct {
	Count int  `json:"count"`
	Flag  bool `json:"flag"`
}

// Two replicas write one entity at once: some writers only count (writes of the entity alone, outside the
// tenant queue), others flip a flag that moves it in and out of an index (writes through the queue). No
// count is lost, and the index agrees with the flag.
func TestReplicasMixingOwnEntityAndIndexWrites(t *testing.T) {
	st := memstate.New()
	replicas := []*registry.Registry{registry.New(st, "registry"), registry.New(st, "registry")}
	s := registry.Scope{Tenant: "t", Kind: "view"}
	ctx := context.Background()
	write := func(r *registry.Registry, flip bool) error {
		return r.Mutate(ctx, s, "e", "", func(cur []byte) (registry.Change, error) {
			var v flagged
			if cur != nil {
				if err := json.Unmarshal(cur, &v); err != nil {
					return registry.Change{}, err
				}
			}
			if flip {
				v.Flag = !v.Flag
			} else {
				v.Count++
			}
			var ix []string
			if v.Flag {
				ix = []string{"flagged"}
			}
			return registry.Change{Data: v, Indexes: ix}, nil
		})
	}
	if err := write(replicas[0], false); err != nil {
		t.Fatal(err)
	}
	const counters, flippers, each = 6, 2, 30
	var wg sync.WaitGroup
	errs := make(chan error, (counters+flippers)*each)
	for w := range counters + flippers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- write(replicas[w%2], w >= counters)
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
	var got flagged
	if err := replicas[1].Get(ctx, s, "e", &got); err != nil {
		t.Fatal(err)
	}
	if got.Count != 1+counters*each {
		t.Fatalf("count %d, want %d", got.Count, 1+counters*each)
	}
	if got.Flag != (flippers*each%2 == 1) {
		t.Fatalf("flag %v after %d flips", got.Flag, flippers*each)
	}
	ids := listAll(t, replicas[0], s, "flagged", 10)
	if got.Flag != (fmt.Sprint(ids) == "[e]") || len(ids) > 1 {
		t.Fatalf("flag %v, index flagged lists %v", got.Flag, ids)
	}
	if p, _ := replicas[0].List(ctx, s, registry.IndexAll, 10, ""); p.TotalCount != 1 {
		t.Fatalf("index all counts %d", p.TotalCount)
	}
}

// An update of an entity's own data under a request's audit record still carries the record: the record
// makes it a write with an event.
func TestOwnEntityUpdateCarriesTheRequestsRecord(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	s := registry.Scope{Tenant: "t", Kind: "view"}
	put(t, r, s, "v", item{Name: "v"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)

	wctx, fw := registry.WithFirstWrite(ctx, registry.Event{Topic: "audit", Data: "record"})
	if err := r.Mutate(wctx, s, "v", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "v", Count: 1}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !fw.Written() {
		t.Fatal("the record was not written with the update")
	}
	waitPublished(t, pub, 1)
	if got := pub.seen(); fmt.Sprint(got) != "[audit]" {
		t.Fatalf("published %v", got)
	}
}

// A write that fails its ETag check on a store without atomic transactions must not have gone around the
// tenant's lock: with tenant locks, every write, even of its own entity alone, still takes it.
func TestTenantLocksStillTakenForOwnEntityWrites(t *testing.T) {
	st := memstate.NewNonAtomic()
	r := registry.New(st, "registry", registry.WithTenantLocks())
	s := registry.Scope{Tenant: "t", Kind: "view"}
	put(t, r, s, "v", item{})
	// Someone else holds the tenant's lock in the store (another replica mid-transaction).
	if err := st.SaveState(context.Background(), "registry", "t/t/_lock", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := r.Mutate(ctx, s, "v", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Count: 1}}, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write while another holds the tenant's lock: %v", err)
	}
}

// A write guesses the bucket an index's next member goes to from the head it saw last. Two replicas
// writing in turns make each one's guess wrong, across bucket boundaries: the write reads the right
// bucket after all, and the index and outbox lose nothing and keep their order.
func TestStaleBucketGuessesLoseNothing(t *testing.T) {
	st := memstate.New()
	replicas := []*registry.Registry{registry.New(st, "registry"), registry.New(st, "registry")}
	s := registry.Scope{Tenant: "t", Kind: "application"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var want []string
	for turn := range 4 {
		r := replicas[turn%2]
		for i := range 150 {
			id := fmt.Sprintf("%d-%03d", turn, i)
			wctx, _ := registry.WithFirstWrite(ctx, registry.Event{Topic: id, Data: i})
			if err := r.Mutate(wctx, s, id, "", func([]byte) (registry.Change, error) {
				return registry.Change{Data: item{Name: id}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
	}
	if got := listAll(t, replicas[0], s, registry.IndexAll, 100); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("index all lists %d ids, want %d in order", len(got), len(want))
	}
	pub := &recordingPublisher{}
	go replicas[1].Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	waitPublished(t, pub, len(want))
	if got := pub.seen(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events out of order or missing: %d published", len(got))
	}
}

// What a write costs in round trips to the sidecar, the relay aside: an update that touches only its own
// entity reads it and commits; one with an event also reads the outbox head and the bucket it appends to,
// in one more read; one carrying the request's audit record reads all of them at once.
func TestWriteRoundTrips(t *testing.T) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "runtime"}
	ctx := context.Background()
	update := func(ctx context.Context, c registry.Change) int64 {
		t.Helper()
		before := st.read()
		if err := r.Mutate(ctx, s, "r1", "", func([]byte) (registry.Change, error) { return c, nil }); err != nil {
			t.Fatal(err)
		}
		return st.read().minus(before).total()
	}
	named := registry.Change{Data: item{Name: "r1"}, Unique: []string{"name:r1"}, Indexes: []string{"label:a"}}
	update(ctx, named)
	withEvent := named
	withEvent.Events = []registry.Event{{Topic: "e", Data: 1}}
	update(ctx, withEvent) // the first event of the tenant: nothing to guess from yet
	for name, c := range map[string]struct {
		ctx  context.Context
		ch   registry.Change
		want int64
	}{
		"own entity only": {ctx, named, 2},
		"with an event":   {ctx, withEvent, 3},
		"audited":         {auditCtx(ctx), named, 2},
	} {
		if got := update(c.ctx, c.ch); got != c.want {
			t.Errorf("%s: %d round trips, want %d", name, got, c.want)
		}
	}
}

func auditCtx(ctx context.Context) context.Context {
	ctx, _ = registry.WithFirstWrite(ctx, registry.Event{Topic: "audit", Data: "record"})
	return ctx
}
