package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// The writes of a tenant that touch its shared keys (index heads, unique keys, the outbox) take turns in
// this process (see exclusive). Taking turns one transaction at a time made a fleet's configuration
// reports, each an event-carrying write into one tenant, go through at ≈ 70 a second: each holds the
// tenant for a read and a transaction, and all of them read and rewrite the same outbox head and bucket.
// So the writes that queue while one is made are made together, by whichever of them gets the tenant
// next: one bulk read of their entities and the outbox head, then each decided and planned in turn over
// what the ones before it wrote, and one transaction. Their order in it is their order in the queue, and so
// is the order of their events in the outbox.
//
// The combined transaction is guarded by the ETags of what was read, as a single write is, and its
// outcomes count only if it commits. When another replica wrote first, the group is read and tried again as
// a group; when it fails otherwise (a store error that one write's operation may have caused), each write is
// made again on its own, so that its outcome is its own. fn may so run more than once, which MutateFunc
// allows. A write that fails on its own in a group that commits (fn's error, a unique key taken by a write
// before it in the group) is left out of the transaction and answered with that error.

// groupWrites bounds the writes made in one transaction.
const groupWrites = 32

// tenantQueue is a tenant's turn to write in this process, and the writes waiting for it.
type tenantQueue struct {
	turn    sync.Mutex
	mu      sync.Mutex
	waiting []*queuedWrite
}

// queuedWrite is a Mutate waiting for its tenant's turn.
type queuedWrite struct {
	ctx     context.Context
	s       Scope
	id      string
	writeID string
	fn      MutateFunc
	// pre is the write as decided outside the queue (see mutateShared), made as it is if it goes alone:
	// its ETag check fails it if the entity changed since.
	pre  *decided
	done bool
	err  error
}

func (r *Registry) tenantQueue(tenant string) *tenantQueue {
	q, _ := r.writers.LoadOrStore(tenant, &tenantQueue{})
	return q.(*tenantQueue)
}

// queueWrite makes the write in the tenant's turn, together with the writes queued with it. pre, if not nil,
// is the write already decided.
func (r *Registry) queueWrite(ctx context.Context, s Scope, id, writeID string, fn MutateFunc, pre *decided) error {
	q := r.tenantQueue(s.Tenant)
	w := &queuedWrite{ctx: ctx, s: s, id: id, writeID: writeID, fn: fn, pre: pre}
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
	q.turn.Lock()
	defer q.turn.Unlock()
	for !w.done {
		group := q.take()
		if len(group) == 0 {
			break // cannot happen: w is queued until done
		}
		r.writeGroup(group)
	}
	return w.err
}

// take removes the next group from the queue: up to groupWrites writes, each of a different entity (two
// writes of one entity go in order, in different groups).
func (q *tenantQueue) take() []*queuedWrite {
	q.mu.Lock()
	defer q.mu.Unlock()
	var group []*queuedWrite
	keys := map[string]bool{}
	rest := q.waiting[:0]
	for _, w := range q.waiting {
		k := w.s.entityKey(w.id)
		if len(group) < groupWrites && !keys[k] {
			keys[k] = true
			group = append(group, w)
			continue
		}
		rest = append(rest, w)
	}
	clear(q.waiting[len(rest):])
	q.waiting = rest
	return group
}

// writeGroup makes the writes of group, the caller holding the tenant's turn. A group that lost an ETag
// race (another replica committed to the tenant's heads first) is read and tried again as a group, within
// half the contention budget; a group that failed otherwise, or kept losing, is written one by one, so
// that a write whose own operation the store refuses fails alone.
func (r *Registry) writeGroup(group []*queuedWrite) {
	alone := func(w *queuedWrite) {
		pre := w.pre
		w.finish(r.retry(w.ctx, func() error {
			unlock, err := r.lock(w.ctx, w.s.Tenant)
			if err != nil {
				return err
			}
			defer unlock()
			if d := pre; d != nil {
				pre = nil
				return r.apply(w.ctx, d)
			}
			return r.mutateOnce(w.ctx, w.s, w.id, w.writeID, w.fn)
		}))
	}
	if len(group) == 1 {
		alone(group[0])
		return
	}
	start := time.Now()
	for n := 0; ; n++ {
		err := r.writeTogether(group)
		if err == nil {
			return
		}
		if !errors.Is(err, errConflict) || time.Since(start) > contentionBudget/2 {
			break
		}
		time.Sleep(conflictBackoff(n))
	}
	for _, w := range group {
		alone(w)
	}
}

