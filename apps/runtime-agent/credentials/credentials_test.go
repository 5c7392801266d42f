package credentials_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/credentials"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is moved by hand. After registers a waiter that fires once the clock reaches its deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan time.Time // deadlines of new waiters
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock(now time.Time) *fakeClock { return &fakeClock{now: now, added: make(chan time.Time, 16)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := waiter{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.waiters = append(c.waiters, w)
	c.added <- w.at
	return w.ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// nextWait returns the deadline of the next waiter registered.
func (c *fakeClock) nextWait(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-c.added:
		return at
	case <-time.After(5 * time.Second):
		t.Fatal("the manager never waited")
		return time.Time{}
	}
}

// issued is a certificate valid from notBefore to notAfter.
type issued struct {
	cert  tls.Certificate
	name  string
	saved *[]string
}

func newIssued(t *testing.T, name string, notBefore, notAfter time.Time) *issued {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, name: name}
}

func (i *issued) TLSConfig() (*tls.Config, error) {
	return &tls.Config{Certificates: []tls.Certificate{i.cert}}, nil
}

// Save records the call and, given a folder, writes the credentials' name as their certificate file.
func (i *issued) Save(dir string) error {
	if i.saved != nil {
		*i.saved = append(*i.saved, i.name)
	}
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cert.pem"), []byte(i.name), 0o600)
}

// connector hands out prepared credentials and records the calls.
type connector struct {
	mu     sync.Mutex
	stored credentials.Issued
	pairs  []credentials.Issued
	renews []credentials.Issued
	fail   int // renewals to fail first
	calls  []string
	done   chan string
}

func (c *connector) record(s string) {
	c.mu.Lock()
	c.calls = append(c.calls, s)
	c.mu.Unlock()
	if c.done != nil {
		c.done <- s
	}
}

func (c *connector) Pair(_ context.Context, token string) (credentials.Issued, error) {
	defer c.record("pair " + token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pairs) == 0 {
		return nil, errors.New("token rejected")
	}
	next := c.pairs[0]
	c.pairs = c.pairs[1:]
	return next, nil
}

func (c *connector) Renew(_ context.Context, cur credentials.Issued) (credentials.Issued, error) {
	defer c.record("renew " + cur.(*issued).name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return nil, errors.New("connector unavailable")
	}
	next := c.renews[0]
	c.renews = c.renews[1:]
	return next, nil
}

func (c *connector) Load(string) (credentials.Issued, error) {
	if c.stored == nil {
		return nil, fmt.Errorf("load: %w", fs.ErrNotExist)
	}
	return c.stored, nil
}

func token(s string) func() (string, error) { return func() (string, error) { return s, nil } }

func TestRenewAtTwoThirds(t *testing.T) {
	v := credentials.Validity{NotBefore: t0, NotAfter: t0.Add(90 * time.Minute)}
	if got := v.RenewAt(); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("renew at %s, want %s", got, t0.Add(time.Hour))
	}
}

func TestBootstrapUsesValidStoredCredentials(t *testing.T) {
	conn := &connector{stored: newIssued(t, "stored", t0.Add(-time.Hour), t0.Add(time.Hour))}
	m := credentials.New(conn, credentials.Config{Token: token("tok"), Clock: newClock(t0)}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(conn.calls) != 0 {
		t.Errorf("calls %v, want none: valid stored credentials need no pairing", conn.calls)
	}
	if !m.Validity().NotAfter.Equal(t0.Add(time.Hour)) {
		t.Errorf("validity %+v", m.Validity())
	}
}

func TestBootstrapPairsWhenStoredCredentialsExpired(t *testing.T) {
	var saved []string
	fresh := newIssued(t, "fresh", t0, t0.Add(3*time.Hour))
	fresh.saved = &saved
	conn := &connector{stored: newIssued(t, "stored", t0.Add(-2*time.Hour), t0.Add(-time.Hour)), pairs: []credentials.Issued{fresh}}
	m := credentials.New(conn, credentials.Config{Token: token("tok"), Clock: newClock(t0)}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(conn.calls) != 1 || conn.calls[0] != "pair tok" {
		t.Errorf("calls %v, want one pairing", conn.calls)
	}
	if len(saved) != 1 {
		t.Error("paired credentials not saved")
	}
}

func TestBootstrapRetriesPairingWithBackoff(t *testing.T) {
	clock := newClock(t0)
	conn := &connector{done: make(chan string, 4)}
	m := credentials.New(conn, credentials.Config{Token: token("tok"), Clock: clock, RetryMin: time.Second, RetryMax: time.Minute}, quiet)
	errc := make(chan error, 1)
	go func() { errc <- m.Bootstrap(context.Background()) }()

	<-conn.done // first attempt fails: no credentials to hand out yet
	at := clock.nextWait(t)
	if d := at.Sub(t0); d < 800*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("first retry after %s, want about 1s", d)
	}
	conn.mu.Lock()
	conn.pairs = []credentials.Issued{newIssued(t, "fresh", t0, t0.Add(time.Hour))}
	conn.mu.Unlock()
	clock.Advance(2 * time.Second)
	<-conn.done
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapWithoutTokenOrCredentialsStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m := credentials.New(&connector{}, credentials.Config{RetryMin: 10 * time.Millisecond}, quiet)
	err := m.Bootstrap(ctx)
	if !errors.Is(err, credentials.ErrNoToken) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrNoToken and the context's error", err)
	}
}

