// Package credentials keeps the runtime's client certificate: it loads the stored one or pairs with a
// one-time token, renews it when two thirds of its validity have passed, and hands out an HTTP client
// that always presents the current certificate.
package credentials

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/retry"
)

// Issued is one set of credentials issued by the Connector. *connectorclient.Credentials has exactly
// these methods; the validity is read from the certificate itself.
type Issued interface {
	TLSConfig() (*tls.Config, error)
	Save(dir string) error
}

// Connector is the part of the Connector client the manager uses.
type Connector interface {
	// Pair exchanges a one-time token for credentials (plain HTTP: the caller has no certificate yet).
	Pair(ctx context.Context, token string) (Issued, error)
	// Renew exchanges valid credentials for fresh ones, over mTLS with the current certificate.
	Renew(ctx context.Context, cur Issued) (Issued, error)
	// Load reads credentials saved in dir; an error wrapping fs.ErrNotExist means there are none.
	Load(dir string) (Issued, error)
}

// Clock is time as the manager sees it; tests move it by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a Manager.
type Config struct {
	// Dir keeps the key (0600) and certificates between restarts.
	Dir string
	// Token returns the one-time token, read anew on each pairing attempt so that a token file replaced
	// by an operator is picked up without a restart. Empty means none.
	Token func() (string, error)
	// RetryMin and RetryMax bound the backoff between failed pairing or renewal attempts.
	RetryMin, RetryMax time.Duration
	// RootCAs, when set, replaces the credentials' CA as the trust anchor for the servers the HTTP client
	// talks to: for a gateway whose TLS certificate does not come from the Connector's CA.
	RootCAs *x509.CertPool
	Clock   Clock
}

// Manager owns the runtime's credentials.
type Manager struct {
	conn Connector
	cfg  Config
	log  *slog.Logger

	mu        sync.RWMutex
	cur       Issued
	validity  Validity
	transport *rotatingTransport
}

// Validity is the period a certificate is valid in.
type Validity struct{ NotBefore, NotAfter time.Time }

// RenewAt is when credentials valid for v should be renewed: once two thirds of the validity have
// passed, which leaves a third of it for retries when the management plane is away.
func (v Validity) RenewAt() time.Time {
	return v.NotBefore.Add(v.NotAfter.Sub(v.NotBefore) * 2 / 3)
}

// New returns a manager; call Bootstrap before anything else.
func New(conn Connector, cfg Config, log *slog.Logger) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Token == nil {
		cfg.Token = func() (string, error) { return "", nil }
	}
	return &Manager{conn: conn, cfg: cfg, log: log, transport: &rotatingTransport{}}
}

// ErrNoToken means there are no usable stored credentials and no one-time token to pair with.
var ErrNoToken = errors.New("no valid credentials stored and no one-time token given")

// Bootstrap makes credentials available: the stored ones when they are still valid, otherwise new ones
// from pairing with the one-time token. It retries with backoff until it succeeds or ctx ends.
func (m *Manager) Bootstrap(ctx context.Context) error {
	if err := m.useStored(); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		m.log.WarnContext(ctx, "stored credentials not usable, pairing with the one-time token", "dir", m.cfg.Dir, "err", err)
	}
	b := retry.New(m.cfg.RetryMin, m.cfg.RetryMax)
	for {
		err := m.pair(ctx)
		if err == nil {
			return nil
		}
		d := b.Next()
		m.log.ErrorContext(ctx, "pairing failed, will retry", "err", err, "retryIn", d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap credentials: %w (last error: %w)", ctx.Err(), err)
		case <-m.cfg.Clock.After(d):
		}
	}
}

func (m *Manager) useStored() error {
	iss, err := m.conn.Load(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("load credentials: %w", err)
	}
	tc, v, err := inspect(iss)
	if err != nil {
		return err
	}
	if !m.cfg.Clock.Now().Before(v.NotAfter) {
		return fmt.Errorf("stored certificate expired at %s", v.NotAfter.Format(time.RFC3339))
	}
	m.set(iss, tc, v)
	m.log.Info("using stored credentials", "dir", m.cfg.Dir, "notAfter", v.NotAfter, "renewAt", v.RenewAt())
	return nil
}

