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

// ErrNoItemUpdated is what daprd returns from state.postgresql for a first-write insert of a key that exists:
// no ETag error, a plain one (see InsertConflict).
var ErrNoItemUpdated = errors.New("error while executing state transaction: no item was updated")

type entry struct {
	value []byte
	etag  int
}

// Store is an in-memory state store. The zero value is not usable; call New.
type Store struct {
	mu   sync.Mutex
	data map[string]entry
	seq  int
	// nonAtomic makes transactions behave like state.redis: each operation is checked and applied on its
	// own, a failed check does not undo the others.
	nonAtomic bool
	// Txns counts committed transactions, for tests that check how much work an operation did.
	Txns int
	// InsertConflict, when set, is returned instead of ErrETagMismatch when a first-write insert in a
	// transaction finds its key taken, as state.postgresql answers with ErrNoItemUpdated.
	InsertConflict error
}

// New returns an empty store.
func New() *Store { return &Store{data: map[string]entry{}} }

// NewNonAtomic returns an empty store whose transactions are not all-or-nothing, like state.redis.
func NewNonAtomic() *Store { return &Store{data: map[string]entry{}, nonAtomic: true} }

// SaveState implements registry.StateAPI for single writes (first-write or last-write, no ETag).
func (s *Store) SaveState(_ context.Context, _, key string, data []byte, _ map[string]string, so ...dapr.StateOption) error {
	opts := &dapr.StateOptions{}
	for _, o := range so {
		o(opts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.data[key]; exists && opts.Concurrency == dapr.StateConcurrencyFirstWrite {
		return ErrETagMismatch
	}
	s.seq++
	s.data[key] = entry{value: append([]byte(nil), data...), etag: s.seq}
	return nil
}

// DeleteState implements registry.StateAPI.
func (s *Store) DeleteState(_ context.Context, _, key string, _ map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

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
	check := func(op *dapr.StateOperation) error {
		e, exists := s.data[op.Item.Key]
		switch {
		case op.Item.Etag != nil:
			if !exists || strconv.Itoa(e.etag) != op.Item.Etag.Value {
				return ErrETagMismatch
			}
		case s.nonAtomic:
			// Like state.redis inside a transaction: no ETag means no check.
		case op.Item.Options != nil && op.Item.Options.Concurrency == dapr.StateConcurrencyFirstWrite && op.Type == dapr.StateOperationTypeUpsert:
			if exists && s.InsertConflict != nil {
				return s.InsertConflict
			}
			if exists {
				return ErrETagMismatch
			}
		}
		return nil
	}
	var failed error
	for _, op := range ops {
		if err := check(op); err != nil {
			if !s.nonAtomic {
				return err
			}
			failed = err
		}
	}
	for _, op := range ops {
		if s.nonAtomic && check(op) != nil {
			continue
		}
		switch op.Type {
		case dapr.StateOperationTypeUpsert:
			s.seq++
			s.data[op.Item.Key] = entry{value: append([]byte(nil), op.Item.Value...), etag: s.seq}
		case dapr.StateOperationTypeDelete:
			delete(s.data, op.Item.Key)
		}
	}
	s.Txns++
	return failed
}

// Len returns the number of keys stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// Keys returns the keys stored, for tests that check what reaches the store.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	return keys
}
