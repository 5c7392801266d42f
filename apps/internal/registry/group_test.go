package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// writeConcurrently makes n event-carrying writes into one tenant at once, half of them with a request's
// audit record riding along, each joining one of two indexes, and returns each write's error.
func writeConcurrently(r *registry.Registry, s registry.Scope, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				ctx, _ = registry.WithFirstWrite(ctx, registry.Event{Topic: "audit", Data: i})
			}
			errs[i] = r.Mutate(ctx, s, fmt.Sprint("w", i), "", func([]byte) (registry.Change, error) {
				return registry.Change{Data: item{Count: i}, Indexes: []string{[]string{"even", "odd"}[i%2]},
					Events: []registry.Event{{Topic: "status", Data: i}}}, nil
			})
		}()
	}
	wg.Wait()
	return errs
}

// Event-carrying writes that queue for their tenant are committed together, and each is written whole:
// the entity, its indexes, its events and the audit record riding on it.
func TestQueuedWritesOfATenantCommitTogether(t *testing.T) {
	st := &inFlight{Store: memstate.New()}
	r := registry.New(st, "registry", registry.OptionsFor("state.postgresql")...)
	s := registry.Scope{Tenant: "t", Kind: "status"}
	const n = 64
	for i, err := range writeConcurrently(r, s, n) {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// One transaction per write (and the outbox's bookkeeping) if none were grouped.
	if c := st.commits.Load(); c > n/2 {
		t.Errorf("%d writes took %d transactions: too few were committed together", n, c)
	}
	checkWritten(t, r, st.Store, s, n)
}

// checkWritten checks what writeConcurrently wrote, and that the relay publishes each event once.
func checkWritten(t *testing.T, r *registry.Registry, st *memstate.Store, s registry.Scope, n int) {
	t.Helper()
	for i := range n {
		var got item
		if err := r.Get(context.Background(), s, fmt.Sprint("w", i), &got); err != nil || got.Count != i {
			t.Fatalf("w%d: %+v, %v", i, got, err)
		}
	}
	if ids := listAll(t, r, s, registry.IndexAll, 10); len(ids) != n {
		t.Fatalf("index all lists %d, want %d", len(ids), n)
	}
	for k, ix := range []string{"even", "odd"} {
		ids := listAll(t, r, s, ix, 7)
		if len(ids) != n/2 {
			t.Fatalf("index %s lists %d, want %d", ix, len(ids), n/2)
		}
		for _, id := range ids {
			var i int
			if _, err := fmt.Sscanf(id, "w%d", &i); err != nil || i%2 != k {
				t.Fatalf("index %s lists %s", ix, id)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	waitPublished(t, pub, n+n/2)
	time.Sleep(50 * time.Millisecond)
	got := pub.seen()
	if c := countOf(got, "status"); c != n {
		t.Errorf("%d status events published, want %d", c, n)
	}
	if c := countOf(got, "audit"); c != n/2 {
		t.Errorf("%d audit records published, want %d", c, n/2)
	}
	if left := outboxRecords(st, s.Tenant); left != 0 {
		t.Errorf("%d outbox records left after the relay", left)
	}
}

func countOf(topics []string, topic string) int {
	n := 0
	for _, tp := range topics {
		if tp == topic {
			n++
		}
	}
	return n
}

// A write that fails on its own fails alone: fn's error, and the second claim of one unique key within a
// group, which is the claim of a key already taken.
func TestAWriteFailingInAGroupFailsAlone(t *testing.T) {
	st := &inFlight{Store: memstate.New()}
	r := registry.New(st, "registry", registry.OptionsFor("state.postgresql")...)
	s := registry.Scope{Tenant: "t", Kind: "app"}
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Mutate(context.Background(), s, fmt.Sprint("a", i), "", func([]byte) (registry.Change, error) {
				switch {
				case i == 7:
					return registry.Change{}, errors.New("refused by fn")
				case i%10 == 3:
					// Four writes claim one name: one of them gets it.
					return registry.Change{Data: item{Count: i}, Unique: []string{"name/same"},
						Events: []registry.Event{{Topic: "created", Data: i}}}, nil
				}
				return registry.Change{Data: item{Count: i}, Unique: []string{fmt.Sprint("name/", i)},
					Events: []registry.Event{{Topic: "created", Data: i}}}, nil
			})
		}()
	}
	wg.Wait()
	claimed := 0
	for i, err := range errs {
		switch {
		case i == 7:
			if err == nil || !strings.Contains(err.Error(), "refused by fn") {
				t.Errorf("a7: %v, want fn's error", err)
			}
		case i%10 == 3 && errors.Is(err, registry.ErrAlreadyExists):
		case i%10 == 3 && err == nil:
			claimed++
		case err != nil:
			t.Errorf("a%d: %v", i, err)
		}
	}
	if claimed != 1 {
		t.Errorf("%d writes claimed one name, want 1", claimed)
	}
	if ids := listAll(t, r, s, registry.IndexAll, 10); len(ids) != n-1-3 {
		t.Errorf("%d written, want %d", len(ids), n-1-3)
	}
	owner, err := r.Owner(context.Background(), s, "name/same")
	if err != nil || !slices.Contains([]string{"a3", "a13", "a23", "a33"}, owner) {
		t.Errorf("name/same owned by %q (%v)", owner, err)
	}
}

// failingBig fails the first transactions of more operations than one write makes (8 here): a group's.
type failingBig struct {
	*inFlight
	left     atomic.Int32
	failed   atomic.Int32
	conflict bool         // fail as an ETag conflict: another replica wrote first
	bigOK    atomic.Int32 // transactions of a group that committed
}

func (f *failingBig) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	if len(ops) > 10 && f.left.Add(-1) >= 0 {
		f.failed.Add(1)
		if f.conflict {
			return errors.New("possible etag mismatch. error from state store")
		}
		return errors.New("store failed")
	}
	err := f.inFlight.ExecuteStateTransaction(ctx, store, meta, ops)
	if err == nil && len(ops) > 10 {
		f.bigOK.Add(1)
	}
	return err
}

// A group whose transaction fails writes nothing. When it lost an ETag race it is read and tried again as
// a group; when the store failed it otherwise, each of its writes is made again on its own.
func TestAFailedGroupIsTriedAgain(t *testing.T) {
	for _, race := range []bool{false, true} {
		t.Run(fmt.Sprintf("race=%v", race), func(t *testing.T) {
			st := &failingBig{inFlight: &inFlight{Store: memstate.New()}, conflict: race}
			st.left.Store(3)
			r := registry.New(st, "registry", registry.OptionsFor("state.postgresql")...)
			s := registry.Scope{Tenant: "t", Kind: "status"}
			const n = 32
			for i, err := range writeConcurrently(r, s, n) {
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			if st.failed.Load() == 0 {
				t.Fatal("no group's transaction failed: the test made none")
			}
			if race && st.bigOK.Load() == 0 {
				t.Error("no group committed after the lost race: the writes went one by one")
			}
			checkWritten(t, r, st.Store, s, n)
		})
	}
}

// On a store without atomic transactions, a group is written under the tenant's lock like a single write.
func TestGroupsUnderTenantLocks(t *testing.T) {
	st := memstate.NewNonAtomic()
	r := registry.New(&inFlight{Store: st}, "registry", registry.WithTenantLocks())
	s := registry.Scope{Tenant: "t", Kind: "status"}
	const n = 32
	for i, err := range writeConcurrently(r, s, n) {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	checkWritten(t, r, st, s, n)
}
