package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/google/uuid"
)

// Event is a change notification. Events given with a Change are written in the same state transaction as
// the change (an outbox record) and published afterwards by the relay, so that no acknowledged change goes
// unannounced, even if the process dies right after the write.
type Event struct {
	Topic string `json:"topic"`
	Data  any    `json:"data"`
}

// Publisher sends one event to the broker; id identifies it for consumers that drop duplicates (delivery is
// at least once).
type Publisher interface {
	Publish(ctx context.Context, topic, id string, data []byte) error
}

// relayLinger is how long the relay waits after a write before it publishes: events stay prompt, and under
// load one pass carries many of them.
const relayLinger = 20 * time.Millisecond

const (
	outboxKind        = "outbox"
	outboxIndex       = "pending"
	outboxTenantsKind = "outboxtenant"
)

// outboxRecord holds the events of one change.
type outboxRecord struct {
	ID     string            `json:"id"`
	Tenant string            `json:"tenant"`
	Time   time.Time         `json:"time"`
	Events []json.RawMessage `json:"events"`
}

type storedEvent struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

// outboxOps returns the writes that put events into the tenant's outbox.
func (r *Registry) outboxOps(ctx context.Context, snap snapshot, tenant string, events []Event) ([]operation, error) {
	if len(events) == 0 {
		return nil, nil
	}
	rec := outboxRecord{ID: uuid.NewString(), Tenant: tenant, Time: time.Now().UTC()}
	for _, e := range events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.Topic, err)
		}
		raw, _ := json.Marshal(storedEvent{Topic: e.Topic, Data: data})
		rec.Events = append(rec.Events, raw)
	}
	os := Scope{Tenant: tenant, Kind: outboxKind}
	seq, ops, err := r.addMember(ctx, snap, os, outboxIndex, rec.ID)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(rec)
	env, _ := json.Marshal(envelope{Data: data, Indexes: map[string]int64{outboxIndex: seq}})
	return append(ops, upsert(os.entityKey(rec.ID), env, "")), nil
}

// Enqueue puts events into the tenant's outbox on their own, for events that go with no entity write (an
// audit record whose direct publish failed, say); the relay publishes them like any other. An empty tenant
// means the global one.
func (r *Registry) Enqueue(ctx context.Context, tenant string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	if tenant == "" {
		tenant = globalTenant
	}
	if err := r.knowOutboxTenant(ctx, tenant); err != nil {
		return err
	}
	err := r.exclusive(ctx, tenant, func() error {
		snap := snapshot{}
		if err := r.prefetch(ctx, snap, Scope{Tenant: tenant, Kind: outboxKind}, nil, nil, nil, nil, true); err != nil {
			return err
		}
		ops, err := r.outboxOps(ctx, snap, tenant, events)
		if err != nil {
			return err
		}
		return r.commit(ctx, ops)
	})
	if err != nil {
		return fmt.Errorf("enqueue events: %w", err)
	}
	r.signalRelay(tenant)
	return nil
}

// knowOutboxTenant records, once per process and tenant, that the tenant has data and so may have outbox
// records, so that the relay finds them after a restart.
func (r *Registry) knowOutboxTenant(ctx context.Context, tenant string) error {
	if _, ok := r.outboxTenants.Load(tenant); ok {
		return nil
	}
	err := r.Mutate(ctx, GlobalScope(outboxTenantsKind), tenant, "", func(cur []byte) (Change, error) {
		if cur != nil {
			return Change{}, errKnown
		}
		return Change{Data: tenant}, nil
	})
	if err != nil && err != errKnown {
		return fmt.Errorf("record outbox tenant: %w", err)
	}
	r.outboxTenants.Store(tenant, true)
	return nil
}

var errKnown = fmt.Errorf("known")

