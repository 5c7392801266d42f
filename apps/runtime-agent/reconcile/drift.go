package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/retry"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Inspector finds drift: it compares the runtime with a revision and watches where the revision was
// written. Both appliers are inspectors too.
type Inspector interface {
	// Diff returns how the runtime differs from what applying rev writes; nothing when it does not.
	Diff(ctx context.Context, rev revision.Revision) ([]revision.Difference, error)
	// Watch calls changed whenever something the revision was written to changes, until ctx ends.
	Watch(ctx context.Context, changed func()) error
}

// WatchDrift makes the loop look for drift from the last revision applied, with ins: on every change ins
// sees (once the runtime has been quiet for DriftSettle) and every DriftCheckEvery. Drift is reported
// DRIFTED with what differs and, unless the revision's policy is report-only, corrected by applying the
// revision again, verified, and reported APPLIED with the drift marked corrected. Call it before Run.
//
// The agent's own writes are never taken for drift: a change only triggers a comparison with what the
// revision writes, and comparisons and applies take turns in one goroutine, so a comparison sees a
// revision either not yet written or written whole. A correction rewrites only what differs, so the
// sidecar's hot reload sees exactly the files it has to reload; and corrections back off (RetryMin up
// to RetryMax) while something keeps undoing them (drift again within DriftQuiet of the last correction),
// instead of fighting it.
func (l *Loop) WatchDrift(ins Inspector) { l.ins = ins }

// driftState is what applyLoop knows about drift; only applyLoop touches it.
type driftState struct {
	// current is the revision drift is measured against: the last one applied; nil when the last
	// revision did not apply, since there is then nothing the agent vouches for.
	current *revision.Revision
	// reported is the drift last reported for current; nil when none is open.
	reported []revision.Difference
	// corrections paces corrections that something keeps undoing; notBefore is when the next may go,
	// lastCorrection when the last went.
	corrections    *retry.Backoff
	notBefore      time.Time
	lastCorrection time.Time
	// retry fires when a correction held back may go.
	retry <-chan time.Time
	timer *time.Timer
}

// applied records the outcome of a new revision.
func (d *driftState) applied(rev *revision.Revision, status revision.Status) {
	d.current, d.reported, d.notBefore = nil, nil, time.Time{}
	d.corrections.Reset()
	if status == revision.Applied {
		r := *rev
		d.current = &r
	}
}

func (d *driftState) retryIn(wait time.Duration) {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.timer = time.NewTimer(wait)
	d.retry = d.timer.C
}

func (l *Loop) notifyChanged() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// watch keeps ins watching; while it cannot, the periodic comparison still finds drift, only later.
func (l *Loop) watch(ctx context.Context) {
	b := retry.New(l.cfg.RetryMin, l.cfg.RetryMax)
	for ctx.Err() == nil {
		err := l.ins.Watch(ctx, l.notifyChanged)
		if ctx.Err() != nil {
			return
		}
		d := b.Next()
		l.log.WarnContext(ctx, "watching for drift stopped; the periodic comparison goes on", "err", err, "retryIn", d.Round(time.Millisecond))
		sleep(ctx, d)
	}
}

// checkDrift compares the runtime with the revision applied and reports and corrects what differs.
func (l *Loop) checkDrift(ctx context.Context) {
	d := &l.drift
	if l.ins == nil || d.current == nil {
		return
	}
	l.mu.Lock()
	newer := l.pending != nil
	l.mu.Unlock()
	if newer {
		return // the next revision is written whole anyway
	}
	rev := *d.current
	log := l.log.With("revision", rev.Number)
	diffs, err := l.ins.Diff(ctx, rev)
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "comparing the runtime with the revision applied failed", "err", err)
		}
		return
	}
	if len(diffs) == 0 {
		if d.reported != nil {
			// Gone without the agent: restored by hand, or the policy is report-only and someone undid it.
			log.InfoContext(ctx, "the runtime runs the revision applied again")
			d.reported = nil
			l.setState(State{Revision: rev.Number, Status: revision.Applied, At: time.Now()})
			l.report(ctx, revision.Report{Revision: rev.Number, Status: revision.Applied})
		}
		return
	}
	if !slices.Equal(diffs, d.reported) {
		log.WarnContext(ctx, "the runtime drifted from the revision applied", "drift", describe(diffs), "correct", rev.Corrects())
		d.reported = diffs
		reason := "drift: " + describe(diffs)
		l.setState(State{Revision: rev.Number, Status: revision.Drifted, Reason: reason, Drift: diffs, At: time.Now()})
		l.report(ctx, revision.Report{Revision: rev.Number, Status: revision.Drifted, Reason: reason, Drift: diffs})
	}
	if !rev.Corrects() {
		return
	}
	if time.Since(d.lastCorrection) > l.cfg.DriftQuiet {
		// Drift long after the last correction is someone's edit, not something undoing the agent: at once.
		d.corrections.Reset()
		d.notBefore = time.Time{}
	}
	if wait := time.Until(d.notBefore); wait > 0 {
		log.InfoContext(ctx, "holding the correction back: something keeps undoing it", "for", wait.Round(time.Millisecond))
		d.retryIn(wait)
		return
	}
	start := time.Now()
	d.lastCorrection, d.notBefore = start, start.Add(d.corrections.Next())
	if err := l.app.Apply(ctx, rev); err != nil {
		log.ErrorContext(ctx, "correcting drift failed", "err", err)
		d.retryIn(time.Until(d.notBefore))
		return
	}
	if l.ver != nil {
		if err := l.ver.Verify(ctx, rev.Bindings, unexpected(diffs)); err != nil {
			reason := "verify after correcting drift: " + err.Error()
			log.ErrorContext(ctx, "drift corrected but the sidecar did not load the revision", "err", err)
			d.current, d.reported = nil, nil
			l.setState(State{Revision: rev.Number, Status: revision.Failed, Reason: reason, At: time.Now()})
			l.report(ctx, revision.Report{Revision: rev.Number, Status: revision.Failed, Reason: reason})
			return
		}
	}
	log.InfoContext(ctx, "drift corrected", "drift", describe(diffs), "took", time.Since(start).Round(time.Millisecond))
	d.reported = nil
	l.setState(State{Revision: rev.Number, Status: revision.Applied, At: time.Now()})
	l.report(ctx, revision.Report{Revision: rev.Number, Status: revision.Applied, Drift: diffs, DriftCorrected: true})
}

// unexpected names the components a correction removes, which the sidecar should then drop.
func unexpected(diffs []revision.Difference) []string {
	var out []string
	for _, d := range diffs {
		if d.Kind == revision.Unexpected && d.Resource == revision.ResourceComponent {
			out = append(out, d.Component)
		}
	}
	return out
}

// describe says what differs in a line, for logs and the report's reason.
func describe(diffs []revision.Difference) string {
	parts := make([]string, 0, len(diffs))
	for _, d := range diffs {
		parts = append(parts, fmt.Sprintf("%s %s %s", strings.ToLower(d.Resource), d.Component, d.Kind))
	}
	return strings.Join(parts, ", ")
}
