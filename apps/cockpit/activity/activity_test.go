package activity

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

func record(t *testing.T, id, tenant string, at time.Time, fields ...string) []byte {
	t.Helper()
	b, err := json.Marshal(audit.Record{ID: id, Tenant: tenant, Time: at, Fields: fields, Outcome: "success"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFeedKeepsTenantsApartAndNewestFirst(t *testing.T) {
	f := NewFeed(3)
	now := time.Now()
	for i := range 5 {
		f.Add(record(t, fmt.Sprint("a", i), "t1", now.Add(time.Duration(i)*time.Second), "registerApplication"))
	}
	f.Add(record(t, "b0", "t2", now, "registerRuntime"))
	f.Add(record(t, "h", "t1", now.Add(time.Hour), "heartbeat"))
	f.Add(record(t, "a4", "t1", now.Add(4*time.Second), "registerApplication")) // a redelivery
	if f.Add([]byte("not json")) {
		t.Error("garbage was taken for a record")
	}

	got := f.Recent(context.Background(), "t1", 10)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[a4 a3 a2]" {
		t.Errorf("t1's recent activity: %v", ids)
	}
	if r := f.Recent(context.Background(), "t2", 10); len(r) != 1 || r[0].ID != "b0" {
		t.Errorf("t2's: %+v", r)
	}
	if r := f.Recent(context.Background(), "t3", 10); len(r) != 0 {
		t.Errorf("a tenant with nothing sees %+v", r)
	}
}

// memStore is a state store in memory that can be told to fail.
type memStore struct {
	data map[string][]byte
	fail error
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	return m.data[key], nil
}

func (m *memStore) Save(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if m.fail != nil {
		return m.fail
	}
	if ttl <= 0 {
		return fmt.Errorf("no ttl")
	}
	m.data[key] = value
	return nil
}

func ids(rs []audit.Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return fmt.Sprint(out)
}

// A Cockpit that restarts, or a second replica, shows what the first stored, joined to what it heard.
func TestFeedSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	store := &memStore{data: map[string][]byte{}}
	now := time.Now()
	first := NewFeed(3)
	first.Store = store
	first.Add(record(t, "a1", "t1", now, "registerApplication"))
	first.Add(record(t, "a2", "t1", now.Add(time.Second), "registerApplication"))
	first.Add(record(t, "b1", "t2", now, "registerRuntime"))
	if err := first.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.data) != 2 {
		t.Fatalf("stored %d windows, want one per tenant", len(store.data))
	}

	second := NewFeed(3)
	second.Store = store
	second.Add(record(t, "a3", "t1", now.Add(2*time.Second), "registerApplication"))
	second.Add(record(t, "a2", "t1", now.Add(time.Second), "registerApplication")) // heard by both
	if got := ids(second.Recent(ctx, "t1", 10)); got != "[a3 a2 a1]" {
		t.Errorf("after a restart t1 shows %s", got)
	}
	if got := ids(second.Recent(ctx, "t2", 10)); got != "[b1]" {
		t.Errorf("after a restart t2 shows %s", got)
	}
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	third := NewFeed(3)
	third.Store = store
	if got := ids(third.Recent(ctx, "t1", 10)); got != "[a3 a2 a1]" {
		t.Errorf("the joined window was not stored: %s", got)
	}
}

// When the store cannot be read, a page shows what is in memory, nothing stored is overwritten, and the
// next page and flush try again.
func TestFeedWithAStoreDown(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	store := &memStore{data: map[string][]byte{}}
	old := NewFeed(5)
	old.Store = store
	old.Add(record(t, "old", "t1", now, "registerApplication"))
	if err := old.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	f := NewFeed(5)
	f.Store = store
	f.Add(record(t, "new", "t1", now.Add(time.Second), "registerApplication"))
	store.fail = fmt.Errorf("state store unavailable")
	if got := ids(f.Recent(ctx, "t1", 10)); got != "[new]" {
		t.Errorf("with the store down t1 shows %s", got)
	}
	if err := f.Flush(ctx); err == nil {
		t.Error("a flush with the store down reported no error")
	}
	store.fail = nil
	if got := ids(f.Recent(ctx, "t1", 10)); got != "[new old]" {
		t.Errorf("once the store is back t1 shows %s", got)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var stored []audit.Record
	if err := json.Unmarshal(store.data["activity/t1"], &stored); err != nil || ids(stored) != "[old new]" {
		t.Errorf("stored %s (%v)", ids(stored), err)
	}
}
