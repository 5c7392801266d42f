// Package reconcile keeps a runtime on the Governor's latest configuration: it learns about new revisions
// from a long poll (within a second of their creation), with a periodic full fetch in case a poll answer
// was lost, applies each new revision, checks that the sidecar loaded it, and reports the outcome.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/retry"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Source is the Runtime Governor.
type Source interface {
	RuntimeConfiguration(ctx context.Context, runtimeID string, afterRevision int, wait time.Duration) (revision.Revision, error)
	ReportConfigurationStatus(ctx context.Context, runtimeID string, r revision.Report) error
}

// Applier turns a revision into components where the runtime's sidecars load them.
type Applier interface {
	Apply(ctx context.Context, rev revision.Revision) error
}

// Verifier confirms that the runtime's sidecar has loaded the bindings and dropped the gone ones.
type Verifier interface {
	Verify(ctx context.Context, bindings []revision.Binding, gone []string) error
}

// Config configures a Loop.
type Config struct {
	RuntimeID string
	// PollWait is how long the Governor may hold a long poll open.
	PollWait time.Duration
	// FullFetchEvery is the period of the fallback fetch of the current revision.
	FullFetchEvery time.Duration
	// RetryMin and RetryMax bound the backoff after failed polls and reports.
	RetryMin, RetryMax time.Duration
	// ReportAttempts is how often a status report is tried before it is given up.
	ReportAttempts int
	// DriftCheckEvery is the period of the comparison of the runtime with the revision applied, besides
	// the one each watched change asks for (see Inspector).
	DriftCheckEvery time.Duration
	// DriftSettle is how long the runtime must stay quiet after a watched change before it is compared:
	// an editor's save or a tool's several writes are one change, not several.
	DriftSettle time.Duration
	// DriftQuiet is how long after a correction drift counts as something undoing the agent, which
	// corrections then back off from; later drift is corrected at once.
	DriftQuiet time.Duration
}

