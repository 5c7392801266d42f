package registry_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// counting is a state store that counts the calls the registry makes, each one a sidecar round trip in
// production: what a write costs is how many of them it takes, whatever this machine's speed.
type counting struct {
	*memstate.Store
	gets, bulks, txns, saves, deletes atomic.Int64
	// inTxn, when set, runs inside every transaction before it commits.
	inTxn func()
}

func (c *counting) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	c.gets.Add(1)
	return c.Store.GetState(ctx, store, key, meta)
}

func (c *counting) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, p int32) ([]*dapr.BulkStateItem, error) {
	c.bulks.Add(1)
	return c.Store.GetBulkState(ctx, store, keys, meta, p)
}

func (c *counting) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	c.txns.Add(1)
	if c.inTxn != nil {
		c.inTxn()
	}
	return c.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

func (c *counting) SaveState(ctx context.Context, store, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error {
	c.saves.Add(1)
	return c.Store.SaveState(ctx, store, key, data, meta, so...)
}

func (c *counting) DeleteState(ctx context.Context, store, key string, meta map[string]string) error {
	c.deletes.Add(1)
	return c.Store.DeleteState(ctx, store, key, meta)
}

type counts struct{ gets, bulks, txns, saves, deletes int64 }

func (c *counting) read() counts {
	return counts{c.gets.Load(), c.bulks.Load(), c.txns.Load(), c.saves.Load(), c.deletes.Load()}
}

func (c counts) minus(o counts) counts {
	return counts{c.gets - o.gets, c.bulks - o.bulks, c.txns - o.txns, c.saves - o.saves, c.deletes - o.deletes}
}

func (c counts) total() int64 { return c.gets + c.bulks + c.txns + c.saves + c.deletes }

func (c *counting) total() int64 { return c.read().total() }

// BenchmarkWriteCost counts the state operations of one write with an event (an audited mutation, say a
// heartbeat), the relay pass it sets off included: the write, publish and clear of one event at a time,
// as writes arrive at a steady rate. tenants is how many tenants have an outbox; history how many events
// the written tenant's outbox has carried before. Run it with a fixed count, it waits for each publish:
//
//	go test -run '^$' -bench WriteCost -benchtime 100x ./apps/internal/registry/
func BenchmarkWriteCost(b *testing.B) {
	for _, c := range []struct{ tenants, history int }{{1, 0}, {10, 0}, {10, 5000}} {
		b.Run(fmt.Sprintf("tenants=%d/history=%d", c.tenants, c.history), func(b *testing.B) {
			benchmarkWriteCost(b, c.tenants, c.history, false)
		})
	}
	// The event is the request's audit record (registry.WithFirstWrite), as on every Director mutation.
	b.Run("tenants=10/history=0/audited", func(b *testing.B) { benchmarkWriteCost(b, 10, 0, true) })
}

func benchmarkWriteCost(b *testing.B, tenants, history int, audited bool) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &recordingPublisher{}
	for i := range tenants {
		s := registry.Scope{Tenant: fmt.Sprintf("t%d", i), Kind: "runtime"}
		if err := r.Mutate(ctx, s, "seed", "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{}, Events: []registry.Event{{Topic: "seed", Data: i}}}, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range history {
		if err := r.Enqueue(ctx, "t0", registry.Event{Topic: "old", Data: i}); err != nil {
			b.Fatal(err)
		}
	}
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)
	waitPublished(b, pub, tenants+history)

	s := registry.Scope{Tenant: "t0", Kind: "runtime"}
	before := st.read()
	b.ResetTimer()
	for i := range b.N {
		wctx, events := ctx, []registry.Event{{Topic: "beat", Data: i}}
		if audited {
			wctx, _ = registry.WithFirstWrite(ctx, events...)
			events = nil
		}
		if err := r.Mutate(wctx, s, "seed", "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Count: i}, Events: events}, nil
		}); err != nil {
			b.Fatal(err)
		}
		waitPublished(b, pub, tenants+history+i+1)
	}
	b.StopTimer()
	// Let the last pass clear what it published.
	time.Sleep(100 * time.Millisecond)
	d := st.read().minus(before)
	n := float64(b.N)
	b.ReportMetric(float64(d.total())/n, "ops/write")
	b.ReportMetric(float64(d.bulks)/n, "bulkgets/write")
	b.ReportMetric(float64(d.gets)/n, "gets/write")
	b.ReportMetric(float64(d.txns)/n, "txns/write")
}

func waitPublished(tb testing.TB, pub *recordingPublisher, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(pub.seen()) < n {
		if time.Now().After(deadline) {
			tb.Fatalf("published %d events, want %d", len(pub.seen()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkUpdateCost counts the state operations of an update that changes neither indexes nor unique
// keys and carries no events (a runtime's view renumbered, say), of an entity that holds a unique key.
//
//	go test -run '^$' -bench UpdateCost ./apps/internal/registry/
func BenchmarkUpdateCost(b *testing.B) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t", Kind: "runtime"}
	if err := r.Mutate(ctx, s, "r1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "r1"}, Indexes: []string{"label:x"}, Unique: []string{"name:r1"}}, nil
	}); err != nil {
		b.Fatal(err)
	}
	before := st.read()
	b.ResetTimer()
	for i := range b.N {
		if err := r.Mutate(ctx, s, "r1", "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Name: "r1", Count: i}, Indexes: []string{"label:x"}}, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	d := st.read().minus(before)
	b.ReportMetric(float64(d.total())/float64(b.N), "ops/write")
}
