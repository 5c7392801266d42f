package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// snapshot holds values read ahead in bulk for one write attempt, so that the write reads the index heads,
// buckets and unique keys it touches in two round trips instead of one per key.
type snapshot map[string]item

type item struct {
	value []byte
	etag  string
}

// readJSON reads key from snap when it was prefetched, else from the store.
func (r *Registry) readJSON(ctx context.Context, snap snapshot, key string, out any) (etag string, found bool, err error) {
	it, ok := snap[key]
	if !ok {
		return r.getJSON(ctx, key, out)
	}
	if len(it.value) == 0 {
		return "", false, nil
	}
	if err := json.Unmarshal(it.value, out); err != nil {
		return "", false, fmt.Errorf("decode %s: %w", key, err)
	}
	return it.etag, true, nil
}

func (r *Registry) bulk(ctx context.Context, snap snapshot, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	items, err := r.api.GetBulkState(ctx, r.store, keys, nil, 8)
	if err != nil {
		return fmt.Errorf("read %d keys: %w", len(keys), err)
	}
	for _, it := range items {
		if it.Error != "" {
			return fmt.Errorf("read %s: %s", it.Key, it.Error)
		}
		snap[it.Key] = item{value: it.Value, etag: it.Etag}
	}
	for _, k := range keys {
		if _, ok := snap[k]; !ok {
			snap[k] = item{}
		}
	}
	return nil
}

// prefetch reads what a write will touch into snap, leaving out what snap holds already: first the heads
// of the indexes it joins or leaves and the unique keys it claims or releases, then the buckets those heads
// point to. The bucket a join appends to is guessed from the head as last seen (see bucketHint) and read
// with the heads, so that a write usually reads everything in one round trip; a wrong guess costs the
// second one, never correctness: every key read is written back under its ETag.
func (r *Registry) prefetch(ctx context.Context, snap snapshot, s Scope, had map[string]int64, want map[string]bool, hadUnique, wantUnique []string, outbox bool) error {
	var keys []string
	var adds []Scope
	var addNames []string
	for ix := range want {
		if _, ok := had[ix]; !ok {
			keys = append(keys, s.headKey(ix))
			adds, addNames = append(adds, s), append(addNames, ix)
		}
	}
	var buckets []string
	for ix, seq := range had {
		if !want[ix] {
			keys = append(keys, s.headKey(ix))
			buckets = append(buckets, s.bucketKey(ix, seq/BucketSize))
		}
	}
	// Only the keys claimed or released: one held before and after is not touched (see uniqueChanges).
	for _, k := range wantUnique {
		if !slices.Contains(hadUnique, k) {
			keys = append(keys, s.uniqueKey(k))
		}
	}
	for _, k := range hadUnique {
		if !slices.Contains(wantUnique, k) {
			keys = append(keys, s.uniqueKey(k))
		}
	}
	if outbox {
		os := Scope{Tenant: s.Tenant, Kind: outboxKind}
		keys = append(keys, os.headKey(outboxIndex))
		adds, addNames = append(adds, os), append(addNames, outboxIndex)
	}
	for i, sc := range adds {
		if bk, ok := r.bucketHint(sc, addNames[i]); ok {
			keys = append(keys, bk)
		}
	}
	keys = append(keys, buckets...)
	if err := r.bulk(ctx, snap, unread(snap, keys)); err != nil {
		return err
	}
	buckets = buckets[:0]
	for i, sc := range adds {
		var h head
		if _, _, err := r.readJSON(ctx, snap, sc.headKey(addNames[i]), &h); err != nil {
			return err
		}
		r.noteHead(sc, addNames[i], h)
		buckets = append(buckets, sc.bucketKey(addNames[i], h.Next/BucketSize))
	}
	return r.bulk(ctx, snap, unread(snap, buckets))
}

// unread returns the keys snap does not hold, each once.
func unread(snap snapshot, keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := snap[k]; !ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Heads whose next bucket is guessed: the outbox's, which every write with events joins, and each kind's
// IndexAll, which every create joins. Both are few (per tenant, per kind), so remembering them stays small;
// other indexes (by label value, by parent) are many and joined seldom.
func hinted(s Scope, index string) bool {
	return index == IndexAll || (s.Kind == outboxKind && index == outboxIndex)
}

// bucketHint returns the bucket the next member of the index is likely to go to: the one the head pointed
// to when this process last read it.
func (r *Registry) bucketHint(s Scope, index string) (string, bool) {
	if !hinted(s, index) {
		return "", false
	}
	next, ok := r.nextHints.Load(s.headKey(index))
	if !ok {
		return "", false
	}
	return s.bucketKey(index, next.(int64)/BucketSize), true
}

func (r *Registry) noteHead(s Scope, index string, h head) {
	if hinted(s, index) {
		r.nextHints.Store(s.headKey(index), h.Next)
	}
}