// State is the outcome of the last revision the loop handled, for health endpoints and logs.
type State struct {
	Revision int             `json:"revision"`
	Status   revision.Status `json:"status,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	At       time.Time       `json:"at"`
	// Drift is what differs from the revision now, when the runtime drifted from it.
	Drift []revision.Difference `json:"drift,omitempty"`
}

// Loop is the agent's reconcile loop.
type Loop struct {
	src Source
	app Applier
	ver Verifier
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	offered int                // highest revision number handed to the applier
	pending *revision.Revision // newest revision not yet taken by the applier
	state   State
	wake    chan struct{}
	// retries paces the attempts at a revision that failed for a passing reason; only applyLoop uses it.
	retries *retry.Backoff
	// ins, when set, finds drift; drift is what applyLoop knows of it.
	ins     Inspector
	changed chan struct{}
	drift   driftState
}

// New returns a loop. ver may be nil: revisions then count as applied once written.
func New(src Source, app Applier, ver Verifier, cfg Config, log *slog.Logger) *Loop {
	if cfg.PollWait <= 0 {
		cfg.PollWait = 25 * time.Second
	}
	if cfg.FullFetchEvery <= 0 {
		cfg.FullFetchEvery = time.Minute
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.ReportAttempts <= 0 {
		cfg.ReportAttempts = 5
	}
	if cfg.DriftCheckEvery <= 0 {
		cfg.DriftCheckEvery = 30 * time.Second
	}
	if cfg.DriftSettle <= 0 {
		cfg.DriftSettle = 500 * time.Millisecond
	}
	if cfg.DriftQuiet <= 0 {
		cfg.DriftQuiet = 5 * time.Second
	}
	// offered starts below every revision, so that the first configuration fetched is applied even when
	// it is revision 0: that clears components a previous run left behind.
	return &Loop{src: src, app: app, ver: ver, cfg: cfg, log: log, offered: -1, state: State{Revision: -1}, wake: make(chan struct{}, 1),
		retries: retry.New(cfg.RetryMin, cfg.RetryMax), changed: make(chan struct{}, 1),
		drift: driftState{corrections: retry.New(cfg.RetryMin, cfg.RetryMax)}}
}

// State returns the outcome of the last revision handled.
func (l *Loop) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// Run polls, applies and reports until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	if l.ver == nil {
		l.log.WarnContext(ctx, "no runtime sidecar to verify against: revisions are reported APPLIED once written")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.longPoll(ctx) }()
	go func() { defer wg.Done(); l.fullFetch(ctx) }()
	if l.ins != nil {
		wg.Add(1)
		go func() { defer wg.Done(); l.watch(ctx) }()
	}
	l.applyLoop(ctx)
	wg.Wait()
}

// offer hands rev to the applier if it is newer than anything offered before. Only the newest pending
// revision is kept: when several arrive during one apply, the intermediate ones are skipped.
func (l *Loop) offer(rev revision.Revision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rev.Number <= l.offered {
		return
	}
	l.offered = rev.Number
	l.pending = &rev
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Loop) after() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.offered, 0)
}

func (l *Loop) longPoll(ctx context.Context) {
	b := retry.New(l.cfg.RetryMin, l.cfg.RetryMax)
	for ctx.Err() == nil {
		rev, err := l.src.RuntimeConfiguration(ctx, l.cfg.RuntimeID, l.after(), l.cfg.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := b.Next()
			l.log.WarnContext(ctx, "long poll failed, will retry", "err", err, "retryIn", d.Round(time.Millisecond))
			sleep(ctx, d)
			continue
		}
		b.Reset()
		l.offer(rev)
	}
}

func (l *Loop) fullFetch(ctx context.Context) {
	t := time.NewTicker(l.cfg.FullFetchEvery)
	defer t.Stop()
	for {
		rev, err := l.src.RuntimeConfiguration(ctx, l.cfg.RuntimeID, 0, 0)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.WarnContext(ctx, "fetching the configuration failed", "err", err)
		case err == nil:
			l.offer(rev)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// applyLoop applies revisions and, between them, looks for drift from the last one applied. Both run
// here, one at a time, so that a comparison never sees a revision half written.
func (l *Loop) applyLoop(ctx context.Context) {
	var applied []revision.Binding // bindings of the last revision written, to tell which are gone
	var checks <-chan time.Time
	if l.ins != nil {
		t := time.NewTicker(l.cfg.DriftCheckEvery)
		defer t.Stop()
		checks = t.C
	}
	settle := time.NewTimer(0)
	<-settle.C
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.changed:
			// Wait until the runtime is quiet: every change within the settle time pushes it back.
			settle.Reset(l.cfg.DriftSettle)
			continue
		case <-settle.C:
			l.checkDrift(ctx)
			continue
		case <-checks:
			l.checkDrift(ctx)
			continue
		case <-l.drift.retry:
			l.checkDrift(ctx)
			continue
		case <-l.wake:
		}
		l.mu.Lock()
		rev := l.pending
		l.pending = nil
		l.mu.Unlock()
		if rev == nil {
			continue
		}
		status, reason, written, again := l.handle(ctx, *rev, applied)
		if ctx.Err() != nil {
			return
		}
		if written {
			applied = rev.Bindings
		}
		if again {
			l.tryAgainLater(ctx, *rev)
		} else {
			l.retries.Reset()
		}
		l.drift.applied(rev, status)
		l.setState(State{Revision: rev.Number, Status: status, Reason: reason, At: time.Now()})
		l.report(ctx, revision.Report{Revision: rev.Number, Status: status, Reason: reason})
	}
}

func (l *Loop) setState(st State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = st
}

// handle applies and verifies one revision. written reports whether its components were written (even if
// the sidecar then failed to load some); again, whether the failure was a passing one (the applier could
// not reach where components go) so that the same revision should be tried again.
func (l *Loop) handle(ctx context.Context, rev revision.Revision, prev []revision.Binding) (status revision.Status, reason string, written, again bool) {
	log := l.log.With("revision", rev.Number, "bindings", len(rev.Bindings))
	start := time.Now()
	if err := l.app.Apply(ctx, rev); err != nil {
		var t temporary
		again = errors.As(err, &t) && t.Temporary()
		log.ErrorContext(ctx, "applying revision failed", "err", err, "willRetry", again)
		return revision.Failed, "apply: " + err.Error(), false, again
	}
	if l.ver != nil {
		if err := l.ver.Verify(ctx, rev.Bindings, gone(prev, rev.Bindings)); err != nil {
			log.ErrorContext(ctx, "revision written but not loaded by the sidecar", "err", err)
			return revision.Failed, "verify: " + err.Error(), true, false
		}
	}
	log.InfoContext(ctx, "revision applied", "took", time.Since(start).Round(time.Millisecond))
	return revision.Applied, "", true, false
}

// temporary is an applier error that says whether trying again may succeed (kube.ErrUnavailable: the API
// server was away for longer than the applier's own retries).
type temporary interface{ Temporary() bool }

// tryAgainLater offers rev again after a backoff, unless a newer revision came meanwhile: without it, a
// revision that failed because the API server was away would stay FAILED until the next configuration
// change, since the loop offers only revisions newer than the last one offered.
func (l *Loop) tryAgainLater(ctx context.Context, rev revision.Revision) {
	d := l.retries.Next()
	l.log.InfoContext(ctx, "trying the revision again later", "revision", rev.Number, "in", d.Round(time.Millisecond))
	go func() {
		sleep(ctx, d)
		l.mu.Lock()
		defer l.mu.Unlock()
		if ctx.Err() != nil || l.offered != rev.Number || l.pending != nil {
			return
		}
		l.pending = &rev
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}()
}

// gone returns the names in prev that next no longer has.
func gone(prev, next []revision.Binding) []string {
	var out []string
	for _, p := range prev {
		if !slices.ContainsFunc(next, func(b revision.Binding) bool { return b.Name == p.Name }) {
			out = append(out, p.Name)
		}
	}
	return out
}

// maxReason keeps reports readable; the agent's log has the full error.
const maxReason = 2000

func (l *Loop) report(ctx context.Context, r revision.Report) {
	// Revision 0 is "nothing configured yet": there is nothing for the Governor to record.
	if r.Revision <= 0 {
		return
	}
	if len(r.Reason) > maxReason {
		r.Reason = r.Reason[:maxReason] + "..."
	}
	b := retry.New(l.cfg.RetryMin, l.cfg.RetryMax)
	var err error
	for attempt := 1; attempt <= l.cfg.ReportAttempts; attempt++ {
		if err = l.src.ReportConfigurationStatus(ctx, l.cfg.RuntimeID, r); err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if attempt < l.cfg.ReportAttempts {
			sleep(ctx, b.Next())
		}
	}
	l.log.ErrorContext(ctx, "reporting the revision status failed", "revision", r.Revision, "status", r.Status, "err", err)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
