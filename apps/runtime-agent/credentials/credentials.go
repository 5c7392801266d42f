// Package credentials keeps the runtime's client certificate: it loads the stored one or pairs with a
// one-time token, renews it when two thirds of its validity have passed, and hands out an HTTP client
// that always presents the current certificate.
//
// A new one-time token means "pair again" (the Provisioner's reconnectRuntimeAgent): next to the
// certificate the manager keeps the SHA-256 of the token it was paired with, and when the token source
// holds a token with another hash — at start, or when Run looks again every TokenPoll — it pairs with it
// and switches to the new certificate. A failed pairing keeps the old, working certificate and reports
// why (Status), so a mistyped or expired token never cuts a runtime off.
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
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
	// Dir keeps the key (0600), the certificates and the hash of the token they were paired with between
	// restarts. Empty keeps only what Issued.Save does with an empty folder (tests).
	Dir string
	// Token returns the one-time token, read anew on each pairing attempt so that a token file replaced
	// by an operator is picked up without a restart. Empty means none.
	Token func() (string, error)
	// TokenPoll is how often Run reads Token to notice a new one-time token; zero means only at start.
	// (A Kubernetes Secret volume swaps its files through a symlink, which a poll sees as surely as any.)
	TokenPoll time.Duration
	// Report, when set, is told the pairing status after every pairing attempt and at start: the agent
	// in a cluster puts it on its pairing Secret for the Provisioner to read. Its failures are logged.
	Report func(ctx context.Context, s agentpairing.Status) error
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
	status    agentpairing.Status
	transport *rotatingTransport

	// The last token that failed to pair and when to try it again: a rejected token is tried with
	// backoff, not at every poll. Used only by the goroutine running Bootstrap, then Run.
	failedHash  string
	failedRetry time.Time
	failedWait  *retry.Backoff
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
	return &Manager{conn: conn, cfg: cfg, log: log, transport: &rotatingTransport{}, failedWait: retry.New(cfg.RetryMin, cfg.RetryMax)}
}

// ErrNoToken means there are no usable stored credentials and no one-time token to pair with.
var ErrNoToken = errors.New("no valid credentials stored and no one-time token given")

// Bootstrap makes credentials available: the stored ones when they are still valid, otherwise new ones
// from pairing with the one-time token. It retries with backoff until it succeeds or ctx ends.
//
// Stored credentials paired with another token than the one given now are used, and then the manager
// tries once to pair with the new token (Run tries again later when that fails).
func (m *Manager) Bootstrap(ctx context.Context) error {
	if m.cfg.Dir != "" {
		// A save interrupted by a crash is finished (or dropped) before anything is read.
		if err := commitStaged(m.cfg.Dir); err != nil {
			m.log.WarnContext(ctx, "finishing an interrupted save of the credentials failed", "dir", m.cfg.Dir, "err", err)
		}
	}
	if err := m.useStored(); err == nil {
		m.pairAgainIfNewToken(ctx)
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
	m.mu.Lock()
	m.status.PairedTokenSHA256 = m.readHash()
	m.mu.Unlock()
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
		m.pairingFailed(ctx, agentpairing.TokenSHA256(token), err)
		return err // the Connector client says what failed
	}
	return m.adopt(ctx, iss, "paired with the one-time token", agentpairing.TokenSHA256(token))
}

// pairAgainIfNewToken pairs with the token source's token when it is not the one the current credentials
// were paired with. Whatever goes wrong, the current credentials stay: they still work, and the runtime
// must not lose the plane because it was handed a bad token.
func (m *Manager) pairAgainIfNewToken(ctx context.Context) {
	token, err := m.cfg.Token()
	if err != nil {
		m.log.WarnContext(ctx, "cannot read the one-time token to see whether it is new", "err", err)
		return
	}
	if token == "" {
		return
	}
	h := agentpairing.TokenSHA256(token)
	paired := m.Status().PairedTokenSHA256
	switch {
	case h == paired:
		return
	case paired == "":
		// Credentials stored before the hash was kept were paired with the token that is there now: it is
		// spent, and pairing with it again would only fail. Record it, so that the next token is new.
		m.recordHash(ctx, h)
		return
	case h == m.failedHash && m.cfg.Clock.Now().Before(m.failedRetry):
		return
	}
	m.log.InfoContext(ctx, "a new one-time token was given; pairing again")
	iss, err := m.conn.Pair(ctx, token)
	if err != nil {
		m.pairingFailed(ctx, h, err)
		return
	}
	if err := m.adopt(ctx, iss, "paired again with the new one-time token", h); err != nil {
		m.pairingFailed(ctx, h, err)
	}
}

// pairingFailed keeps the failure for the status and schedules the next attempt with the same token.
func (m *Manager) pairingFailed(ctx context.Context, hash string, err error) {
	if hash != m.failedHash {
		m.failedHash = hash
		m.failedWait.Reset()
	}
	d := m.failedWait.Next()
	m.failedRetry = m.cfg.Clock.Now().Add(d)
	m.mu.Lock()
	m.status.Error, m.status.ErrorTokenSHA256, m.status.At = err.Error(), hash, m.cfg.Clock.Now().UTC()
	cur := m.cur
	m.mu.Unlock()
	if cur != nil {
		m.log.ErrorContext(ctx, "pairing with the new one-time token failed; keeping the current certificate",
			"err", err, "notAfter", m.Validity().NotAfter, "retryIn", d.Round(time.Millisecond))
	}
	m.report(ctx)
}

