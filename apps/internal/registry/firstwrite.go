package registry

import (
	"context"
	"slices"
	"sync"
)

// FirstWrite holds events that must go out with the first write made under a context: the audit record
// of a mutation rides in the same transaction as the change it records, so that a change without its
// record cannot happen. Later writes under the same context carry nothing more.
type FirstWrite struct {
	mu     sync.Mutex
	events []Event
	state  int // free, claimed by a write in flight, or written
}

const (
	firstWriteFree = iota
	firstWriteClaimed
	firstWriteDone
)

type firstWriteKey struct{}

// WithFirstWrite returns ctx whose first Mutate also writes events.
func WithFirstWrite(ctx context.Context, events ...Event) (context.Context, *FirstWrite) {
	f := &FirstWrite{events: events}
	return context.WithValue(ctx, firstWriteKey{}, f), f
}

// Written reports whether the events were written with a change.
func (f *FirstWrite) Written() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state == firstWriteDone
}

// claim hands the events to a write about to commit; settle tells how it went. A write that fails gives
// them back for the next one.
func claimFirstWrite(ctx context.Context) (events []Event, settle func(written bool)) {
	f, _ := ctx.Value(firstWriteKey{}).(*FirstWrite)
	if f == nil {
		return nil, func(bool) {}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != firstWriteFree {
		return nil, func(bool) {}
	}
	f.state = firstWriteClaimed
	return slices.Clone(f.events), func(written bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if written {
			f.state = firstWriteDone
		} else {
			f.state = firstWriteFree
		}
	}
}
