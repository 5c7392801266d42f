// Package notify wakes the long-polls of runtime agents when something that may change a runtime's
// configuration happens: a configuration write in this process, a configuration.changed event from any
// governor replica, or a change of a runtime's labels in the Director. A wake-up carries no data; the
// waiter recomputes what it waits for and goes back to sleep if nothing changed for it, so a spurious
// wake-up costs one recomputation and a missed one at most the rest of the poll.
package notify

import (
	"strings"
	"sync"
)

// TenantKey names what a configuration write in tenant wakes: every waiter of the tenant.
func TenantKey(tenant string) string { return "t/" + tenant }

// RuntimeKey names what a change of one runtime (its labels) wakes. Runtime ids are unique across
// tenants, and the Director's label events do not name the tenant.
func RuntimeKey(runtimeID string) string { return "r/" + runtimeID }

// TenantOf returns the tenant a TenantKey names.
func TenantOf(key string) (string, bool) { return strings.CutPrefix(key, "t/") }

// RuntimeOf returns the runtime a RuntimeKey names.
func RuntimeOf(key string) (string, bool) { return strings.CutPrefix(key, "r/") }

// Hub broadcasts wake-ups by key. The zero value is not usable; call NewHub.
type Hub struct {
	mu        sync.Mutex
	waiting   map[string]chan struct{}
	observers []func(key string)
	closed    chan struct{}
	once      sync.Once
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{waiting: map[string]chan struct{}{}, closed: make(chan struct{})}
}

// Changed returns a channel that is closed at the next Notify of key. Take it before reading the state
// you wait on, so that a change landing in between is not missed.
func (h *Hub) Changed(key string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiting[key]
	if !ok {
		ch = make(chan struct{})
		h.waiting[key] = ch
	}
	return ch
}

// OnNotify has f called with the key of every Notify, before the waiters wake: what caches the state
// they wait on drops it there, so that no waiter reads it stale after the wake-up. Set it before serving;
// f must be quick and must not call the hub.
func (h *Hub) OnNotify(f func(key string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.observers = append(h.observers, f)
}

// Notify wakes everyone waiting on key.
func (h *Hub) Notify(key string) {
	h.mu.Lock()
	observers := h.observers
	h.mu.Unlock()
	for _, f := range observers {
		f(key)
	}
	h.mu.Lock()
	ch, ok := h.waiting[key]
	delete(h.waiting, key)
	h.mu.Unlock()
	if ok {
		close(ch)
	}
}

// Close wakes every waiter for good: Closed's channel is closed. The app calls it when it shuts down,
// so that long-polls answer at once instead of holding the server's graceful shutdown.
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Closed returns a channel closed by Close.
func (h *Hub) Closed() <-chan struct{} { return h.closed }
