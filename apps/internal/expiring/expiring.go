// Package expiring is a bounded in-memory map whose entries lapse at a moment of their own. It caches the
// outcome of checks that stay true until a known time — a token verified until it expires — so that a
// request does not pay for the same check again, and never past that time.
package expiring

import (
	"sync"
	"time"
)

// Map holds at most a fixed number of entries; each is gone once its time has come. It is safe for
// concurrent use.
type Map[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	m   map[K]entry[V]
}

type entry[V any] struct {
	v     V
	until time.Time
}

// New returns a map of at most size entries (at least 1).
func New[K comparable, V any](size int) *Map[K, V] {
	return &Map[K, V]{max: max(1, size), m: map[K]entry[V]{}}
}

// Get returns the value under k if it is there and now is before its time.
func (c *Map[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(e.until) {
		delete(c.m, k)
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v under k until until. When the map is full it first drops lapsed entries and then, if it is
// still full, a quarter of the rest, whichever they are: a cache miss costs one check, while an unbounded
// map would let a caller with many credentials grow it without end.
func (c *Map[K, V]) Put(k K, v V, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max-c.max/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = entry[V]{v: v, until: until}
}

// Delete drops k.
func (c *Map[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// Len returns how many entries the map holds, lapsed ones included until they are dropped.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
