package credentials_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/agentpairing"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/credentials"
)

// tokenFile is a token source an operator (or the kubelet) changes under the manager.
type tokenFile struct {
	mu  sync.Mutex
	tok string
}

func (f *tokenFile) set(tok string) { f.mu.Lock(); f.tok = tok; f.mu.Unlock() }
func (f *tokenFile) read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tok, nil
}

// reports records what the manager reported.
type reports struct {
	mu  sync.Mutex
	all []agentpairing.Status
}

func (r *reports) report(_ context.Context, s agentpairing.Status) error {
	r.mu.Lock()
	r.all = append(r.all, s)
	r.mu.Unlock()
	return nil
}

func (r *reports) last(t *testing.T) agentpairing.Status {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		t.Fatal("nothing reported")
	}
	return r.all[len(r.all)-1]
}

// pairedWith writes dir as a manager leaves it after pairing with token: the hash beside the certificate.
func pairedWith(t *testing.T, dir, cert, token string) {
	t.Helper()
	for name, data := range map[string]string{"cert.pem": cert, "token.sha256": agentpairing.TokenSHA256(token) + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestBootstrapPairsAgainWhenTheTokenIsNew(t *testing.T) {
	tests := []struct {
		name      string
		pairedTok string // "" = credentials stored before hashes were kept
		token     string
		wantPair  bool
	}{
		{name: "same token", pairedTok: "old", token: "old", wantPair: false},
		{name: "same token with a newline", pairedTok: "old", token: "old\n", wantPair: false},
		{name: "new token", pairedTok: "old", token: "new", wantPair: true},
		// The token there now is the spent one the credentials were paired with: recorded, not used again.
		{name: "no hash kept yet", pairedTok: "", token: "old", wantPair: false},
		{name: "no token", pairedTok: "old", token: "", wantPair: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pairedWith(t, dir, "stored", tt.pairedTok)
			if tt.pairedTok == "" {
				if err := os.Remove(filepath.Join(dir, "token.sha256")); err != nil {
					t.Fatal(err)
				}
			}
			fresh := newIssued(t, "fresh", t0, t0.Add(3*time.Hour))
			conn := &connector{stored: newIssued(t, "stored", t0.Add(-time.Hour), t0.Add(time.Hour)), pairs: []credentials.Issued{fresh}}
			var rep reports
			m := credentials.New(conn, credentials.Config{Dir: dir, Token: token(tt.token), Clock: newClock(t0), Report: rep.report}, quiet)
			if err := m.Bootstrap(context.Background()); err != nil {
				t.Fatal(err)
			}
			paired := len(conn.calls) == 1 && conn.calls[0] == "pair "+tt.token
			if paired != tt.wantPair || len(conn.calls) > 1 {
				t.Fatalf("calls %v, want a pairing: %v", conn.calls, tt.wantPair)
			}
			wantHash := agentpairing.TokenSHA256(tt.pairedTok)
			if strings.TrimSpace(tt.token) != "" {
				wantHash = agentpairing.TokenSHA256(tt.token)
			}
			if got := m.Status().PairedTokenSHA256; got != wantHash {
				t.Errorf("status paired with %s, want %s", got, wantHash)
			}
			if got := readFile(t, filepath.Join(dir, "token.sha256")); got != wantHash {
				t.Errorf("hash kept %s, want %s", got, wantHash)
			}
			wantCert, wantNotAfter := "stored", t0.Add(time.Hour)
			if tt.wantPair {
				wantCert, wantNotAfter = "fresh", t0.Add(3*time.Hour)
				if rep.last(t).PairedTokenSHA256 != wantHash {
					t.Errorf("reported %+v", rep.last(t))
				}
			}
			if got := readFile(t, filepath.Join(dir, "cert.pem")); got != wantCert {
				t.Errorf("stored certificate %q, want %q", got, wantCert)
			}
			if !m.Validity().NotAfter.Equal(wantNotAfter) {
				t.Errorf("validity %+v, want until %s", m.Validity(), wantNotAfter)
			}
		})
	}
}

// A token the Connector rejects (spent, expired, mistyped) leaves the working certificate in place and
// says why; the same token is tried again only after a backoff.
func TestAFailedRepairKeepsTheWorkingCertificate(t *testing.T) {
	dir := t.TempDir()
	pairedWith(t, dir, "stored", "old")
	clock := newClock(t0)
	conn := &connector{stored: newIssued(t, "stored", t0.Add(-time.Hour), t0.Add(5*time.Hour)), done: make(chan string, 8)}
	var rep reports
	tf := &tokenFile{tok: "bad"}
	m := credentials.New(conn, credentials.Config{Dir: dir, Token: tf.read, Clock: clock, TokenPoll: time.Minute,
		RetryMin: 5 * time.Minute, RetryMax: time.Hour, Report: rep.report}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if call := <-conn.done; call != "pair bad" {
		t.Fatalf("call %q", call)
	}
	st := m.Status()
	if st.PairedTokenSHA256 != agentpairing.TokenSHA256("old") || st.ErrorTokenSHA256 != agentpairing.TokenSHA256("bad") ||
		!strings.Contains(st.Error, "token rejected") {
		t.Fatalf("status %+v", st)
	}
	if rep.last(t) != st {
		t.Errorf("reported %+v, want %+v", rep.last(t), st)
	}
	if got := readFile(t, filepath.Join(dir, "cert.pem")); got != "stored" {
		t.Errorf("stored certificate %q after a failed pairing", got)
	}
	if got := readFile(t, filepath.Join(dir, "token.sha256")); got != agentpairing.TokenSHA256("old") {
		t.Errorf("hash kept %s after a failed pairing", got)
	}
	if !m.Validity().NotAfter.Equal(t0.Add(5 * time.Hour)) {
		t.Errorf("validity %+v", m.Validity())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	clock.nextWait(t) // the token poll
	clock.nextWait(t) // the renewal
	// The next poll is within the backoff: no second attempt with the same token.
	clock.Advance(time.Minute)
	clock.nextWait(t)
	select {
	case call := <-conn.done:
		t.Fatalf("%s within the backoff", call)
	case <-time.After(50 * time.Millisecond):
	}
	// A corrected token is tried at the next poll, backoff or not.
	conn.mu.Lock()
	conn.pairs = []credentials.Issued{newIssued(t, "fresh", t0, t0.Add(3*time.Hour))}
	conn.mu.Unlock()
	tf.set("good")
	clock.Advance(time.Minute)
	if call := <-conn.done; call != "pair good" {
		t.Fatalf("call %q", call)
	}
	clock.nextWait(t)
	if st := m.Status(); st.PairedTokenSHA256 != agentpairing.TokenSHA256("good") || st.Error != "" {
		t.Errorf("status after pairing %+v", st)
	}
}

// Run notices a token that changes while it runs (the kubelet updating the mounted Secret), pairs with it
// and goes on with the new certificate: its renewals are planned from it.
func TestRunPairsAgainWhenTheTokenChanges(t *testing.T) {
	dir := t.TempDir()
	pairedWith(t, dir, "stored", "first")
	clock := newClock(t0)
	stored := newIssued(t, "stored", t0.Add(-time.Hour), t0.Add(2*time.Hour)) // renew at t0+1h
	fresh := newIssued(t, "fresh", t0, t0.Add(6*time.Hour))                   // renew at t0+4h
	conn := &connector{stored: stored, pairs: []credentials.Issued{fresh}, done: make(chan string, 8)}
	tf := &tokenFile{tok: "first"}
	var rep reports
	m := credentials.New(conn, credentials.Config{Dir: dir, Token: tf.read, Clock: clock, TokenPoll: time.Minute, Report: rep.report}, quiet)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() { _ = m.Run(ctx); close(stopped) }()
	clock.nextWait(t)
	if at := clock.nextWait(t); !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("renewal at %s, want t0+1h", at.Sub(t0))
	}
	// An unchanged token: nothing happens.
	clock.Advance(time.Minute)
	clock.nextWait(t)
	select {
	case call := <-conn.done:
		t.Fatalf("%s with an unchanged token", call)
	case <-time.After(50 * time.Millisecond):
	}

	tf.set("second")
	clock.Advance(time.Minute)
	if call := <-conn.done; call != "pair second" {
		t.Fatalf("call %q, want pairing with the new token", call)
	}
	clock.nextWait(t) // the next poll
	if at := clock.nextWait(t); !at.Equal(t0.Add(4 * time.Hour)) {
		t.Fatalf("renewal at %s, want t0+4h (from the new certificate)", at.Sub(t0))
	}
	if got := readFile(t, filepath.Join(dir, "cert.pem")); got != "fresh" {
		t.Errorf("stored certificate %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "token.sha256")); got != agentpairing.TokenSHA256("second") {
		t.Errorf("hash kept %s", got)
	}
	if rep.last(t).PairedTokenSHA256 != agentpairing.TokenSHA256("second") {
		t.Errorf("reported %+v", rep.last(t))
	}
	if _, err := os.Stat(filepath.Join(dir, ".next")); !os.IsNotExist(err) {
		t.Errorf("staging folder left behind: %v", err)
	}
	cancel()
	<-stopped
}

// A save interrupted by a crash: a complete staged set replaces the stored one at the next start, an
// incomplete one is dropped; never a mix.
func TestBootstrapFinishesOrDropsAnInterruptedSave(t *testing.T) {
	for _, complete := range []bool{true, false} {
		dir := t.TempDir()
		pairedWith(t, dir, "old", "first")
		staged := filepath.Join(dir, ".next")
		if err := os.MkdirAll(staged, 0o700); err != nil {
			t.Fatal(err)
		}
		pairedWith(t, staged, "new", "second")
		if complete {
			if err := os.WriteFile(filepath.Join(staged, ".complete"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		conn := &connector{stored: newIssued(t, "stored", t0.Add(-time.Hour), t0.Add(time.Hour))}
		m := credentials.New(conn, credentials.Config{Dir: dir, Clock: newClock(t0)}, quiet)
		if err := m.Bootstrap(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantCert, wantTok := "old", "first"
		if complete {
			wantCert, wantTok = "new", "second"
		}
		if got := readFile(t, filepath.Join(dir, "cert.pem")); got != wantCert {
			t.Errorf("complete=%v: certificate %q, want %q", complete, got, wantCert)
		}
		if got := m.Status().PairedTokenSHA256; got != agentpairing.TokenSHA256(wantTok) {
			t.Errorf("complete=%v: paired with %s, want the hash of %q", complete, got, wantTok)
		}
		if _, err := os.Stat(staged); !os.IsNotExist(err) {
			t.Errorf("complete=%v: staging folder left: %v", complete, err)
		}
	}
}
