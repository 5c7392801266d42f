package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// reading is a state store that remembers which keys were read, for tests of what a relay pass looks at.
type reading struct {
	*memstate.Store
	mu   sync.Mutex
	keys []string
}

func (r *reading) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	r.note(key)
	return r.Store.GetState(ctx, store, key, meta)
}

func (r *reading) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, p int32) ([]*dapr.BulkStateItem, error) {
	r.note(keys...)
	return r.Store.GetBulkState(ctx, store, keys, meta, p)
}

func (r *reading) note(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, keys...)
}

// since returns the keys read since mark, a length of the log taken earlier.
func (r *reading) since(mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys[mark:])
}

func (r *reading) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

func writeEvent(t *testing.T, r *registry.Registry, tenant, id, topic string) {
	t.Helper()
	err := r.Mutate(context.Background(), registry.Scope{Tenant: tenant, Kind: "runtime"}, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: id}, Events: []registry.Event{{Topic: topic, Data: id}}}, nil
	})
	if err != nil {
		t.Fatalf("write %s/%s: %v", tenant, id, err)
	}
}

// A write sets off a pass over its own tenant's outbox only: the other tenants' outboxes and the list of
// tenants with an outbox are left to the sweep on the interval.
func TestKickedRelayReadsOnlyTheWrittenTenant(t *testing.T) {
	st := &reading{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 5 {
		writeEvent(t, r, fmt.Sprintf("t%d", i), "seed", "seed")
	}
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	waitPublished(t, pub, 5) // the first pass sweeps every tenant
	time.Sleep(50 * time.Millisecond)

	mark := st.mark()
	writeEvent(t, r, "t3", "r1", "beat")
	waitPublished(t, pub, 6)
	time.Sleep(50 * time.Millisecond) // and cleared
	var own int
	for _, k := range st.since(mark) {
		switch {
		case strings.HasPrefix(k, "t/t3/"):
			own++
		default:
			t.Errorf("the pass after a write to t3 read %s", k)
		}
	}
	if own == 0 {
		t.Fatal("no key of t3 read")
	}
	if got := pub.seen(); got[5] != "beat" {
		t.Fatalf("published %v", got)
	}
	if n := outboxRecords(st.Store, "t3"); n != 0 {
		t.Fatalf("%d records left in t3's outbox after publishing", n)
	}
}

// outboxRecords counts the outbox records of tenant still stored.
func outboxRecords(st *memstate.Store, tenant string) int {
	n := 0
	for _, k := range st.Keys() {
		if strings.HasPrefix(k, "t/"+tenant+"/outbox/e/") {
			n++
		}
	}
	return n
}

// Another replica's events, written with no relay of its own to kick (it died right after the write), go
// out on this replica's sweep.
func TestSweepPublishesWhatNoKickAnnounced(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, 30*time.Millisecond)
	writeEvent(t, r, "a", "1", "mine")
	waitPublished(t, pub, 1)

	dead := registry.New(st, "registry") // a replica whose relay never runs
	writeEvent(t, dead, "a", "2", "theirs")
	writeEvent(t, dead, "b", "3", "theirs")
	waitPublished(t, pub, 3)
	if got := pub.seen(); fmt.Sprint(got) != "[mine theirs theirs]" {
		t.Fatalf("published %v", got)
	}
}

// switchable is a publisher whose broker is down while down is set.
type switchable struct {
	recordingPublisher
	mu   sync.Mutex
	down bool
}

func (s *switchable) Publish(ctx context.Context, topic, id string, data []byte) error {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return fmt.Errorf("broker down")
	}
	return s.recordingPublisher.Publish(ctx, topic, id, data)
}

func (s *switchable) set(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// A tenant whose kicked pass failed (the broker was down) stays on the relay's list: the next write, to any
// tenant, sends its events too, without waiting for the sweep.
func TestFailedTenantIsRelayedOnTheNextKick(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &switchable{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	time.Sleep(20 * time.Millisecond) // the first sweep, over nothing

	pub.set(true)
	writeEvent(t, r, "a", "1", "a.lost")
	time.Sleep(100 * time.Millisecond) // the kicked pass fails
	if got := pub.seen(); len(got) != 0 {
		t.Fatalf("published %v with the broker down", got)
	}
	pub.set(false)
	writeEvent(t, r, "b", "2", "b.beat")
	waitPublished(t, &pub.recordingPublisher, 2)
	got := pub.seen()
	slices.Sort(got)
	if fmt.Sprint(got) != "[a.lost b.beat]" {
		t.Fatalf("published %v", got)
	}
}

// Writes to many tenants at once, from many goroutines, with a relay that only ever gets kicked: every
// event goes out, none is left in an outbox.
func TestKickedRelayLosesNoTenant(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	const tenants, each = 8, 20
	var wg sync.WaitGroup
	for i := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				writeEvent(t, r, fmt.Sprintf("t%d", i), fmt.Sprint(j), "e")
			}
		}()
	}
	wg.Wait()
	waitPublished(t, pub, tenants*each)
	time.Sleep(50 * time.Millisecond)
	for i := range tenants {
		if n := outboxRecords(st, fmt.Sprintf("t%d", i)); n != 0 {
			t.Errorf("tenant t%d: %d records left", i, n)
		}
	}
}

