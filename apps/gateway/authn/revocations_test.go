package authn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connectorFake answers like the Connector from a table of serials, counting the questions; block, when
// set, holds every question until it is closed.
type connectorFake struct {
	mu      sync.Mutex
	revoked map[string]bool // serial -> revoked; absent: unknown
	down    bool
	calls   atomic.Int32
	block   chan struct{}
	asked   chan struct{} // gets a value when a question arrives, if set
}

func (f *connectorFake) Revoked(ctx context.Context, serial string) (bool, error) {
	f.calls.Add(1)
	// The answer is read first and given after the hold: what a slow Connector does.
	f.mu.Lock()
	down := f.down
	r, known := f.revoked[serial]
	f.mu.Unlock()
	if f.asked != nil {
		f.asked <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if down {
		return false, errors.New("connector down")
	}
	return r || !known, nil
}

func (f *connectorFake) revoke(serial string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[serial] = true
}

func newCache(f *connectorFake, ttl time.Duration) (*RevocationCache, *time.Time) {
	c := NewRevocationCache(f, ttl, 100)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	return c, &now
}

func mustRevoked(t *testing.T, c *RevocationCache, serial string, want bool) {
	t.Helper()
	got, err := c.Revoked(context.Background(), serial)
	if err != nil || got != want {
		t.Fatalf("Revoked(%s) = %v, %v; want %v", serial, got, err, want)
	}
}

func TestRevocationCacheRemembersGoodAnswersForTheTTL(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"ab12": false}}
	c, now := newCache(f, 30*time.Second)
	for range 5 {
		mustRevoked(t, c, "ab12", false)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d questions to the Connector for 5 requests within the TTL, want 1", n)
	}
	// Another spelling of the same serial is the same entry.
	mustRevoked(t, c, "00:AB:12", false)
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("another spelling of the serial asked again: %d", n)
	}

	// Revoked at the Connector with no event: the TTL bounds how long the gateway believes the old answer.
	f.revoke("ab12")
	*now = now.Add(29 * time.Second)
	mustRevoked(t, c, "ab12", false)
	*now = now.Add(time.Second)
	mustRevoked(t, c, "ab12", true)
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d questions, want 2 (one per TTL)", n)
	}
}

func TestRevocationCacheKeepsNoRefusalOrFailure(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"1": true}}
	c, _ := newCache(f, time.Minute)
	mustRevoked(t, c, "1", true)
	mustRevoked(t, c, "1", true)
	mustRevoked(t, c, "2", true) // unknown to the Connector
	mustRevoked(t, c, "2", true)
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("%d questions, want 4: a revoked or unknown certificate is asked about every time", n)
	}

	f.down = true
	if _, err := c.Revoked(context.Background(), "3"); err == nil {
		t.Fatal("a failed question answered")
	}
	f.down = false
	f.revoked["3"] = false
	mustRevoked(t, c, "3", false) // asked again, not a remembered failure
	if c.Len() != 1 {
		t.Fatalf("the cache holds %d serials, want only the good one", c.Len())
	}
}

func TestRevocationEventDropsTheEntryWhateverItsTenant(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"ab12": false, "cd34": false}}
	c, _ := newCache(f, time.Hour)
	mustRevoked(t, c, "ab12", false)
	mustRevoked(t, c, "cd34", false)

	f.revoke("ab12")
	// The cache holds serials without tenants: the event's tenant (any) does not matter, its serial
	// (in the Connector's spelling) does.
	if err := c.HandleRevoked(context.Background(), []byte(`{"serial":"AB12","tenant":"some-other-tenant"}`)); err != nil {
		t.Fatal(err)
	}
	mustRevoked(t, c, "ab12", true) // at once, long before the hour is up
	mustRevoked(t, c, "cd34", false)
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("%d questions, want 3: the other certificate stays remembered", n)
	}

	// An event that names no readable serial forgets everything: which certificate it meant is unknown.
	if err := c.HandleRevoked(context.Background(), []byte(`{"tenant":"t1"}`)); !errors.Is(err, ErrUnreadableEvent) {
		t.Fatalf("an event without a serial: %v", err)
	}
	if c.Len() != 0 {
		t.Fatalf("%d serials kept after an unreadable revocation", c.Len())
	}
}

func TestRevocationCacheOff(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"1": false}}
	c, _ := newCache(f, 0)
	mustRevoked(t, c, "1", false)
	mustRevoked(t, c, "1", false)
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("TTL 0: %d questions for 2 requests", n)
	}
}

func TestConcurrentMissesAskOnce(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"1": false}, block: make(chan struct{}), asked: make(chan struct{}, 100)}
	c, _ := newCache(f, time.Minute)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if r, err := c.Revoked(context.Background(), "1"); err != nil || r {
				errs <- errors.Join(err, errors.New("answered revoked"))
			}
		})
	}
	<-f.asked
	// Give the other requests time to join the question under way, then let it answer. (Those that come
	// later find the answer remembered: one question either way.)
	time.Sleep(50 * time.Millisecond)
	close(f.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d questions for %d concurrent requests, want 1", got, n)
	}
}

func TestRevocationDuringAQuestionIsNotOverwritten(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"1": false}, block: make(chan struct{}), asked: make(chan struct{}, 10)}
	c, _ := newCache(f, time.Hour)
	got := make(chan bool, 1)
	go func() {
		r, _ := c.Revoked(context.Background(), "1")
		got <- r
	}()
	<-f.asked // the question is out, and has read "not revoked"...
	f.mu.Lock()
	f.revoked["1"] = true // ...while the revocation is written,
	f.mu.Unlock()
	if err := c.HandleRevoked(context.Background(), []byte(`{"serial":"1"}`)); err != nil { // and announced
		t.Fatal(err)
	}
	close(f.block)
	if r := <-got; !r {
		t.Fatal("an answer older than the revocation event was believed")
	}
	mustRevoked(t, c, "1", true)
	if c.Len() != 0 {
		t.Fatal("an answer older than the revocation event was remembered")
	}
}

func TestAWaiterDoesNotInheritAnotherRequestsCancellation(t *testing.T) {
	f := &connectorFake{revoked: map[string]bool{"1": false}, block: make(chan struct{}), asked: make(chan struct{}, 10)}
	c, _ := newCache(f, time.Minute)
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Revoked(first, "1")
		firstErr <- err
	}()
	<-f.asked
	second := make(chan error, 1)
	go func() {
		r, err := c.Revoked(context.Background(), "1")
		if err == nil && r {
			err = errors.New("answered revoked")
		}
		second <- err
	}()
	time.Sleep(50 * time.Millisecond) // the second request waits for the first one's question
	go func() {
		<-f.asked
		close(f.block)
	}()
	cancel() // the first client goes away
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the second request failed with the first one's cancellation: %v", err)
	}
}