// recordHash keeps hash as the token the current credentials were paired with.
func (m *Manager) recordHash(ctx context.Context, hash string) {
	if m.cfg.Dir != "" {
		if err := os.WriteFile(filepath.Join(m.cfg.Dir, hashFile), []byte(hash+"\n"), 0o600); err != nil {
			m.log.ErrorContext(ctx, "keeping the token's hash failed", "dir", m.cfg.Dir, "err", err)
		}
	}
	m.mu.Lock()
	m.status.PairedTokenSHA256, m.status.At = hash, m.cfg.Clock.Now().UTC()
	m.mu.Unlock()
	m.report(ctx)
}

func (m *Manager) readHash() string {
	if m.cfg.Dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.Dir, hashFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (m *Manager) report(ctx context.Context) {
	if m.cfg.Report == nil {
		return
	}
	if err := m.cfg.Report(ctx, m.Status()); err != nil {
		m.log.WarnContext(ctx, "reporting the pairing status failed", "err", err)
	}
}

// Status returns how pairing stands.
func (m *Manager) Status() agentpairing.Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.status
}

// adopt checks and stores fresh credentials and switches the HTTP client to them. tokenHash is the hash
// of the one-time token they were paired with, or empty for a renewal.
func (m *Manager) adopt(ctx context.Context, iss Issued, how, tokenHash string) error {
	tc, v, err := inspect(iss)
	if err != nil {
		return err
	}
	// A failed save is not fatal: the credentials work in memory, and the next renewal saves again. But
	// after a restart the older ones on disk are used, so it is worth an error.
	if err := m.save(iss, tokenHash); err != nil {
		m.log.ErrorContext(ctx, "saving credentials failed", "dir", m.cfg.Dir, "err", err)
	}
	m.set(iss, tc, v)
	m.log.InfoContext(ctx, how, "notAfter", v.NotAfter, "renewAt", v.RenewAt())
	if tokenHash != "" {
		m.mu.Lock()
		m.status = agentpairing.Status{PairedTokenSHA256: tokenHash, At: m.cfg.Clock.Now().UTC()}
		m.mu.Unlock()
		m.failedHash = ""
		m.report(ctx)
	}
	return nil
}

// Files in Dir beside the credentials.
const (
	hashFile   = "token.sha256" // the hash of the token the stored certificate was paired with
	stagingDir = ".next"        // a complete new set, before it replaces the stored one
	stagedMark = ".complete"    // in stagingDir once the set there is complete
)

// save replaces the stored credentials (and the token hash, when given) as one set: each file is
// replaced atomically by Issued.Save, but a crash between two of them would leave a key that does not
// match its certificate — and a spent token to pair with. So the set is first written whole into a
// staging folder and marked complete; only then are its files renamed into place. A crash before the
// mark leaves the old set; after it, Bootstrap finishes the renames (commitStaged).
func (m *Manager) save(iss Issued, tokenHash string) error {
	if m.cfg.Dir == "" {
		return iss.Save(m.cfg.Dir)
	}
	staged := filepath.Join(m.cfg.Dir, stagingDir)
	if err := os.RemoveAll(staged); err != nil {
		return fmt.Errorf("clear staging folder: %w", err)
	}
	if err := iss.Save(staged); err != nil {
		return err
	}
	if tokenHash != "" {
		if err := writeSynced(filepath.Join(staged, hashFile), []byte(tokenHash+"\n")); err != nil {
			return fmt.Errorf("stage token hash: %w", err)
		}
	}
	if err := writeSynced(filepath.Join(staged, stagedMark), nil); err != nil {
		return fmt.Errorf("mark staged credentials complete: %w", err)
	}
	return commitStaged(m.cfg.Dir)
}

// commitStaged moves a complete staged set into dir and drops an incomplete one. It is idempotent: the
// files already moved are simply no longer in the staging folder.
func commitStaged(dir string) error {
	staged := filepath.Join(dir, stagingDir)
	if _, err := os.Stat(filepath.Join(staged, stagedMark)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return os.RemoveAll(staged) // nothing staged, or a save that never finished: the old set stands
		}
		return fmt.Errorf("staged credentials: %w", err)
	}
	entries, err := os.ReadDir(staged)
	if err != nil {
		return fmt.Errorf("staged credentials: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") { // the mark and Save's temporary files
			continue
		}
		if err := os.Rename(filepath.Join(staged, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("move staged %s into place: %w", e.Name(), err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the renames reach the disk before the mark goes
		d.Close()
	}
	return os.RemoveAll(staged)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
// the manager pairs again if a (new) one-time token is available. Every TokenPoll it looks whether the
// token source holds a new one-time token, and pairs again with it.
func (m *Manager) Run(ctx context.Context) error {
	b := retry.New(m.cfg.RetryMin, m.cfg.RetryMax)
	var poll <-chan time.Time
	nextPoll := func() {
		if m.cfg.TokenPoll > 0 {
			poll = m.cfg.Clock.After(m.cfg.TokenPoll)
		}
	}
	nextPoll()
	// wait sleeps d, checking the token source meanwhile; false when ctx ended.
	wait := func(d time.Duration) bool {
		timer := m.cfg.Clock.After(d)
		for {
			select {
			case <-ctx.Done():
				return false
			case <-timer:
				return true
			case <-poll:
				before := m.Validity()
				m.pairAgainIfNewToken(ctx)
				nextPoll()
				if m.Validity() != before {
					return true // a new certificate has its own renewal time: plan again from it
				}
			}
		}
	}
	for {
		v := m.Validity()
		if d := v.RenewAt().Sub(m.cfg.Clock.Now()); d > 0 {
			if !wait(d) {
				return nil
			}
			continue
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
		if !wait(d) {
			return nil
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
	return m.adopt(ctx, iss, "renewed credentials", "")
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