func (w *queuedWrite) finish(err error) { w.err, w.done = err, true }

// writeTogether makes the writes of group in one transaction. Its outcomes count only if the transaction
// commits (or there is nothing to commit): a write that failed on its own in an attempt whose transaction
// did not commit may have failed for a write before it that was then not made, so on error nothing is
// finished and every write is tried again.
func (r *Registry) writeTogether(group []*queuedWrite) error {
	tenant := group[0].s.Tenant
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	unlock, err := r.lock(ctx, tenant)
	if err != nil {
		return err
	}
	defer unlock()

	// The outbox head and its likely bucket are read with the entities: whether a write carries events is
	// known only once it is decided, and a group without any is rare.
	snap := snapshot{}
	keys := make([]string, 0, len(group)+2)
	for _, w := range group {
		keys = append(keys, w.s.entityKey(w.id))
	}
	if err := r.bulk(ctx, snap, append(keys, r.outboxKeys(tenant)...)); err != nil {
		return err
	}

	tx := newCombined(snap)
	var plans []*planned
	outcomes := make([]error, len(group))
	for i, w := range group {
		d, err := decideFrom(snap, w)
		if err != nil || d == nil {
			outcomes[i] = err
			continue
		}
		p, err := r.plan(w.ctx, d)
		if err != nil {
			outcomes[i] = err
			continue
		}
		tx.add(p.ops)
		plans = append(plans, p)
	}
	events := false
	if len(plans) > 0 {
		err = r.commit(ctx, tx.ops())
		for _, p := range plans {
			p.settle(err == nil)
			events = events || p.events
		}
		if err != nil {
			return err
		}
	}
	for i, w := range group {
		w.finish(outcomes[i])
	}
	if events {
		r.signalRelay(tenant)
	}
	return nil
}

// decideFrom decides the write on its entity as read into snap, with the outbox keys; the plan then works
// on the same snapshot.
func decideFrom(snap snapshot, w *queuedWrite) (*decided, error) {
	cur, etag, err := envelopeIn(snap, w.s.entityKey(w.id))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", w.s.Kind, w.id, err)
	}
	return decideOn(w.s, w.id, w.writeID, w.fn, cur, etag, snap)
}

// combined is the transaction of a group: one operation per key, the last one planned for it, guarded by
// the ETag the key had when the group first read it. After each write it is planned, snap holds what the
// write left, so that the next write reads the heads and buckets as they will be, not as they were.
type combined struct {
	snap  snapshot
	order []string
	last  map[string]*dapr.StateOperation
	etag  map[string]string // the key's ETag as first read; "" when it did not exist
}

func newCombined(snap snapshot) *combined {
	return &combined{snap: snap, last: map[string]*dapr.StateOperation{}, etag: map[string]string{}}
}

// add folds a write's operations in.
func (c *combined) add(ops []*dapr.StateOperation) {
	for _, op := range ops {
		k := op.Item.Key
		if _, seen := c.last[k]; !seen {
			c.order = append(c.order, k)
			if op.Item.Etag != nil {
				c.etag[k] = op.Item.Etag.Value
			}
		}
		c.last[k] = op
		if op.Type == dapr.StateOperationTypeDelete {
			c.snap[k] = item{}
		} else {
			c.snap[k] = item{value: op.Item.Value, etag: c.etag[k]}
		}
	}
}

// ops returns the transaction: each key's last operation under the key's first ETag. A key created and
// deleted again within the group is not written at all.
func (c *combined) ops() []*dapr.StateOperation {
	out := make([]*dapr.StateOperation, 0, len(c.order))
	for _, k := range c.order {
		op, etag := c.last[k], c.etag[k]
		item := *op.Item
		switch {
		case op.Type == dapr.StateOperationTypeDelete && etag == "":
			continue
		case etag == "":
			item.Etag = nil
		default:
			item.Etag = &dapr.ETag{Value: etag}
		}
		out = append(out, &dapr.StateOperation{Type: op.Type, Item: &item})
	}
	return out
}
