package heartbeat_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/heartbeat"
)

type beater struct {
	n    atomic.Int32
	fail bool
}

func (b *beater) Heartbeat(_ context.Context, runtimeID string) error {
	if runtimeID != "rt-1" {
		return errors.New("wrong runtime")
	}
	b.n.Add(1)
	if b.fail {
		return errors.New("director unavailable")
	}
	return nil
}

func TestBeatsAtOnceAndThenEveryInterval(t *testing.T) {
	for _, fail := range []bool{false, true} {
		b := &beater{fail: fail}
		ctx, cancel := context.WithTimeout(context.Background(), 55*time.Millisecond)
		heartbeat.Run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), b, "rt-1", 20*time.Millisecond)
		cancel()
		// At 0, 20 and 40 ms; failures do not stop the beat.
		if n := b.n.Load(); n < 2 || n > 4 {
			t.Errorf("fail=%v: %d beats in 55ms at a 20ms interval", fail, n)
		}
	}
}
