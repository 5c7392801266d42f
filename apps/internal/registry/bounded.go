package registry

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// A state store of type state.sqlite is one database file with one writer at a time, and dapr's component
// opens a new connection for every operation that finds none idle, without a limit. Under a fleet's load
// (1,000 agents) the Director's sidecar held 9,800 connections to registry.db and 1.6 GB of memory: each
// waiting writer took a connection of its own and slept in sqlite's busy handler (1, 2, 5 … 100 ms at a
// time) while the others did the same. Waiting here instead costs a goroutine; sqlite then sees one writer
// of this process at a time, which never sleeps on the lock, and a bounded number of readers (which WAL
// lets run beside it). Other stores pool their connections themselves and are not bounded.
//
// One writer at a time would make a burst of writes wait in line: a configuration change wakes 1,000 long
// polls whose runtime views are written at once, and their reports follow. So the transactions that queue
// while one is committed go to the store together, as one transaction (a group commit): sqlite commits
// them in the time of one. When that combined transaction fails, each is tried again on its own, so every
// caller gets the outcome its own transaction would have had (an ETag conflict is its own, never another's).
// Transactions that touch a common key never share a commit, so none sees another's write of that key
// inside one transaction, whatever order the store applies the operations in.
//
// Reads queue the same way behind the read slots, and the reads that queued meanwhile go to the store as
// one bulk read (state.sqlite answers it with one query): the 1,000 woken long polls each read their
// runtime's view, and each of their reports reads it again. A read is a read of each key at the moment
// the store gets to it, alone or in a bulk read alike, so grouping changes no caller's outcome.
const (
	sqliteWriters = 1
	sqliteReaders = 8
	// groupOps bounds the operations of one combined transaction.
	groupOps = 128
	// groupKeys bounds the keys of one combined read.
	groupKeys = 256
	// groupTimeout bounds a combined transaction, which no single caller's context may cancel.
	groupTimeout = 15 * time.Second
)

// WithBoundedState bounds the state operations of this process in flight at once: at most writers
// transactions, saves and deletes, and at most readers reads. OptionsFor applies it to state.sqlite.
func WithBoundedState(writers, readers int) Option {
	return func(r *Registry) {
		r.api = &boundedState{api: r.api, writes: make(chan struct{}, writers), reads: make(chan struct{}, readers)}
	}
}

// boundedState is a StateAPI that waits for a free slot before each call, and commits the transactions
// that queued meanwhile together.
type boundedState struct {
	api           StateAPI
	writes, reads chan struct{}

	mu      sync.Mutex
	queued  []*queuedTx
	reading []*queuedRead
}

// queuedRead is a read waiting for a read slot; done (buffered) receives its outcome.
type queuedRead struct {
	ctx         context.Context
	store       string
	keys        []string
	parallelism int32
	done        chan readResult
	taken       bool // out of the queue: read, or withdrawn (guarded by boundedState.mu)
}

type readResult struct {
	items []*dapr.BulkStateItem
	err   error
}

// queuedTx is a transaction waiting for a write slot; done receives its outcome.
type queuedTx struct {
	ctx   context.Context
	store string
	meta  map[string]string
	ops   []*dapr.StateOperation
	done  chan error
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
	if len(meta) > 0 {
		release, err := acquire(ctx, b.reads)
		if err != nil {
			return nil, err
		}
		defer release()
		return b.api.GetState(ctx, store, key, meta)
	}
	items, err := b.read(ctx, store, []string{key}, meta, 1)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.Key != key {
			continue
		}
		if it.Error != "" {
			return nil, fmt.Errorf("read %s: %s", key, it.Error)
		}
		return &dapr.StateItem{Key: key, Value: it.Value, Etag: it.Etag, Metadata: it.Metadata}, nil
	}
	return &dapr.StateItem{Key: key}, nil
}

func (b *boundedState) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error) {
	return b.read(ctx, store, keys, meta, parallelism)
}

