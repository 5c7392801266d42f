package configuration_test

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	t1, t2 := asUser("t1"), asUser("t2")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	c := mustCreate(t, t1, e.svc, forRuntime("rt-1", withToken("log", "http://a", str("secret"))))
	mustCreate(t, t1, e.svc, forLabels(map[string]string{"env": "prod"}, httpBinding("metrics", "http://m")))
	if _, err := e.svc.ReportStatus(asRuntime("t1", "rt-1"), "rt-1", 1, "APPLIED", ""); err != nil {
		t.Fatal(err)
	}

	_, err := e.svc.Get(t2, c.ID)
	wantCode(t, err, apperr.CodeNotFound)
	for name, op := range map[string]func() error{
		"update": func() error {
			_, err := e.svc.Update(t2, c.ID, forRuntime("rt-1", httpBinding("log", "http://evil")))
			return err
		},
		"delete":   func() error { _, err := e.svc.Delete(t2, c.ID); return err },
		"rollback": func() error { _, err := e.svc.Rollback(t2, c.ID, 1); return err },
		// The Director does not know rt-1 in t2.
		"effective": func() error { _, err := e.svc.Effective(t2, "rt-1"); return err },
	} {
		if err := op(); apperr.CodeOf(err) != apperr.CodeNotFound {
			t.Errorf("%s as t2: %v, want NOT_FOUND", name, err)
		}
	}
	if p, err := e.svc.List(t2, 10, ""); err != nil || p.TotalCount != 0 {
		t.Errorf("t2 lists %+v, %v", p, err)
	}
	if p, err := e.svc.Revisions(t2, c.ID, 10, ""); err != nil || p.TotalCount != 0 {
		t.Errorf("t2 sees revisions %+v, %v", p, err)
	}
	if st, err := e.svc.Status(t2, "rt-1"); err != nil || st != nil {
		t.Errorf("t2 sees status %+v, %v", st, err)
	}

	// t2 may have a runtime with the same id and its own configuration for it, untouched by t1's.
	e.director.set("t2", "rt-1", map[string]any{"env": "prod"})
	mustCreate(t, t2, e.svc, forRuntime("rt-1", httpBinding("log", "http://t2")))
	eff, err := e.svc.Effective(t2, "rt-1")
	if err != nil || len(eff.Bindings) != 1 || metadata(eff.Bindings[0].Binding, "url") != "http://t2" {
		t.Fatalf("t2 effective %+v, %v", eff, err)
	}
	if got, _ := e.svc.Get(t1, c.ID); got.Revision != 1 {
		t.Errorf("t1's configuration changed: %+v", got)
	}

	// No tenant at all is refused.
	_, err = e.svc.List(asUser(""), 10, "")
	wantCode(t, err, apperr.CodeUnauthenticated)
}

func TestStatusReports(t *testing.T) {
	e := newEnv(t)
	rt := asRuntime("t1", "rt-1")
	if st, err := e.svc.Status(rt, "rt-1"); err != nil || st != nil {
		t.Fatalf("before any report: %+v, %v", st, err)
	}
	if _, err := e.svc.ReportStatus(rt, "rt-1", 3, "FAILED", "component log: connection refused"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReportStatus(rt, "rt-1", 4, "APPLIED", ""); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.Status(asUser("t1"), "rt-1")
	if err != nil || st.Revision != 4 || st.Status != "APPLIED" || st.Reason != "" || st.ReportedBy != "rt-1" {
		t.Fatalf("last report: %+v, %v", st, err)
	}
	for _, tt := range []struct {
		name string
		call func() error
		code apperr.Code
	}{
		{"unknown status", func() error { _, err := e.svc.ReportStatus(rt, "rt-1", 1, "DONE", ""); return err }, apperr.CodeInvalidInput},
		{"negative revision", func() error { _, err := e.svc.ReportStatus(rt, "rt-1", -1, "APPLIED", ""); return err }, apperr.CodeInvalidInput},
		{"for another runtime", func() error { _, err := e.svc.ReportStatus(rt, "rt-2", 1, "APPLIED", ""); return err }, apperr.CodeForbidden},
		{"reading another runtime's", func() error { _, err := e.svc.Status(rt, "rt-2"); return err }, apperr.CodeForbidden},
	} {
		wantCode(t, tt.call(), tt.code)
	}
}
