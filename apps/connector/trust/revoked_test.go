package trust

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// writeLog is a Store that keeps every change it wrote, so that a test sees which events went into the
// same write as the data they announce.
type writeLog struct {
	Store
	mu      sync.Mutex
	changes []registry.Change
}

func (w *writeLog) Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error {
	var last registry.Change
	err := w.Store.Mutate(ctx, s, id, writeID, func(cur []byte) (registry.Change, error) {
		ch, err := fn(cur) // the last call's change is the one written
		last = ch
		return ch, err
	})
	if err == nil {
		w.mu.Lock()
		w.changes = append(w.changes, last)
		w.mu.Unlock()
	}
	return err
}

// revokedEvents returns the certificate.revoked events written since the last call, each checked to ride
// on the write that revoked its certificate.
func (w *writeLog) revokedEvents(t *testing.T) []RevokedEvent {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []RevokedEvent
	for _, ch := range w.changes {
		for _, e := range ch.Events {
			if e.Topic != TopicCertificateRevoked {
				continue
			}
			ev, ok := e.Data.(RevokedEvent)
			rec, isCert := ch.Data.(certRecord)
			if !ok || !isCert || !rec.Revoked || rec.Serial != ev.Serial {
				t.Fatalf("certificate.revoked %+v written with %+v, not with the revocation of its certificate", e.Data, ch.Data)
			}
			out = append(out, ev)
		}
	}
	w.changes = nil
	return out
}

func TestEveryRevocationIsAnnouncedInItsWrite(t *testing.T) {
	mem := memstate.New()
	c := &clock{t: time.Now()}
	log := &writeLog{Store: registry.New(mem, "connectorstore")}
	f := &fixture{svc: NewService(quiet, log, authority(t), testConfig, c.Now), store: mem, clock: c}

	pair := func(o Owner) string {
		res, err := f.svc.SignCSR(ctx, tokenID(issue(t, f, o)), csrFor(t, o))
		if err != nil {
			t.Fatal(err)
		}
		return identity.SerialHex(leaf(t, res).SerialNumber)
	}
	first, second := pair(rtOwner), pair(rtOwner)
	if evs := log.revokedEvents(t); len(evs) != 0 {
		t.Fatalf("issuing announced revocations: %+v", evs)
	}

	// The holder revokes its own certificate.
	if err := f.svc.Revoke(ctx, certID(rtOwner, first)); err != nil {
		t.Fatal(err)
	}
	evs := log.revokedEvents(t)
	want := RevokedEvent{Serial: first, Tenant: "t1", ConsumerType: "RUNTIME", ConsumerID: "rt-1", RevokedAt: c.Now().UTC()}
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("Revoke announced %+v, want %+v", evs, want)
	}
	wantCode(t, f.svc.Revoke(ctx, certID(rtOwner, first)), apperr.CodeForbidden)

	// Unregistering the runtime revokes the rest, each announced, the one already revoked not again.
	if n, err := f.svc.RevokeOwner(ctx, rtOwner); err != nil || n != 1 {
		t.Fatalf("RevokeOwner: %d %v", n, err)
	}
	evs = log.revokedEvents(t)
	if len(evs) != 1 || evs[0].Serial != second || evs[0].Tenant != "t1" {
		t.Fatalf("RevokeOwner announced %+v, want the one certificate it revoked (%s)", evs, second)
	}
	if err := f.svc.revokeSerial(ctx, rtOwner, second); err != nil {
		t.Fatal(err)
	}
	if evs := log.revokedEvents(t); len(evs) != 0 {
		t.Fatalf("revoking a revoked certificate again announced %+v", evs)
	}
}