// read queues the read; whoever gets a read slot reads what queued meanwhile in one bulk read (see
// readQueued), so a caller's read may be made by another caller's goroutine. Reads with metadata go
// alone: it may change what the store returns.
func (b *boundedState) read(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error) {
	if len(meta) > 0 {
		release, err := acquire(ctx, b.reads)
		if err != nil {
			return nil, err
		}
		defer release()
		return b.api.GetBulkState(ctx, store, keys, meta, parallelism)
	}
	rd := &queuedRead{ctx: ctx, store: store, keys: keys, parallelism: parallelism, done: make(chan readResult, 1)}
	b.mu.Lock()
	b.reading = append(b.reading, rd)
	b.mu.Unlock()
	select {
	case res := <-rd.done:
		return res.items, res.err
	case b.reads <- struct{}{}:
		// Read what queued, in groups from the front, until this read has gone into one (this goroutine's
		// or another slot holder's); then the slot is free for others and this read only waits for its
		// answer. Holding on to a slot while the answer is on its way would keep a waiter spinning.
		for b.isQueued(rd) {
			b.readQueued()
		}
		<-b.reads
	case <-ctx.Done():
		b.withdrawRead(rd)
		return nil, ctx.Err()
	}
	select {
	case res := <-rd.done:
		return res.items, res.err
	case <-ctx.Done():
		// The bulk read it went into answers on done all the same, which does not block.
		return nil, ctx.Err()
	}
}

// readAlone makes one queued read by itself, under its caller's context.
func (b *boundedState) readAlone(rd *queuedRead) {
	items, err := b.api.GetBulkState(rd.ctx, rd.store, rd.keys, nil, rd.parallelism)
	rd.done <- readResult{items, err}
}

func (b *boundedState) isQueued(rd *queuedRead) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !rd.taken
}

func (b *boundedState) withdrawRead(rd *queuedRead) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !rd.taken {
		rd.taken = true
		b.reading = slices.DeleteFunc(b.reading, func(q *queuedRead) bool { return q == rd })
	}
}

// readQueued makes the reads queued when it starts, the caller holding a read slot: those of one store, up
// to groupKeys keys, in one bulk read. The rest stay queued for the next holder of a slot, so that the
// slots keep reading in parallel.
func (b *boundedState) readQueued() {
	b.mu.Lock()
	var group []*queuedRead
	n := 0
	b.reading = slices.DeleteFunc(b.reading, func(rd *queuedRead) bool {
		if len(group) > 0 && (rd.store != group[0].store || n+len(rd.keys) > groupKeys) {
			return false
		}
		group = append(group, rd)
		n += len(rd.keys)
		rd.taken = true
		return true
	})
	b.mu.Unlock()
	switch len(group) {
	case 0:
		return
	case 1:
		b.readAlone(group[0])
		return
	}
	var keys []string
	seen := make(map[string]bool, n)
	parallelism := int32(1)
	for _, rd := range group {
		parallelism = max(parallelism, rd.parallelism)
		for _, k := range rd.keys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	items, err := b.api.GetBulkState(ctx, group[0].store, keys, nil, parallelism)
	if err != nil {
		// Each read is made again on its own, so that its outcome is its own.
		for _, rd := range group {
			b.readAlone(rd)
		}
		return
	}
	byKey := make(map[string]*dapr.BulkStateItem, len(items))
	for _, it := range items {
		byKey[it.Key] = it
	}
	for _, rd := range group {
		out := make([]*dapr.BulkStateItem, 0, len(rd.keys))
		for _, k := range rd.keys {
			if it, ok := byKey[k]; ok {
				c := *it // each caller its own item; the value's bytes are only read
				out = append(out, &c)
			}
		}
		rd.done <- readResult{items: out}
	}
}

// ExecuteStateTransaction queues the transaction; whoever gets the write slot commits everything queued
// (see commitQueued), so a caller's transaction may be committed by another caller's goroutine.
func (b *boundedState) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	tx := &queuedTx{ctx: ctx, store: store, meta: meta, ops: ops, done: make(chan error, 1)}
	b.mu.Lock()
	b.queued = append(b.queued, tx)
	b.mu.Unlock()
	for {
		select {
		case err := <-tx.done:
			return err
		case b.writes <- struct{}{}:
			b.commitQueued()
			<-b.writes
			// This transaction was queued before the slot was taken, so that round committed it.
		case <-ctx.Done():
			if b.withdraw(tx) {
				return ctx.Err()
			}
			// Already taken into a commit: its outcome is this transaction's.
			return <-tx.done
		}
	}
}

