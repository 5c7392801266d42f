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

// prefetch reads what a write will touch: first the heads of the indexes it joins or leaves and the unique
// keys it claims or releases, then the buckets those heads point to.
func (r *Registry) prefetch(ctx context.Context, s Scope, had map[string]int64, want map[string]bool, hadUnique, wantUnique []string, outbox bool) (snapshot, error) {
	snap := snapshot{}
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
	if err := r.bulk(ctx, snap, keys); err != nil {
		return nil, err
	}
	for i, sc := range adds {
		var h head
		if _, _, err := r.readJSON(ctx, snap, sc.headKey(addNames[i]), &h); err != nil {
			return nil, err
		}
		buckets = append(buckets, sc.bucketKey(addNames[i], h.Next/BucketSize))
	}
	if err := r.bulk(ctx, snap, buckets); err != nil {
		return nil, err
	}
	return snap, nil
}
