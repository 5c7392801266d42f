package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// A change and the record that goes with it land together: the first write under the context carries it,
// the writes after it do not, and a write that does not happen leaves it for the next one.
func TestFirstWriteCarriesTheEventsOnce(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	pub := &recordingPublisher{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Relay(ctx, slog.New(slog.DiscardHandler), pub, time.Hour)

	wctx, fw := registry.WithFirstWrite(ctx, registry.Event{Topic: "audit", Data: "record"})
	s := registry.Scope{Tenant: "t", Kind: "a"}
	refused := errors.New("refused")
	if err := r.Mutate(wctx, s, "1", "", func([]byte) (registry.Change, error) { return registry.Change{}, refused }); !errors.Is(err, refused) {
		t.Fatal(err)
	}
	// Deleting what does not exist writes nothing either.
	if err := r.Mutate(wctx, s, "nothing", "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if fw.Written() {
		t.Fatal("written without a write")
	}
	for _, id := range []string{"1", "2"} {
		if err := r.Mutate(wctx, s, id, "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: id, Events: []registry.Event{{Topic: "a.created", Data: id}}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !fw.Written() {
		t.Fatal("not written with the first change")
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(pub.seen()) < 3 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a duplicate would show up by now
	audits := 0
	for _, topic := range pub.seen() {
		if topic == "audit" {
			audits++
		}
	}
	if len(pub.seen()) != 3 || audits != 1 {
		t.Fatalf("published %v, want two changes and one audit record", pub.seen())
	}
}
