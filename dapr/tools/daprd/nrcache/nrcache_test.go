package nrcache

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nr "github.com/dapr/components-contrib/nameresolution"
	"github.com/dapr/kit/logger"
)

// fakeResolver answers ResolveID with whatever answer holds at the time of the call, counting calls; with
// gate set, each call waits for it to close first.
type fakeResolver struct {
	mu     sync.Mutex
	answer func(req nr.ResolveRequest) (string, error)
	gate   chan struct{}
	calls  atomic.Int32
	inited nr.Metadata
	closed bool
}

func (f *fakeResolver) Init(_ context.Context, md nr.Metadata) error {
	f.inited = md
	return nil
}

func (f *fakeResolver) ResolveID(ctx context.Context, req nr.ResolveRequest) (string, error) {
	f.calls.Add(1)
	f.mu.Lock()
	gate, answer := f.gate, f.answer
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return answer(req)
}

func (f *fakeResolver) Close() error {
	f.closed = true
	return nil
}

func (f *fakeResolver) set(addr string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = func(nr.ResolveRequest) (string, error) { return addr, err }
}

// clock is a settable time for the cache's expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTest returns a cache over a fake resolver answering addr, initialized with configuration cfg, on a
// clock that moves only when told to.
func newTest(t *testing.T, cfg any, addr string) (*Resolver, *fakeResolver, *clock) {
	t.Helper()
	inner := &fakeResolver{}
	inner.set(addr, nil)
	r := New(inner, logger.NewLogger("nrcache.test"))
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	r.now = clk.now
	if err := r.Init(context.Background(), nr.Metadata{Configuration: cfg}); err != nil {
		t.Fatal(err)
	}
	return r, inner, clk
}

func resolve(t *testing.T, r *Resolver, id string) string {
	t.Helper()
	addr, err := r.ResolveID(context.Background(), nr.ResolveRequest{ID: id, Port: 50002})
	if err != nil {
		t.Fatalf("ResolveID(%s): %v", id, err)
	}
	return addr
}

func TestCachedWithinTTL(t *testing.T) {
	r, inner, clk := newTest(t, map[string]any{"cacheTTL": "2s"}, "127.0.0.1:40001")
	for range 5 {
		if got := resolve(t, r, "director"); got != "127.0.0.1:40001" {
			t.Fatalf("address %q", got)
		}
		clk.advance(300 * time.Millisecond)
	}
	if n := inner.calls.Load(); n != lookupSamples {
		t.Errorf("5 lookups of one app within the TTL asked the resolver %d times, want one refresh (%d)", n, lookupSamples)
	}
	// Another app has its own entry.
	resolve(t, r, "registry")
	if n := inner.calls.Load(); n != 2*lookupSamples {
		t.Errorf("a second app ID: %d calls to the resolver, want two refreshes", n)
	}
}

// An app restarted on a new port is found again once the TTL has passed.
func TestRefreshAfterTTL(t *testing.T) {
	r, inner, clk := newTest(t, map[string]any{"cacheTTL": "2s"}, "127.0.0.1:40001")
	resolve(t, r, "director")
	inner.set("127.0.0.1:40777", nil) // the app restarted
	clk.advance(1900 * time.Millisecond)
	if got := resolve(t, r, "director"); got != "127.0.0.1:40001" {
		t.Errorf("within the TTL: %q, want the cached 127.0.0.1:40001", got)
	}
	clk.advance(100 * time.Millisecond)
	if got := resolve(t, r, "director"); got != "127.0.0.1:40777" {
		t.Errorf("after the TTL: %q, want the new 127.0.0.1:40777", got)
	}
	if n := inner.calls.Load(); n != 2*lookupSamples {
		t.Errorf("%d calls to the resolver, want two refreshes", n)
	}
}

// Concurrent misses for one app make one lookup, and all of them get its answer.
func TestConcurrentMissesShareOneLookup(t *testing.T) {
	r, inner, _ := newTest(t, nil, "127.0.0.1:40001")
	gate := make(chan struct{})
	inner.mu.Lock()
	inner.gate = gate
	inner.mu.Unlock()

	const callers = 20
	addrs := make(chan string, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { addrs <- resolve(t, r, "director") })
	}
	// Hold the lookup until every caller has had time to arrive and miss; one that arrives after the
	// release finds the cached answer, so the count below holds either way.
	waitFor(t, func() bool { return inner.calls.Load() >= 1 })
	time.Sleep(100 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(addrs)
	for a := range addrs {
		if a != "127.0.0.1:40001" {
			t.Errorf("a caller got %q", a)
		}
	}
	if n := inner.calls.Load(); n != lookupSamples {
		t.Errorf("%d concurrent misses asked the resolver %d times, want one refresh", callers, n)
	}
}

// A caller that gives up leaves the lookup running for the others.
func TestCancelledCallerDoesNotCancelLookup(t *testing.T) {
	r, inner, _ := newTest(t, nil, "127.0.0.1:40001")
	gate := make(chan struct{})
	inner.mu.Lock()
	inner.gate = gate
	inner.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.ResolveID(ctx, nr.ResolveRequest{ID: "director", Port: 50002})
		first <- err
	}()
	waitFor(t, func() bool { return inner.calls.Load() == 1 })
	second := make(chan string, 1)
	go func() { second <- resolve(t, r, "director") }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", err)
	}
	close(gate)
	if a := <-second; a != "127.0.0.1:40001" {
		t.Errorf("the other caller got %q", a)
	}
	if n := inner.calls.Load(); n != lookupSamples {
		t.Errorf("%d calls to the resolver, want one refresh", n)
	}
}

