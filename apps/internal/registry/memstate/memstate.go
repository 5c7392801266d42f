// Package memstate is an in-memory stand-in for a Dapr state store with the semantics the registry relies
// on: ETags, first-write inserts and all-or-nothing transactions. It serves unit tests only; the end-to-end
// suite runs the registry against real daprd sidecars.
package memstate

import (
	"context"
	"errors"
	"strconv"
	"sync"

	dapr "github.com/dapr/go-sdk/client"
)

// ErrETagMismatch mimics the message daprd returns for a failed ETag check.
var ErrETagMismatch = errors.New("error while executing state transaction: possible etag mismatch")

type entry struct {
	value []byte
	etag  int
}

// Store is an in-memory state store. The zero value is not usable; call New.
type Store struct {
	mu   sync.Mutex
	data map[string]entry
	seq  int
	// Txns counts committed transactions, for tests that check how much work an operation did.
	Txns int
}

// New returns an empty store.
func New() *Store { return &Store{data: map[string]entry{}} }

// GetState implements registry.StateAPI.
func (s *Store) GetState(_ context.Context, _, key string, _ map[string]string) (*dapr.StateItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[key]
	if !ok {
		return &dapr.StateItem{Key: key}, nil
	}
	return &dapr.StateItem{Key: key, Value: append([]byte(nil), e.value...), Etag: strconv.Itoa(e.etag)}, nil
}

// GetBulkState implements registry.StateAPI.
func (s *Store) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, _ int32) ([]*dapr.BulkStateItem, error) {
	out := make([]*dapr.BulkStateItem, 0, len(keys))
	for _, k := range keys {
		it, _ := s.GetState(ctx, store, k, meta)
		out = append(out, &dapr.BulkStateItem{Key: k, Value: it.Value, Etag: it.Etag})
	}
	return out, nil
}

// ExecuteStateTransaction implements registry.StateAPI: every ETag is checked before anything is written.
func (s *Store) ExecuteStateTransaction(_ context.Context, _ string, _ map[string]string, ops []*dapr.StateOperation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		e, exists := s.data[op.Item.Key]
		switch {
		case op.Item.Etag != nil:
			if !exists || strconv.Itoa(e.etag) != op.Item.Etag.Value {
				return ErrETagMismatch
			}
		case op.Item.Options != nil && op.Item.Options.Concurrency == dapr.StateConcurrencyFirstWrite && op.Type == dapr.StateOperationTypeUpsert:
			if exists {
				return ErrETagMismatch
			}
		}
	}
	for _, op := range ops {
		switch op.Type {
		case dapr.StateOperationTypeUpsert:
			s.seq++
			s.data[op.Item.Key] = entry{value: append([]byte(nil), op.Item.Value...), etag: s.seq}
		case dapr.StateOperationTypeDelete:
			delete(s.data, op.Item.Key)
		}
	}
	s.Txns++
	return nil
}

// Len returns the number of keys stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}
