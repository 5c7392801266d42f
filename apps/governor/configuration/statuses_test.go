package configuration_test

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// What needs attention is listed by the status of each runtime's last report, and a runtime moves between
// the lists as its agent reports; the write that records an automatic rollback keeps it where it is.
func TestStatusesListRuntimesByTheirLastReport(t *testing.T) {
	e := newEnv(t)
	user := asUser("t1")
	var rt3Config string
	for _, id := range []string{"rt-1", "rt-2", "rt-3"} {
		e.director.set("t1", id, nil)
		in := forRuntime(id, storageBinding("archive", "/tmp/good"))
		in.AutoRollback = id == "rt-3"
		if c := mustCreate(t, user, e.svc, in); id == "rt-3" {
			rt3Config = c.ID
		}
	}
	report := func(runtimeID, status string) {
		t.Helper()
		rt := asRuntime("t1", runtimeID)
		eff, err := e.svc.Effective(rt, runtimeID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ReportStatus(rt, runtimeID, eff.Revision, status, "reason"); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(status string) []string {
		t.Helper()
		p, err := e.svc.Statuses(user, status, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range p.Items {
			out = append(out, st.RuntimeID)
		}
		if p.TotalCount != len(out) {
			t.Fatalf("%s: total %d for %d listed", status, p.TotalCount, len(out))
		}
		return out
	}
	report("rt-1", "APPLIED")
	report("rt-2", "FAILED")
	report("rt-3", "APPLIED")
	if got := ids("FAILED"); len(got) != 1 || got[0] != "rt-2" {
		t.Fatalf("FAILED: %v", got)
	}
	report("rt-2", "APPLIED")
	report("rt-1", "FAILED")
	if got := ids("FAILED"); len(got) != 1 || got[0] != "rt-1" {
		t.Fatalf("FAILED after rt-2 recovered and rt-1 failed: %v", got)
	}
	if got := ids("APPLIED"); len(got) != 2 {
		t.Fatalf("APPLIED: %v", got)
	}

	// rt-3 fails a new revision and its configuration rolls back on its own; it stays listed as FAILED
	// until its agent reports the rollback revision applied.
	in := forRuntime("rt-3", storageBinding("archive", "/proc/bad"))
	in.AutoRollback = true
	if _, err := e.svc.Update(user, rt3Config, in); err != nil {
		t.Fatal(err)
	}
	report("rt-3", "FAILED")
	if st, _ := e.svc.State(user, "rt-3"); st.Status.LastAutoRollback == nil {
		t.Fatal("no automatic rollback recorded")
	}
	if got := ids("FAILED"); len(got) != 2 {
		t.Fatalf("FAILED after rt-3's automatic rollback: %v", got)
	}

	_, err := e.svc.Statuses(asRuntime("t1", "rt-1"), "FAILED", 50, "")
	wantCode(t, err, apperr.CodeForbidden)
	_, err = e.svc.Statuses(user, "BROKEN", 50, "")
	wantCode(t, err, apperr.CodeInvalidInput)
	if p, err := e.svc.Statuses(asUser("t2"), "FAILED", 50, ""); err != nil || len(p.Items) != 0 {
		t.Fatalf("another tenant sees %+v (%v)", p, err)
	}
}