// withdraw takes tx out of the queue, telling whether it was still there.
func (b *boundedState) withdraw(tx *queuedTx) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.queued, tx)
	if i < 0 {
		return false
	}
	b.queued = slices.Delete(b.queued, i, i+1)
	return true
}

// commitQueued commits what is queued when it starts, the caller holding the write slot: transactions for
// the same store and with no metadata together, up to groupOps operations each time, the others one by one.
// What queues meanwhile is left to the next holder of the slot, so no caller keeps committing for others.
func (b *boundedState) commitQueued() {
	b.mu.Lock()
	round := b.queued
	b.queued = nil
	b.mu.Unlock()
	for len(round) > 0 {
		group := []*queuedTx{round[0]}
		n := len(round[0].ops)
		keys := map[string]bool{}
		disjoint := func(tx *queuedTx) bool {
			return !slices.ContainsFunc(tx.ops, func(op *dapr.StateOperation) bool { return keys[op.Item.Key] })
		}
		addKeys := func(tx *queuedTx) {
			for _, op := range tx.ops {
				keys[op.Item.Key] = true
			}
		}
		addKeys(round[0])
		var rest []*queuedTx
		for _, tx := range round[1:] {
			if len(group[0].meta) == 0 && len(tx.meta) == 0 && tx.store == group[0].store &&
				n+len(tx.ops) <= groupOps && disjoint(tx) {
				group = append(group, tx)
				n += len(tx.ops)
				addKeys(tx)
			} else {
				rest = append(rest, tx)
			}
		}
		round = rest
		b.commit(group)
	}
}

func (b *boundedState) commit(group []*queuedTx) {
	if len(group) == 1 {
		tx := group[0]
		tx.done <- b.api.ExecuteStateTransaction(tx.ctx, tx.store, tx.meta, tx.ops)
		return
	}
	var ops []*dapr.StateOperation
	for _, tx := range group {
		ops = append(ops, tx.ops...)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	if b.api.ExecuteStateTransaction(ctx, group[0].store, nil, ops) == nil {
		for _, tx := range group {
			tx.done <- nil
		}
		return
	}
	for _, tx := range group {
		tx.done <- b.api.ExecuteStateTransaction(tx.ctx, tx.store, tx.meta, tx.ops)
	}
}

// SaveState goes in line with the transactions, as a transaction of one upsert: a fleet's heartbeats are
// such saves, a hundred a second at 1,000 runtimes, and commit together.
func (b *boundedState) SaveState(ctx context.Context, store, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error {
	opts := &dapr.StateOptions{}
	for _, o := range so {
		o(opts)
	}
	return b.ExecuteStateTransaction(ctx, store, nil, []*dapr.StateOperation{{
		Type: dapr.StateOperationTypeUpsert,
		Item: &dapr.SetStateItem{Key: key, Value: data, Metadata: meta, Options: opts},
	}})
}

func (b *boundedState) DeleteState(ctx context.Context, store, key string, meta map[string]string) error {
	release, err := acquire(ctx, b.writes)
	if err != nil {
		return err
	}
	defer release()
	return b.api.DeleteState(ctx, store, key, meta)
}
