package registry

import (
	"context"

	dapr "github.com/dapr/go-sdk/client"
)

// A state store of type state.sqlite is one database file with one writer at a time, and dapr's component
// opens a new connection for every operation that finds none idle, without a limit. Under a fleet's load
// (1,000 agents) the Director's sidecar held 9,800 connections to registry.db and 1.6 GB of memory: each
// waiting writer took a connection of its own and slept in sqlite's busy handler (1, 2, 5 … 100 ms at a
// time) while the others did the same. Waiting here instead costs a goroutine; sqlite then sees one writer
// of this process at a time, which never sleeps on the lock, and a bounded number of readers (which WAL
// lets run beside it). Other stores pool their connections themselves and are not bounded.
const (
	sqliteWriters = 1
	sqliteReaders = 8
)

// WithBoundedState bounds the state operations of this process in flight at once: at most writers
// transactions, saves and deletes, and at most readers reads. OptionsFor applies it to state.sqlite.
func WithBoundedState(writers, readers int) Option {
	return func(r *Registry) {
		r.api = &boundedState{api: r.api, writes: make(chan struct{}, writers), reads: make(chan struct{}, readers)}
	}
}

// boundedState is a StateAPI that waits for a free slot before each call.
type boundedState struct {
	api           StateAPI
	writes, reads chan struct{}
}

func acquire(ctx context.Context, slots chan struct{}) (release func(), err error) {
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *boundedState) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	release, err := acquire(ctx, b.reads)
	if err != nil {
		return nil, err
	}
	defer release()
	return b.api.GetState(ctx, store, key, meta)
}

func (b *boundedState) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error) {
	release, err := acquire(ctx, b.reads)
	if err != nil {
		return nil, err
	}
	defer release()
	return b.api.GetBulkState(ctx, store, keys, meta, parallelism)
}

func (b *boundedState) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	release, err := acquire(ctx, b.writes)
	if err != nil {
		return err
	}
	defer release()
	return b.api.ExecuteStateTransaction(ctx, store, meta, ops)
}

func (b *boundedState) SaveState(ctx context.Context, store, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error {
	release, err := acquire(ctx, b.writes)
	if err != nil {
		return err
	}
	defer release()
	return b.api.SaveState(ctx, store, key, data, meta, so...)
}

func (b *boundedState) DeleteState(ctx context.Context, store, key string, meta map[string]string) error {
	release, err := acquire(ctx, b.writes)
	if err != nil {
		return err
	}
	defer release()
	return b.api.DeleteState(ctx, store, key, meta)
}
