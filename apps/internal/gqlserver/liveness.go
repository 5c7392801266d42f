package gqlserver

import (
	"context"
	"log/slog"
	"slices"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

// Audit is an app's audit publisher together with the mutations that only say "still here". Pass it to New
// as the publisher.
//
// A liveness mutation (a runtime's heartbeat) arrives every few seconds from every member of a fleet: at
// 1,000 runtimes about 100 a second. Recorded like any mutation, it filled the audit stream, which is
// capped (maxLenApprox on the redis stream), and pushed administrators' records out of it within minutes;
// its own records say nothing a runtime's lastHeartbeat does not. So a liveness mutation that succeeds is
// recorded only when it changed something through the Registry (a heartbeat that turns its runtime
// CONNECTED: the record rides on that write, as every mutation's does). One that fails (a runtime sending
// another's heartbeat, say) is recorded like any mutation. The list is narrow on purpose: an operation
// that also asks for any other mutation is recorded whole.
type Audit struct {
	Publisher AuditPublisher
	// Liveness are root mutation fields recorded only when they change something or fail.
	Liveness []string
}

// Publish implements AuditPublisher.
func (a Audit) Publish(ctx context.Context, topic, id string, data []byte) error {
	return a.Publisher.Publish(ctx, topic, id, data)
}

func newAuditor(log *slog.Logger, app string, pub AuditPublisher) auditor {
	a := auditor{log: log, app: app, pub: pub}
	if cfg, ok := pub.(Audit); ok {
		a.pub, a.liveness = cfg.Publisher, cfg.Liveness
	}
	return a
}

// isLiveness reports whether every root field of a mutation is a liveness mutation.
func (a auditor) isLiveness(fields []string) bool {
	return len(a.liveness) > 0 && len(fields) > 0 &&
		!slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(a.liveness, f) })
}

// finishLiveness completes the record of a liveness mutation that succeeded. Entry.Finish publishes a
// record directly only when it did not already go out with a write, so a publisher that drops it keeps
// the calls that changed nothing out of the stream, and tells which they were; their log line is kept
// back until then, so that it goes at debug level instead of info.
func (a auditor) finishLiveness(ctx context.Context, entry *audit.Entry) {
	var held heldRecord
	var unchanged dropped
	entry.Finish(ctx, slog.New(&held), &unchanged, nil)
	if !held.ok {
		return
	}
	if unchanged {
		held.rec.Level = slog.LevelDebug
	}
	if h := a.log.Handler(); h.Enabled(ctx, held.rec.Level) {
		_ = h.Handle(ctx, held.rec)
	}
}

// dropped is a publisher that publishes nothing and remembers that it was asked to.
type dropped bool

func (d *dropped) Publish(context.Context, string, string, []byte) error {
	*d = true
	return nil
}

// heldRecord is a slog.Handler that keeps the one record Entry.Finish logs (it logs without attributes or
// groups of its own, so the handler needs none).
type heldRecord struct {
	rec slog.Record
	ok  bool
}

func (*heldRecord) Enabled(context.Context, slog.Level) bool { return true }
func (h *heldRecord) Handle(_ context.Context, r slog.Record) error {
	h.rec, h.ok = r.Clone(), true
	return nil
}
func (h *heldRecord) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *heldRecord) WithGroup(string) slog.Handler      { return h }
