// Package heartbeat tells the Director, at a steady pace, that the runtime is alive.
package heartbeat

import (
	"context"
	"log/slog"
	"time"
)

// Beater sends one heartbeat.
type Beater interface {
	Heartbeat(ctx context.Context, runtimeID string) error
}

// Run sends a heartbeat for runtimeID at once and then every interval until ctx ends. A failed beat is
// logged and not retried: the next one is never far, and piling up retries would only add load on a
// Director that is already struggling. Failures are logged once per streak, not once per beat.
func Run(ctx context.Context, log *slog.Logger, b Beater, runtimeID string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := 0
	for {
		err := b.Heartbeat(ctx, runtimeID)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failing++
			if failing == 1 {
				log.WarnContext(ctx, "heartbeat failed", "err", err)
			}
		case failing > 0:
			log.InfoContext(ctx, "heartbeat works again", "failedBeats", failing)
			failing = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
