package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// inFlight is a state store that remembers the most calls of each kind it had at once. Each call lingers a
// little so that calls made together overlap.
type inFlight struct {
	*memstate.Store
	reads, writes       atomic.Int32
	maxReads, maxWrites atomic.Int32
	commits             atomic.Int32 // transactions the store was asked to commit
	readCalls           atomic.Int32 // reads and bulk reads the store was asked for
}

func (s *inFlight) enter(n, most *atomic.Int32) func() {
	now := n.Add(1)
	for {
		m := most.Load()
		if now <= m || most.CompareAndSwap(m, now) {
			break
		}
	}
	time.Sleep(200 * time.Microsecond)
	return func() { n.Add(-1) }
}

func (s *inFlight) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	s.readCalls.Add(1)
	defer s.enter(&s.reads, &s.maxReads)()
	return s.Store.GetState(ctx, store, key, meta)
}

func (s *inFlight) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, p int32) ([]*dapr.BulkStateItem, error) {
	s.readCalls.Add(1)
	defer s.enter(&s.reads, &s.maxReads)()
	return s.Store.GetBulkState(ctx, store, keys, meta, p)
}

func (s *inFlight) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	s.commits.Add(1)
	defer s.enter(&s.writes, &s.maxWrites)()
	return s.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

func (s *inFlight) SaveState(ctx context.Context, store, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error {
	defer s.enter(&s.writes, &s.maxWrites)()
	return s.Store.SaveState(ctx, store, key, data, meta, so...)
}

// A sqlite Registry sends its sidecar one write at a time and at most eight reads, however many requests
// write at once, and still loses nothing.
func TestSqliteStateIsBounded(t *testing.T) {
	st := &inFlight{Store: memstate.New()}
	r := registry.New(st, "registry", registry.OptionsFor("state.sqlite")...)
	s := registry.Scope{Tenant: "t", Kind: "thing"}
	var wg sync.WaitGroup
	errs := make(chan error, 64*5*3)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				id := string(rune('a'+w%26)) + string(rune('a'+w/26)) + string(rune('0'+i))
				errs <- r.PutValue(context.Background(), s, id, item{Count: i})
				var got item
				errs <- r.GetValue(context.Background(), s, id, &got)
				errs <- r.Mutate(context.Background(), s, id, "", func([]byte) (registry.Change, error) {
					return registry.Change{Data: item{Count: i}}, nil
				})
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
	if w := st.maxWrites.Load(); w != 1 {
		t.Errorf("at most %d writes at once, want 1", w)
	}
	if rd := st.maxReads.Load(); rd < 2 || rd > 8 {
		t.Errorf("at most %d reads at once, want 2 to 8", rd)
	}
	if ids := listAll(t, r, s, registry.IndexAll, 100); len(ids) != 64*5 {
		t.Fatalf("listed %d, want %d", len(ids), 64*5)
	}
	for w := range 64 {
		for i := range 5 {
			id := string(rune('a'+w%26)) + string(rune('a'+w/26)) + string(rune('0'+i))
			var got item
			if err := r.GetValue(context.Background(), s, id, &got); err != nil || got.Count != i {
				t.Fatalf("value %s: %+v, %v", id, got, err)
			}
		}
	}
	// The writes that queued behind one another went to the store together.
	if c := st.commits.Load(); c >= 64*5*2 {
		t.Errorf("%d writes took %d commits: none were grouped", 64*5*2, c)
	}

	// Other stores pool connections themselves: nothing is held back.
	other := &inFlight{Store: memstate.New()}
	r = registry.New(other, "registry", registry.OptionsFor("state.postgresql")...)
	wg = sync.WaitGroup{}
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.PutValue(context.Background(), s, string(rune('a'+w)), item{})
		}()
	}
	wg.Wait()
	if w := other.maxWrites.Load(); w < 2 {
		t.Errorf("postgresql: at most %d writes at once, want them concurrent", w)
	}
}