func (m *Manager) pair(ctx context.Context) error {
	token, err := m.cfg.Token()
	if err != nil {
		return fmt.Errorf("read one-time token: %w", err)
	}
	if token == "" {
		return ErrNoToken
	}
	iss, err := m.conn.Pair(ctx, token)
	if err != nil {
		return err // the Connector client says what failed
	}
	return m.adopt(ctx, iss, "paired with the one-time token")
}

// adopt checks and stores fresh credentials and switches the HTTP client to them.
func (m *Manager) adopt(ctx context.Context, iss Issued, how string) error {
	tc, v, err := inspect(iss)
	if err != nil {
		return err
	}
	// A failed save is not fatal: the credentials work in memory, and the next renewal saves again. But
	// after a restart the older ones on disk are used, so it is worth an error.
	if err := iss.Save(m.cfg.Dir); err != nil {
		m.log.ErrorContext(ctx, "saving credentials failed", "dir", m.cfg.Dir, "err", err)
	}
	m.set(iss, tc, v)
	m.log.InfoContext(ctx, how, "notAfter", v.NotAfter, "renewAt", v.RenewAt())
	return nil
}

func (m *Manager) set(iss Issued, tc *tls.Config, v Validity) {
	m.mu.Lock()
	m.cur, m.validity = iss, v
	m.mu.Unlock()
	if m.cfg.RootCAs != nil {
		tc = tc.Clone()
		tc.RootCAs = m.cfg.RootCAs
	}
	m.transport.use(tc)
}

// Validity returns the validity of the current certificate.
func (m *Manager) Validity() Validity {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.validity
}

func (m *Manager) current() Issued {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cur
}

// Run renews the credentials whenever two thirds of their validity have passed, until ctx ends. Failed
// renewals are retried with backoff; once the certificate has expired, renewal can no longer work, so
// the manager pairs again if a (new) one-time token is available.
func (m *Manager) Run(ctx context.Context) error {
	b := retry.New(m.cfg.RetryMin, m.cfg.RetryMax)
	for {
		v := m.Validity()
		if wait := v.RenewAt().Sub(m.cfg.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-m.cfg.Clock.After(wait):
			}
		}
		err := m.renew(ctx, v)
		if err == nil {
			b.Reset()
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		d := b.Next()
		m.log.ErrorContext(ctx, "renewing credentials failed, will retry", "err", err, "notAfter", v.NotAfter, "retryIn", d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-m.cfg.Clock.After(d):
		}
	}
}

func (m *Manager) renew(ctx context.Context, v Validity) error {
	if !m.cfg.Clock.Now().Before(v.NotAfter) {
		if err := m.pair(ctx); err != nil {
			return fmt.Errorf("certificate expired at %s; pairing again: %w", v.NotAfter.Format(time.RFC3339), err)
		}
		return nil
	}
	iss, err := m.conn.Renew(ctx, m.current())
	if err != nil {
		return err // the Connector client says what failed
	}
	return m.adopt(ctx, iss, "renewed credentials")
}

// HTTPClient returns a client that presents the current certificate; it follows renewals without being
// rebuilt. It has no overall timeout: callers set deadlines per call (long polls need long ones).
func (m *Manager) HTTPClient() *http.Client {
	return &http.Client{Transport: m.transport}
}

// inspect builds the TLS configuration and reads the leaf certificate's validity.
func inspect(iss Issued) (*tls.Config, Validity, error) {
	tc, err := iss.TLSConfig()
	if err != nil {
		return nil, Validity{}, fmt.Errorf("credentials: %w", err)
	}
	if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return nil, Validity{}, errors.New("credentials: no client certificate")
	}
	leaf := tc.Certificates[0].Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err != nil {
			return nil, Validity{}, fmt.Errorf("credentials: parse certificate: %w", err)
		}
	}
	return tc, Validity{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}, nil
}

// rotatingTransport sends each request through the transport of the current credentials. Requests in
// flight when the credentials change finish on the old connection.
type rotatingTransport struct {
	mu  sync.RWMutex
	cur *http.Transport
}

func (t *rotatingTransport) use(tc *tls.Config) {
	next := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	t.mu.Lock()
	prev := t.cur
	t.cur = next
	t.mu.Unlock()
	if prev != nil {
		prev.CloseIdleConnections()
	}
}

func (t *rotatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.RLock()
	tr := t.cur
	t.mu.RUnlock()
	if tr == nil {
		return nil, errors.New("no client credentials yet")
	}
	return tr.RoundTrip(r)
}
