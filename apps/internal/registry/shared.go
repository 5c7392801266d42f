package registry

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
)

// A write that touches nothing of the tenant's but its own entity (no index joined or left, no unique key
// claimed or released, no events, so no outbox record) has nothing to queue for behind the tenant's other
// writers: its transaction is the entity's key alone, guarded by the entity's ETag, as a write to the same
// entity by another replica would be. Such writes (a runtime's view renumbered, a health record updated)
// wait only for other such writes of the same entity in this process (or of one that shares its lock
// stripe), never for the tenant queue.
//
// Whether a write is such a write is known only once fn has decided it, so the decision is made first; a
// write that turns out to need the tenant's shared keys joins the tenant queue with what it read, which
// the transaction's ETag checks still guard. The queue was never what kept writes correct on stores with
// atomic transactions (ETags are; another replica does not share the queue), only what kept them from
// colliding on the index and outbox heads, which these writes do not touch. Stores without atomic
// transactions keep every write in the queue and under the tenant's lock in the store: there a write
// could change the entity half-way through another's transaction.

// entityStripes is how many locks the writes of single entities share, by hash of the entity key: enough
// that unrelated entities seldom wait for each other, and a fixed number however many entities there are.
const entityStripes = 256

var stripeSeed = maphash.MakeSeed()

// entityLock returns the in-process lock of the entity key: writes of the same entity take turns instead
// of failing each other's ETag checks.
func (r *Registry) entityLock(key string) *sync.Mutex {
	return &r.stripes[maphash.String(stripeSeed, key)%entityStripes]
}

// mutateShared writes outside the tenant queue when the write touches only its entity, and joins the queue
// otherwise (see above).
func (r *Registry) mutateShared(ctx context.Context, s Scope, id, writeID string, fn MutateFunc) error {
	if s.Kind != outboxTenantsKind && riderPending(ctx) {
		// It carries events: straight into the queue, reading there, where the read is fresh.
		return r.queueWrite(ctx, s, id, writeID, fn, nil)
	}
	var queued *decided
	err := r.retry(ctx, func() error {
		mu := r.entityLock(s.entityKey(id))
		mu.Lock()
		defer mu.Unlock()
		w, err := r.decide(ctx, s, id, writeID, fn, false)
		if err != nil || w == nil {
			return err
		}
		if !w.ownEntityOnly(ctx) {
			queued = w
			return nil
		}
		return r.apply(ctx, w)
	})
	if err != nil || queued == nil {
		return err
	}
	// Made as decided outside if it goes alone: if the entity changed since, its ETag check fails the
	// transaction and the next attempt reads again.
	return r.queueWrite(ctx, s, id, writeID, fn, queued)
}

// ownEntityOnly reports whether the write touches no key but the entity's own.
func (w *decided) ownEntityOnly(ctx context.Context) bool {
	if len(w.ch.Events) > 0 || (w.s.Kind != outboxTenantsKind && riderPending(ctx)) {
		return false
	}
	var had map[string]int64
	var hadUnique []string
	if w.cur != nil {
		had, hadUnique = w.cur.Indexes, w.cur.Unique
	}
	want := w.wantIndexes()
	if len(want) != len(had) {
		return false
	}
	for ix := range had {
		if !want[ix] {
			return false
		}
	}
	next := w.nextUnique()
	for _, k := range next {
		if !slices.Contains(hadUnique, k) {
			return false
		}
	}
	for _, k := range hadUnique {
		if !slices.Contains(next, k) {
			return false
		}
	}
	return true
}

// riderPending reports whether ctx holds events that the next write must carry (see WithFirstWrite), or
// that a write in flight may hand back for the next one.
func riderPending(ctx context.Context) bool {
	f, _ := ctx.Value(firstWriteKey{}).(*FirstWrite)
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state != firstWriteDone
}