// A request that gives up while it waits for a slot gets its context's error and writes nothing.
func TestBoundedStateWaitEndsWithTheRequest(t *testing.T) {
	block := make(chan struct{})
	st := &blocking{Store: memstate.New(), block: block}
	r := registry.New(st, "registry", registry.WithBoundedState(1, 1))
	s := registry.Scope{Tenant: "t", Kind: "thing"}
	go func() { _ = r.PutValue(context.Background(), s, "first", item{}) }()
	for st.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.PutValue(ctx, s, "second", item{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting write: %v, want context.DeadlineExceeded", err)
	}
	close(block)
	if st.entered.Load() != 1 {
		t.Fatalf("%d writes reached the store, want 1", st.entered.Load())
	}
}

type blocking struct {
	*memstate.Store
	block   chan struct{}
	entered atomic.Int32
}

func (b *blocking) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	b.entered.Add(1)
	<-b.block
	return b.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// Grouped commits keep every writer's own outcome: writers racing on one counter (ETag conflicts inside a
// group) and on the index heads lose no update.
func TestGroupCommitLosesNothing(t *testing.T) {
	testConcurrentWriters(t, registry.New(&inFlight{Store: memstate.New()}, "registry", registry.OptionsFor("state.sqlite")...))
}

// Reads that queue for a read slot go to the store together, and each caller still gets what it asked
// for: its own value, or not found.
func TestQueuedReadsAreReadTogether(t *testing.T) {
	st := &inFlight{Store: memstate.New()}
	r := registry.New(st, "registry", registry.WithBoundedState(1, 2))
	s := registry.Scope{Tenant: "t", Kind: "thing"}
	ctx := context.Background()
	const n = 200
	for i := range n {
		if i%4 != 0 { // every fourth is left unwritten
			if err := r.PutValue(ctx, s, fmt.Sprint("k", i), item{Count: i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.readCalls.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got item
			err := r.GetValue(ctx, s, fmt.Sprint("k", i), &got)
			switch {
			case i%4 == 0 && !errors.Is(err, registry.ErrNotFound):
				errs <- fmt.Errorf("k%d: %v, want not found", i, err)
			case i%4 != 0 && (err != nil || got.Count != i):
				errs <- fmt.Errorf("k%d: %+v, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := st.readCalls.Load(); c >= n/2 {
		t.Errorf("%d reads took %d store calls: too few were read together", n, c)
	}
	if rd := st.maxReads.Load(); rd > 2 {
		t.Errorf("%d reads at once, want at most 2", rd)
	}
}

// poisoned fails every bulk read that asks for the poisoned key.
type poisoned struct {
	*memstate.Store
	calls        atomic.Int32
	failedGroups atomic.Int32 // bulk reads of the poisoned key with others
}

func (p *poisoned) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, par int32) ([]*dapr.BulkStateItem, error) {
	if p.calls.Add(1) == 1 {
		time.Sleep(50 * time.Millisecond) // so that the others queue behind the first
	}
	if slices.Contains(keys, "t/t/thing/v/poison") {
		if len(keys) > 1 {
			p.failedGroups.Add(1)
		}
		return nil, errors.New("store failed")
	}
	return p.Store.GetBulkState(ctx, store, keys, meta, par)
}

// A read that fails a bulk read does not fail the others read with it: each is read again on its own.
func TestAFailedReadFailsOnlyItsCaller(t *testing.T) {
	st := &poisoned{Store: memstate.New()}
	r := registry.New(st, "registry", registry.WithBoundedState(1, 1))
	s := registry.Scope{Tenant: "t", Kind: "thing"}
	ctx := context.Background()
	for i := range 20 {
		if err := r.PutValue(ctx, s, fmt.Sprint("k", i), item{Count: i}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	read := func(i int) {
		defer wg.Done()
		id := fmt.Sprint("k", i)
		if i == 20 {
			id = "poison"
		}
		var got item
		err := r.GetValue(ctx, s, id, &got)
		switch {
		case id == "poison" && err != nil && strings.Contains(err.Error(), "store failed"):
			failed.Add(1)
		case id == "poison":
			t.Errorf("poison: %v, want the store's failure", err)
		case err != nil || got.Count != i:
			t.Errorf("%s: %+v, %v", id, got, err)
		}
	}
	// The first read holds the only slot for a while, and the others, the poisoned one among them, queue.
	wg.Add(21)
	go read(0)
	for st.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 20; i++ {
		go read(i)
	}
	wg.Wait()
	if failed.Load() != 1 {
		t.Errorf("the poisoned read did not fail")
	}
	if st.failedGroups.Load() == 0 {
		t.Errorf("the poisoned read was never read with others: the test tried nothing")
	}
}

// A read that gives up while it waits for a slot gets its context's error.
func TestQueuedReadEndsWithTheRequest(t *testing.T) {
	block := make(chan struct{})
	st := &slowReads{Store: memstate.New(), block: block}
	r := registry.New(st, "registry", registry.WithBoundedState(1, 1))
	s := registry.Scope{Tenant: "t", Kind: "thing"}
	go func() { var got item; _ = r.GetValue(context.Background(), s, "first", &got) }()
	for st.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var got item
	if err := r.GetValue(ctx, s, "second", &got); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting read: %v, want context.DeadlineExceeded", err)
	}
	close(block)
}

type slowReads struct {
	*memstate.Store
	block   chan struct{}
	entered atomic.Int32
}

func (b *slowReads) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, par int32) ([]*dapr.BulkStateItem, error) {
	b.entered.Add(1)
	<-b.block
	return b.Store.GetBulkState(ctx, store, keys, meta, par)
}

func (b *slowReads) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	b.entered.Add(1)
	<-b.block
	return b.Store.GetState(ctx, store, key, meta)
}
