// Package sessiontest keeps sessions in memory, for the Cockpit's tests.
package sessiontest

import (
	"context"
	"sync"
	"time"
)

// Store is a session.Store in memory; TTL records what each key was saved with.
type Store struct {
	mu   sync.Mutex
	Data map[string][]byte
	TTL  map[string]time.Duration
}

// New returns an empty store.
func New() *Store { return &Store{Data: map[string][]byte{}, TTL: map[string]time.Duration{}} }

func (m *Store) Get(_ context.Context, k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Data[k], nil
}

func (m *Store) Save(_ context.Context, k string, v []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Data[k], m.TTL[k] = v, ttl
	return nil
}

func (m *Store) Delete(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.Data, k)
	return nil
}
