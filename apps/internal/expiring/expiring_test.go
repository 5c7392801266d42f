package expiring_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/expiring"
)

func TestEntriesLapseAtTheirTime(t *testing.T) {
	m := expiring.New[string, int](10)
	now := time.Unix(1000, 0)
	m.Put("a", 1, now.Add(time.Second), now)
	if v, ok := m.Get("a", now.Add(999*time.Millisecond)); !ok || v != 1 {
		t.Fatalf("before its time: %d %v", v, ok)
	}
	if _, ok := m.Get("a", now.Add(time.Second)); ok {
		t.Fatal("found at its time")
	}
	if m.Len() != 0 {
		t.Fatalf("a lapsed entry stays after Get: %d", m.Len())
	}
	m.Put("b", 2, now, now) // lapsed already: not kept
	if m.Len() != 0 {
		t.Fatal("kept an entry whose time had come")
	}
	m.Put("c", 3, now.Add(time.Hour), now)
	m.Delete("c")
	if _, ok := m.Get("c", now); ok {
		t.Fatal("found after Delete")
	}
}

func TestBounded(t *testing.T) {
	m := expiring.New[string, int](8)
	now := time.Unix(1000, 0)
	for i := range 4 {
		m.Put(fmt.Sprint("old", i), i, now.Add(time.Second), now)
	}
	later := now.Add(2 * time.Second)
	for i := range 100 {
		m.Put(fmt.Sprint("k", i), i, later.Add(time.Hour), later)
		if m.Len() > 8 {
			t.Fatalf("%d entries, want at most 8", m.Len())
		}
	}
	if v, ok := m.Get("k99", later); !ok || v != 99 {
		t.Fatalf("the newest entry is gone: %d %v", v, ok)
	}
	for i := range 4 {
		if _, ok := m.Get(fmt.Sprint("old", i), later); ok {
			t.Fatal("a lapsed entry survived")
		}
	}
}