// Errors (including "no host", an app not registered yet) and empty answers are never cached.
func TestErrorsNotCached(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
		err  error
	}{
		{"error", "", errors.New("failed to look up address: database is locked")},
		{"no host", "", errors.New("no host found with the given ID")},
		{"empty address", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, inner, _ := newTest(t, nil, "")
			inner.set(tc.addr, tc.err)
			addr, err := r.ResolveID(context.Background(), nr.ResolveRequest{ID: "director"})
			if !errors.Is(err, tc.err) || addr != tc.addr {
				t.Fatalf("first lookup: %q, %v; want the resolver's %q, %v", addr, err, tc.addr, tc.err)
			}
			inner.set("127.0.0.1:40001", nil)
			if got := resolve(t, r, "director"); got != "127.0.0.1:40001" {
				t.Errorf("after a failed lookup: %q, want a fresh answer", got)
			}
			if n := inner.calls.Load(); n != 1+lookupSamples {
				t.Errorf("%d calls to the resolver, want the failed one and a refresh", n)
			}
		})
	}
}

func TestConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     any
		ttl     time.Duration
		wantErr bool
	}{
		{"absent", map[string]any{"connectionString": "nr.db"}, DefaultTTL, false},
		{"nil", nil, DefaultTTL, false},
		{"duration", map[string]any{"connectionString": "nr.db", "cacheTTL": "500ms"}, 500 * time.Millisecond, false},
		{"seconds", map[string]any{"connectionString": "nr.db", "cachettl": float64(4)}, 4 * time.Second, false},
		{"string map", map[string]string{"connectionString": "nr.db", "CacheTTL": "7"}, 7 * time.Second, false},
		{"off", map[string]any{"connectionString": "nr.db", "cacheTTL": "0"}, 0, false},
		{"negative", map[string]any{"cacheTTL": "-1s"}, 0, true},
		{"garbage", map[string]any{"cacheTTL": "soon"}, 0, true},
		{"fraction without unit", map[string]any{"cacheTTL": 2.5}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeResolver{}
			r := New(inner, logger.NewLogger("nrcache.test"))
			var before map[string]any
			if m, ok := tc.cfg.(map[string]any); ok {
				before = maps.Clone(m)
			}
			err := r.Init(context.Background(), nr.Metadata{Configuration: tc.cfg})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Init accepted %v", tc.cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ttl != tc.ttl {
				t.Errorf("TTL %v, want %v", r.ttl, tc.ttl)
			}
			// The wrapped resolver gets the rest of the configuration, and the runtime's map is untouched.
			switch got := inner.inited.Configuration.(type) {
			case map[string]any:
				if len(got) != 1 || got["connectionString"] != "nr.db" {
					t.Errorf("the wrapped resolver got %v", got)
				}
				if orig := tc.cfg.(map[string]any); !maps.Equal(orig, before) {
					t.Errorf("the runtime's configuration was changed: %v, was %v", orig, before)
				}
			case map[string]string:
				if len(got) != 1 || got["connectionString"] != "nr.db" {
					t.Errorf("the wrapped resolver got %v", got)
				}
			case nil:
				if tc.cfg != nil {
					t.Errorf("the wrapped resolver got no configuration")
				}
			}
		})
	}
}

func TestCacheOff(t *testing.T) {
	r, inner, _ := newTest(t, map[string]any{"cacheTTL": "0"}, "127.0.0.1:40001")
	for range 3 {
		resolve(t, r, "director")
	}
	if n := inner.calls.Load(); n != 3 {
		t.Errorf("cache off: %d calls to the resolver, want 3", n)
	}
}

// Expired entries of app IDs nobody asks for any more are dropped.
func TestSweep(t *testing.T) {
	r, _, clk := newTest(t, map[string]any{"cacheTTL": "1s"}, "127.0.0.1:40001")
	resolve(t, r, "old-1")
	resolve(t, r, "old-2")
	clk.advance(2 * time.Second)
	resolve(t, r, "new")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) != 1 {
		t.Errorf("entries after the TTL: %v, want only the new one", r.entries)
	}
}

func TestCloseClosesInner(t *testing.T) {
	r, inner, _ := newTest(t, nil, "127.0.0.1:40001")
	resolve(t, r, "director")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !inner.closed {
		t.Error("the wrapped resolver was not closed")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// Calls spread over every replica the resolver knows, as they did without the cache: a refresh keeps each
// address it heard, and each call picks one.
func TestCallsSpreadOverReplicas(t *testing.T) {
	r, inner, _ := newTest(t, nil, "")
	var turn atomic.Int32
	inner.mu.Lock()
	inner.answer = func(nr.ResolveRequest) (string, error) {
		if turn.Add(1)%2 == 0 {
			return "127.0.0.1:40002", nil
		}
		return "127.0.0.1:40001", nil
	}
	inner.mu.Unlock()
	seen := map[string]int{}
	for range 200 {
		seen[resolve(t, r, "director")]++
	}
	if len(seen) != 2 || seen["127.0.0.1:40001"] < 50 || seen["127.0.0.1:40002"] < 50 {
		t.Fatalf("200 calls went to %v, want both replicas", seen)
	}
	if n := inner.calls.Load(); n != lookupSamples {
		t.Errorf("%d calls to the resolver, want one refresh", n)
	}
}