func TestRunRenewsAtTwoThirdsAndRetries(t *testing.T) {
	clock := newClock(t0)
	first := newIssued(t, "first", t0, t0.Add(3*time.Hour))                    // renew at t0+2h
	second := newIssued(t, "second", t0.Add(2*time.Hour), t0.Add(5*time.Hour)) // renew at t0+4h
	conn := &connector{stored: first, renews: []credentials.Issued{second}, fail: 1, done: make(chan string, 4)}
	m := credentials.New(conn, credentials.Config{Clock: clock, RetryMin: time.Minute, RetryMax: 10 * time.Minute}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() { _ = m.Run(ctx); close(stopped) }()

	if at := clock.nextWait(t); !at.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("renewal scheduled at %s, want t0+2h", at.Sub(t0))
	}
	clock.Advance(2*time.Hour - time.Second)
	select {
	case call := <-conn.done:
		t.Fatalf("%s before two thirds of the validity", call)
	case <-time.After(50 * time.Millisecond):
	}

	clock.Advance(time.Second)
	if call := <-conn.done; call != "renew first" {
		t.Fatalf("call %q, want renew first", call)
	}
	// The first renewal fails: retried after the backoff, still with the first certificate.
	at := clock.nextWait(t)
	if d := at.Sub(clock.Now()); d < 48*time.Second || d > 72*time.Second {
		t.Errorf("retry after %s, want about a minute", d)
	}
	clock.Advance(at.Sub(clock.Now()))
	if call := <-conn.done; call != "renew first" {
		t.Fatalf("call %q, want renew first again", call)
	}
	// Then the next renewal is planned from the new certificate.
	if at := clock.nextWait(t); !at.Equal(t0.Add(4 * time.Hour)) {
		t.Fatalf("next renewal at %s, want t0+4h", at.Sub(t0))
	}
	if !m.Validity().NotAfter.Equal(t0.Add(5 * time.Hour)) {
		t.Errorf("validity not switched to the renewed certificate: %+v", m.Validity())
	}
	cancel()
	<-stopped
}

func TestRunPairsAgainOnceExpired(t *testing.T) {
	clock := newClock(t0)
	stored := newIssued(t, "stored", t0.Add(-3*time.Hour), t0.Add(time.Minute)) // past two thirds already
	fresh := newIssued(t, "fresh", t0, t0.Add(3*time.Hour))
	conn := &connector{stored: stored, fail: 100, pairs: []credentials.Issued{fresh}, done: make(chan string, 8)}
	m := credentials.New(conn, credentials.Config{Token: token("new-token"), Clock: clock, RetryMin: 2 * time.Minute, RetryMax: 2 * time.Minute}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()

	if call := <-conn.done; call != "renew stored" { // due at once, fails
		t.Fatalf("call %q", call)
	}
	clock.nextWait(t)
	clock.Advance(3 * time.Minute) // now past NotAfter
	if call := <-conn.done; call != "pair new-token" {
		t.Fatalf("call %q, want pairing once the certificate expired", call)
	}
	clock.nextWait(t)
	if !m.Validity().NotAfter.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("validity %+v", m.Validity())
	}
}