// An outbox that has carried many events is read from its first pending record, not from the empty
// buckets of the records published long ago.
func TestRelaySkipsTheOutboxsPublishedPast(t *testing.T) {
	st := &reading{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const past = 3*registry.BucketSize + 10
	for i := range past {
		if err := r.Enqueue(ctx, "t", registry.Event{Topic: "old", Data: i}); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recordingPublisher{}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	waitPublished(t, pub, past)
	time.Sleep(50 * time.Millisecond)

	mark := st.mark()
	writeEvent(t, r, "t", "1", "new")
	waitPublished(t, pub, past+1)
	time.Sleep(50 * time.Millisecond)
	for _, k := range st.since(mark) {
		for b := range 3 {
			if k == fmt.Sprintf("t/t/outbox/i/pending/b/%d", b) {
				t.Errorf("the pass after the write read %s, a bucket emptied long ago", k)
			}
		}
	}
	if n := outboxRecords(st.Store, "t"); n != 0 {
		t.Fatalf("%d records left", n)
	}

	// An outbox head written before the mark existed (or by a replica that does not keep it): the next
	// clear walks the empty buckets once, and the pass after it skips them again.
	const hk = "t/t/outbox/i/pending/h"
	it, err := st.GetState(ctx, "registry", hk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(it.Value, &h); err != nil || h["first"] == nil {
		t.Fatalf("outbox head %s has no mark (%v)", it.Value, err)
	}
	delete(h, "first")
	old, _ := json.Marshal(h)
	if err := st.SaveState(ctx, "registry", hk, old, nil); err != nil {
		t.Fatal(err)
	}
	writeEvent(t, r, "t", "2", "new")
	waitPublished(t, pub, past+2)
	time.Sleep(50 * time.Millisecond)
	mark = st.mark()
	writeEvent(t, r, "t", "3", "new")
	waitPublished(t, pub, past+3)
	time.Sleep(50 * time.Millisecond)
	for _, k := range st.since(mark) {
		for b := range 3 {
			if k == fmt.Sprintf("t/t/outbox/i/pending/b/%d", b) {
				t.Errorf("after a head without a mark, a pass still read %s", k)
			}
		}
	}
}

// flaky is a broker that refuses every third publish.
type flaky struct {
	recordingPublisher
	mu sync.Mutex
	n  int
}

func (f *flaky) Publish(ctx context.Context, topic, id string, data []byte) error {
	f.mu.Lock()
	f.n++
	fail := f.n%3 == 0
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("broker hiccup")
	}
	return f.recordingPublisher.Publish(ctx, topic, id, data)
}

// Two replicas write into one tenant and relay its outbox over a broker that fails now and then, so that
// records are cleared in pieces, from both sides, across buckets: every event still goes out, and the
// outbox ends empty. (A low-water mark moved past a record would leave it unpublished for ever.)
func TestTwoReplicasRelayOneOutboxInPieces(t *testing.T) {
	st := memstate.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &flaky{}
	replicas := []*registry.Registry{registry.New(st, "registry"), registry.New(st, "registry")}
	for _, r := range replicas {
		go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, 20*time.Millisecond)
	}
	const writers, each = 4, 150 // 600 events: three buckets
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := replicas[w%2]
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := r.Mutate(ctx, registry.Scope{Tenant: "t", Kind: "runtime"}, id, "", func([]byte) (registry.Change, error) {
					return registry.Change{Data: item{Name: id}, Events: []registry.Event{{Topic: id, Data: i}}}, nil
				})
				if err != nil {
					t.Errorf("write %s: %v", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitPublished(t, &pub.recordingPublisher, writers*each)
	deadline := time.Now().Add(5 * time.Second)
	for outboxRecords(st, "t") > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := outboxRecords(st, "t"); n != 0 {
		t.Fatalf("%d records left in the outbox", n)
	}
	p, err := replicas[0].List(ctx, registry.Scope{Tenant: "t", Kind: "outbox"}, "pending", 10, "")
	if err != nil || len(p.IDs) != 0 || p.TotalCount != 0 {
		t.Fatalf("pending index after all published: %+v %v", p, err)
	}
}
