package bundle_test

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// The tenant's instance auths are listed by condition, with the bundle and application of each, and move
// between the lists as they are answered.
func TestInstanceAuthsByCondition(t *testing.T) {
	e := newEnv(t, hookConfig)
	refuse, _ := hookServer(t, answer(200, `{"status":"FAILED","reason":"QuotaExceeded","message":"no seats left"}`))
	wait, _ := hookServer(t, answer(202, ""))
	refusing := e.addApp(t, &model.Webhook{ID: "w1", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: refuse.URL})
	waiting := e.addApp(t, &model.Webhook{ID: "w2", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: wait.URL})
	b1 := e.addBundle(t, refusing, model.BundleCreateInput{Name: "b1"})
	b2 := e.addBundle(t, waiting, model.BundleCreateInput{Name: "b2"})

	failed, err := e.svc.RequestInstanceAuth(e.ctx, b1.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	pending, err := e.svc.RequestInstanceAuth(e.ctx, b2.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	list := func(cond model.BundleInstanceAuthStatusCondition) []string {
		t.Helper()
		p, err := e.svc.InstanceAuthsByCondition(e.ctx, cond, 50, "")
		mustOK(t, err)
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ApplicationID+"/"+it.BundleID+"/"+it.Auth.ID)
		}
		if p.Total != len(out) {
			t.Fatalf("%s: total %d for %d listed", cond, p.Total, len(out))
		}
		return out
	}
	if got := list("FAILED"); len(got) != 1 || got[0] != refusing+"/"+b1.ID+"/"+failed.ID {
		t.Fatalf("FAILED: %v", got)
	}
	if got := list("PENDING"); len(got) != 1 || got[0] != waiting+"/"+b2.ID+"/"+pending.ID {
		t.Fatalf("PENDING: %v", got)
	}
	_, err = e.svc.SetInstanceAuth(e.ctx, pending.ID, &model.BundleInstanceAuthSetInput{Auth: basicAuth("u", "p")})
	mustOK(t, err)
	if got := list("PENDING"); len(got) != 0 {
		t.Fatalf("PENDING after the answer: %v", got)
	}
	if got := list("SUCCEEDED"); len(got) != 1 {
		t.Fatalf("SUCCEEDED after the answer: %v", got)
	}

	if p, err := e.svc.InstanceAuthsByCondition(e.other, "FAILED", 50, ""); err != nil || len(p.Items) != 0 {
		t.Fatalf("another tenant sees %+v (%v)", p, err)
	}
	_, err = e.svc.InstanceAuthsByCondition(directortest.Runtime("t1", "rt-1"), "FAILED", 50, "")
	wantCode(t, err, apperr.CodeForbidden)
	_, err = e.svc.InstanceAuthsByCondition(e.ctx, "BROKEN", 50, "")
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = e.svc.InstanceAuthsByCondition(e.ctx, "FAILED", 50, "x")
	wantCode(t, err, apperr.CodeInvalidInput)
}