// Relay publishes outbox events until ctx ends: right after the writes that produced them, and every
// interval for whatever is left (after a broker outage, a restart, or a write of another replica that died
// before its relay got to it). Events of a tenant go out in the order they were written; a record is
// deleted only after all its events were published.
//
// A pass after a write reads only the outboxes of the tenants written since the last pass (see
// signalRelay): one tenant's write costs the same however many tenants there are. Only the first pass and
// the passes on the interval sweep every tenant that ever had an outbox.
func (r *Registry) Relay(ctx context.Context, log *slog.Logger, pub Publisher, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sweep := true
	for {
		var err error
		if sweep {
			err = r.relayAll(ctx, pub)
		} else {
			err = r.relayDirty(ctx, pub)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("outbox relay", "sweep", sweep, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep = true
		case <-r.kick:
			sweep = false
			// Linger a moment so that a burst of writes goes out (and is cleared) in one pass.
			time.Sleep(relayLinger)
		}
	}
}

// signalRelay tells the relay that tenant's outbox has new records. It is called after they were committed,
// so the pass that takes the tenant out of the set reads them. A kick that finds the channel full is not
// lost: the relay has not yet taken the one in it, and it drains the set after taking it.
func (r *Registry) signalRelay(tenant string) {
	r.dirtyMu.Lock()
	r.dirty[tenant] = struct{}{}
	r.dirtyMu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// takeDirty empties the set of tenants written since the last pass and returns them.
func (r *Registry) takeDirty() []string {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	tenants := make([]string, 0, len(r.dirty))
	for t := range r.dirty {
		tenants = append(tenants, t)
	}
	clear(r.dirty)
	return tenants
}

// markDirty puts tenants back into the set without a kick: a pass that failed for them leaves them to the
// next pass, kicked or swept, rather than looping on a broker that is down.
func (r *Registry) markDirty(tenants ...string) {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	for _, t := range tenants {
		r.dirty[t] = struct{}{}
	}
}

// relayDirty relays the outboxes of the tenants written since the last pass.
func (r *Registry) relayDirty(ctx context.Context, pub Publisher) error {
	var errs []error
	for _, t := range r.takeDirty() {
		if err := r.relayTenant(ctx, pub, t); err != nil {
			r.markDirty(t)
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// relayAll relays the outbox of every tenant that ever had one. It empties the set of written tenants
// first: what they wrote before is committed, so this sweep reads it.
func (r *Registry) relayAll(ctx context.Context, pub Publisher) error {
	written := r.takeDirty()
	var errs []error
	after := ""
	for {
		tenants, p, err := ListAs[string](ctx, r, GlobalScope(outboxTenantsKind), IndexAll, 200, after)
		if err != nil {
			// The written tenants may not have been reached: leave them to the next kicked pass.
			r.markDirty(written...)
			return errors.Join(append(errs, fmt.Errorf("list outbox tenants: %w", err))...)
		}
		for _, t := range tenants {
			if err := r.relayTenant(ctx, pub, *t); err != nil {
				r.markDirty(*t)
				errs = append(errs, fmt.Errorf("tenant %s: %w", *t, err))
				if ctx.Err() != nil {
					return errors.Join(errs...)
				}
			}
		}
		if !p.HasNextPage {
			return errors.Join(errs...)
		}
		after = p.EndCursor
	}
}

func (r *Registry) relayTenant(ctx context.Context, pub Publisher, tenant string) error {
	os := Scope{Tenant: tenant, Kind: outboxKind}
	for {
		recs, p, err := ListAs[outboxRecord](ctx, r, os, outboxIndex, 100, "")
		if err != nil {
			return err
		}
		var sent []string
		var perr error
		for _, rec := range recs {
			if perr = r.publishRecord(ctx, pub, rec); perr != nil {
				break
			}
			sent = append(sent, rec.ID)
		}
		// What went out is cleared in one write, even when a later record failed.
		if err := r.clearOutbox(ctx, os, sent, pageSeqs(p)); err != nil {
			return err
		}
		if perr != nil || !p.HasNextPage {
			return perr
		}
	}
}

// pageSeqs maps the ids of a page to their sequence numbers, which its cursors hold.
func pageSeqs(p Page) map[string]int64 {
	seqs := make(map[string]int64, len(p.IDs))
	for i, id := range p.IDs {
		if next, err := decodeCursor(p.Cursors[i]); err == nil {
			seqs[id] = next - 1
		}
	}
	return seqs
}

func (r *Registry) publishRecord(ctx context.Context, pub Publisher, rec *outboxRecord) error {
	for i, raw := range rec.Events {
		var e storedEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("decode outbox record %s: %w", rec.ID, err)
		}
		if err := pub.Publish(ctx, e.Topic, rec.ID+"-"+strconv.Itoa(i), e.Data); err != nil {
			return fmt.Errorf("publish %s: %w", e.Topic, err)
		}
	}
	return nil
}

// clearOutbox deletes published records and takes them out of the pending index, in one transaction.
// seqs, the records' sequence numbers as listed, say which buckets to read along with them.
func (r *Registry) clearOutbox(ctx context.Context, os Scope, ids []string, seqs map[string]int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := r.exclusive(ctx, os.Tenant, func() error { return r.clearOutboxOnce(ctx, os, ids, seqs) })
	if err != nil {
		return fmt.Errorf("clear outbox of %s: %w", os.Tenant, err)
	}
	return nil
}

// clearWalk bounds how many buckets one clear reads to move the outbox's low-water mark over.
const clearWalk = 512

// clearOutboxOnce reads the head, the records and their buckets in one bulk read and writes them back in
// one transaction. The sequence numbers given only guide the read: what is written follows the records'
// own envelopes, and a bucket the read missed is fetched on its own.
func (r *Registry) clearOutboxOnce(ctx context.Context, os Scope, ids []string, seqs map[string]int64) error {
	snap := snapshot{}
	hk := os.headKey(outboxIndex)
	keys := []string{hk}
	seen := map[string]bool{}
	for _, id := range ids {
		keys = append(keys, os.entityKey(id))
		if seq, ok := seqs[id]; ok {
			if bk := os.bucketKey(outboxIndex, seq/BucketSize); !seen[bk] {
				seen[bk] = true
				keys = append(keys, bk)
			}
		}
	}
	if err := r.bulk(ctx, snap, keys); err != nil {
		return err
	}
	var h head
	hEtag, found, err := r.readJSON(ctx, snap, hk, &h)
	if err != nil || !found {
		return fmt.Errorf("outbox head of %s: %v", os.Tenant, err)
	}
	var ops []operation
	bySeq := map[string]map[int64]bool{} // bucket key -> sequence numbers to drop
	var missing []string                 // buckets to drop from that the first read did not guess
	lowest, last := int64(-1), int64(-1) // the first and last buckets dropped from
	for _, id := range ids {
		it := snap[os.entityKey(id)]
		if len(it.value) == 0 {
			continue // cleared already
		}
		var env envelope
		if err := json.Unmarshal(it.value, &env); err != nil {
			return err
		}
		seq := env.Indexes[outboxIndex]
		bk := os.bucketKey(outboxIndex, seq/BucketSize)
		if bySeq[bk] == nil {
			bySeq[bk] = map[int64]bool{}
			if _, ok := snap[bk]; !ok {
				missing = append(missing, bk)
			}
		}
		bySeq[bk][seq] = true
		if lowest < 0 || seq/BucketSize < lowest {
			lowest = seq / BucketSize
		}
		last = max(last, seq/BucketSize)
		h.Count--
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{
			Key: os.entityKey(id), Etag: &dapr.ETag{Value: it.etag},
		}})
	}
	if len(ops) == 0 {
		return nil
	}
	// Also read the buckets between the low-water mark and the last one dropped from that the first read
	// did not cover, so that the mark can move over them (usually none; an outbox from before the mark
	// existed has them all once, so at most clearWalk of them at a time).
	first := min(h.First/BucketSize, lowest)
	after := map[string]bool{} // buckets read after the head: any change to them since changes the head too
	for n := first; n <= last && len(missing) < clearWalk; n++ {
		if bk := os.bucketKey(outboxIndex, n); bySeq[bk] == nil {
			if _, ok := snap[bk]; !ok {
				missing = append(missing, bk)
			}
		}
	}
	if err := r.bulk(ctx, snap, missing); err != nil {
		return err
	}
	for _, bk := range missing {
		after[bk] = true
	}
	// Drop the members from their buckets, walking up from the low-water mark's bucket to move the mark to
	// the first member left. A bucket written here is as the transaction leaves it (its ETag is checked), and
	// one read after the head is as the head is (an add or removal since would fail the head's ETag check).
	// One read with the head may lack members added since, which come after every member it shows: a member
	// it shows is a safe mark, its looking empty is not.
	mark := int64(-1)
	for n := first; n <= last; n++ {
		bk := os.bucketKey(outboxIndex, n)
		it, read := snap[bk]
		var b []member
		if read && len(it.value) > 0 {
			if err := json.Unmarshal(it.value, &b); err != nil {
				return fmt.Errorf("decode %s: %w", bk, err)
			}
		}
		drop := bySeq[bk]
		if drop != nil {
			b = slices.DeleteFunc(b, func(m member) bool { return drop[m.Seq] })
			if len(b) == 0 {
				ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{
					Key: bk, Etag: &dapr.ETag{Value: it.etag},
				}})
			} else {
				raw, _ := json.Marshal(b)
				ops = append(ops, upsert(bk, raw, it.etag))
			}
		}
		switch {
		case mark >= 0:
		case len(b) > 0:
			mark = slices.MinFunc(b, func(x, y member) int { return cmp.Compare(x.Seq, y.Seq) }).Seq
		case drop == nil && !after[bk]:
			mark = n * BucketSize // not known to be empty
		}
	}
	if mark < 0 {
		mark = (last + 1) * BucketSize // every bucket up to the last one dropped from is empty now
	}
	h.First = max(h.First, min(mark, h.Next))
	raw, _ := json.Marshal(h)
	ops = append(ops, upsert(hk, raw, hEtag))
	return r.commit(ctx, ops)
}
