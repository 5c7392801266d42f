package healthprobe

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// clock is a settable time shared by the replicas of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLeaseMakesReplicasTakeTurns(t *testing.T) {
	ctx := context.Background()
	reg := registry.New(memstate.New(), "registry")
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	a := &Lease{Store: reg, Holder: "a", TTL: 15 * time.Second, now: c.now}
	b := &Lease{Store: reg, Holder: "b", TTL: 15 * time.Second, now: c.now}

	hold := func(l *Lease) bool {
		t.Helper()
		ok, err := l.Hold(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !hold(a) {
		t.Fatal("a free lease was not taken")
	}
	// a renews on each of its ticks; b, ticking in between, keeps skipping.
	for i := 0; i < 5; i++ {
		c.add(2500 * time.Millisecond)
		if hold(b) {
			t.Fatalf("tick %d: b took a lease a holds", i)
		}
		c.add(2500 * time.Millisecond)
		if !hold(a) {
			t.Fatalf("tick %d: the holder could not renew", i)
		}
	}
	// a stops; b takes over once the lease has run out, and a, coming back, must wait its turn.
	c.add(14 * time.Second)
	if hold(b) {
		t.Fatal("b took the lease before it ran out")
	}
	c.add(2 * time.Second)
	if !hold(b) {
		t.Fatal("b did not take over an expired lease")
	}
	if hold(a) {
		t.Fatal("a took back a lease b holds")
	}
	// Releasing a lease one does not hold changes nothing; the holder's release frees it at once.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if hold(a) {
		t.Fatal("a's release freed b's lease")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !hold(a) {
		t.Fatal("a could not take a released lease")
	}
}

func TestLeaseHasOneHolderUnderContention(t *testing.T) {
	ctx := context.Background()
	// One state store, a Registry per replica: only the store's ETags stand between them.
	st := memstate.New()
	const replicas = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range replicas {
		l := &Lease{Store: registry.New(st, "registry"), Holder: string(rune('a' + i)), TTL: time.Minute}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := l.Hold(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won = append(won, l.Holder)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(won) != 1 {
		t.Fatalf("holders %v, want exactly one", won)
	}
}
