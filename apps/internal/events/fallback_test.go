package events_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

type broker struct {
	down bool
	got  []string
}

func (b *broker) Publish(_ context.Context, topic, _ string, _ []byte) error {
	if b.down {
		return errors.New("broker down")
	}
	b.got = append(b.got, topic)
	return nil
}

type spool struct {
	down    bool
	tenants []string
	events  []registry.Event
}

func (s *spool) Enqueue(_ context.Context, tenant string, evs ...registry.Event) error {
	if s.down {
		return errors.New("store down")
	}
	s.tenants = append(s.tenants, tenant)
	s.events = append(s.events, evs...)
	return nil
}

func TestFallbackKeepsWhatTheBrokerRefuses(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1"})

	b, s := &broker{}, &spool{}
	f := events.Fallback{Publisher: b, Spool: s, Log: quiet}
	if err := f.Publish(ctx, "audit", "1", []byte(`{"n":1}`)); err != nil || len(b.got) != 1 || len(s.events) != 0 {
		t.Fatalf("broker up: err %v, published %v, spooled %v", err, b.got, s.events)
	}

	b.down = true
	if err := f.Publish(ctx, "audit", "2", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("broker down, spool up: %v", err)
	}
	if len(s.events) != 1 || s.tenants[0] != "t1" || s.events[0].Topic != "audit" {
		t.Fatalf("spooled %v for %v", s.events, s.tenants)
	}

	s.down = true
	if err := f.Publish(ctx, "audit", "3", []byte(`{"n":3}`)); err == nil {
		t.Fatal("an event that was neither published nor kept was reported as sent")
	}
}
