package healthprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Mutator is the part of the Registry a Lease needs.
type Mutator interface {
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Lease lets several Director replicas share one schedule. Dapr's cron binding fires in every replica, so
// without it each would probe every application on every tick. The replica holding the lease does the
// rounds and renews it with each; the others skip theirs until it has run out for TTL without renewal
// (the holder crashed or was scaled away), and then one of them takes over.
type Lease struct {
	Store  Mutator
	Holder string        // this replica, unique among them
	TTL    time.Duration // longer than the cron interval, or the holder loses the lease between its ticks

	now func() time.Time
}

var leaseScope = registry.GlobalScope("lease")

const healthRoundLease = "health-round"

type leaseRecord struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

var errLeaseHeld = errors.New("lease held by another replica")

// decodeLease reads the stored lease; nil (never taken) is a free one.
func decodeLease(cur []byte) (leaseRecord, error) {
	var rec leaseRecord
	if cur == nil {
		return rec, nil
	}
	if err := json.Unmarshal(cur, &rec); err != nil {
		return rec, fmt.Errorf("decode lease: %w", err)
	}
	return rec, nil
}

// Hold takes or renews the lease and says whether this replica holds it now. The write is guarded by the
// Registry's ETags, so of two replicas reaching for a free lease one gets it.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	err := l.Store.Mutate(ctx, leaseScope, healthRoundLease, "", func(cur []byte) (registry.Change, error) {
		t := now().UTC()
		rec, err := decodeLease(cur)
		if err != nil {
			return registry.Change{}, err
		}
		if rec.Holder != "" && rec.Holder != l.Holder && t.Before(rec.Until) {
			return registry.Change{}, errLeaseHeld
		}
		return registry.Change{Data: leaseRecord{Holder: l.Holder, Until: t.Add(l.TTL)}}, nil
	})
	switch {
	case errors.Is(err, errLeaseHeld):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("health round lease: %w", err)
	}
	return true, nil
}

// Release gives the lease up if this replica holds it, so that at a clean shutdown another replica (or
// the next start of this one) takes over at its next tick instead of after TTL.
func (l *Lease) Release(ctx context.Context) error {
	err := l.Store.Mutate(ctx, leaseScope, healthRoundLease, "", func(cur []byte) (registry.Change, error) {
		rec, err := decodeLease(cur)
		if err != nil {
			return registry.Change{}, err
		}
		if rec.Holder != l.Holder {
			return registry.Change{}, errLeaseHeld
		}
		return registry.Change{Data: leaseRecord{}}, nil
	})
	if err != nil && !errors.Is(err, errLeaseHeld) {
		return fmt.Errorf("release health round lease: %w", err)
	}
	return nil
}
