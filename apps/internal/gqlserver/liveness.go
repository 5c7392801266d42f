package gqlserver

import (
	"context"
	"log/slog"
	"slices"
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
