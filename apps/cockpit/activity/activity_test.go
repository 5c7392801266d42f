package activity

import (
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

	got := f.Recent("t1", 10)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[a4 a3 a2]" {
		t.Errorf("t1's recent activity: %v", ids)
	}
	if r := f.Recent("t2", 10); len(r) != 1 || r[0].ID != "b0" {
		t.Errorf("t2's: %+v", r)
	}
	if r := f.Recent("t3", 10); len(r) != 0 {
		t.Errorf("a tenant with nothing sees %+v", r)
	}
}
