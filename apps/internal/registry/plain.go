package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	dapr "github.com/dapr/go-sdk/client"
)

// Plain values are for data that is overwritten often and needs none of what Mutate gives an entity: a
// runtime's last heartbeat, say, which every runtime rewrites every few seconds. A value is one key
// written with one SaveState, last writer wins: no envelope, no index, no unique key, no outbox (so no
// events and no audit record ride on it), and no tenant write queue, so writing one never waits behind the
// tenant's other writes nor makes them wait.
//
// Values are still per tenant and kind, under keys of their own:
//
//	t/<tenant>/<kind>/v/<id>              one plain value, as JSON
//
// apart from the entities (…/e/<id>), so that a plain write can never overwrite an entity's envelope and
// leave index members or unique keys nothing points back to. Nothing lists values: a caller finds them by
// the ids it already knows (from an index of entities) with GetValues.

func (s Scope) valueKey(id string) string {
	return storeKey("t/" + s.Tenant + "/" + s.Kind + "/v/" + id)
}

// PutValue stores v as the plain value id of scope s, replacing whatever was there (last writer wins).
func (r *Registry) PutValue(ctx context.Context, s Scope, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", s.Kind, id, err)
	}
	if err := r.api.SaveState(ctx, r.store, s.valueKey(id), raw, nil, dapr.WithConcurrency(dapr.StateConcurrencyLastWrite)); err != nil {
		return fmt.Errorf("put %s %s: %w", s.Kind, id, err)
	}
	return nil
}

// PutValues stores the plain values of scope s in values (by id) in one transaction, each replacing what
// was there (last writer wins): for values that arrive together, such as a batch of heartbeats.
func (r *Registry) PutValues(ctx context.Context, s Scope, values map[string]any) error {
	if len(values) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(values))
	ops := make([]*dapr.StateOperation, 0, len(ids))
	for _, id := range ids {
		raw, err := json.Marshal(values[id])
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", s.Kind, id, err)
		}
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{
			Key: s.valueKey(id), Value: raw, Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyLastWrite}}})
	}
	if err := r.api.ExecuteStateTransaction(ctx, r.store, nil, ops); err != nil {
		return fmt.Errorf("put %d %s values: %w", len(ops), s.Kind, err)
	}
	return nil
}

// GetValue reads the plain value id of scope s into out, or returns ErrNotFound.
func (r *Registry) GetValue(ctx context.Context, s Scope, id string, out any) error {
	_, found, err := r.getJSON(ctx, s.valueKey(id), out)
	if err != nil {
		return fmt.Errorf("get %s %s: %w", s.Kind, id, err)
	}
	if !found {
		return fmt.Errorf("get %s %s: %w", s.Kind, id, ErrNotFound)
	}
	return nil
}

// GetValues reads the plain values of ids in one bulk read and calls decode with each that exists, in the
// order of ids.
func (r *Registry) GetValues(ctx context.Context, s Scope, ids []string, decode func(id string, data []byte) error) error {
	return r.bulkGet(ctx, s, ids, s.valueKey, func(id, _ string, raw []byte) error { return decode(id, raw) })
}
