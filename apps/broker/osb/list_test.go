package osb

import (
	"context"
	"net/http"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func TestInstancesAreListedPerTenantAndRuntime(t *testing.T) {
	b, _, rt1 := newBroker(t)
	rt2 := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "rt-2", ConsumerType: identity.ConsumerRuntime})
	other := identity.NewContext(context.Background(), identity.Identity{Tenant: "t2", Subject: "rt-9", ConsumerType: identity.ConsumerRuntime})
	for _, p := range []struct {
		ctx context.Context
		id  string
	}{{rt1, "i1"}, {rt1, "i2"}, {rt2, "i1"}, {other, "i1"}} {
		if _, err := b.Provision(p.ctx, p.id, ProvisionRequest{ServiceID: "app-1", PlanID: "b-sync"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Bind(rt1, "i2", "bd-1", BindRequest{ServiceID: "app-1", PlanID: "b-sync"}, false); err != nil {
		t.Fatal(err)
	}

	user := func(scopes ...string) context.Context {
		return identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "ops@example.com", ConsumerType: identity.ConsumerUser, Scopes: scopes})
	}
	viewer := user(identity.ScopeRuntimeRead)

	page, err := b.Instances(viewer, "", 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 3 || len(page.Data) != 2 || !page.HasNextPage {
		t.Fatalf("first page of the tenant: %+v", page)
	}
	rest, err := b.Instances(viewer, "", 2, page.EndCursor)
	if err != nil || len(rest.Data) != 1 || rest.HasNextPage || rest.Data[0].RuntimeID != "rt-2" {
		t.Fatalf("second page: %+v %v", rest, err)
	}

	mine, err := b.Instances(viewer, "rt-1", 50, "")
	if err != nil || mine.TotalCount != 2 {
		t.Fatalf("rt-1's instances: %+v %v", mine, err)
	}
	var bound *InstanceSummary
	for i := range mine.Data {
		if mine.Data[i].ID == "i2" {
			bound = &mine.Data[i]
		}
	}
	if bound == nil || len(bound.Bindings) != 1 || bound.Bindings[0].ID != "bd-1" || bound.ServiceID != "app-1" || bound.PlanID != "b-sync" {
		t.Fatalf("i2 as listed: %+v", bound)
	}

	// A runtime sees its own instances, whatever it asks for.
	rt2Scoped := identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "rt-2", ConsumerType: identity.ConsumerRuntime, Scopes: []string{identity.ScopeRuntimeRead}})
	own, err := b.Instances(rt2Scoped, "", 50, "")
	if err != nil || own.TotalCount != 1 || own.Data[0].RuntimeID != "rt-2" {
		t.Fatalf("rt-2 listing: %+v %v", own, err)
	}
	_, err = b.Instances(rt2Scoped, "rt-1", 50, "")
	wantStatus(t, "a runtime asking for another's", err, http.StatusForbidden)

	_, err = b.Instances(user(identity.ScopeApplicationRead), "", 50, "")
	wantStatus(t, "without runtime:read", err, http.StatusForbidden)
	_, err = b.Instances(viewer, "", 0, "")
	wantStatus(t, "first 0", err, http.StatusBadRequest)
	_, err = b.Instances(viewer, "", 50, "not-a-cursor")
	wantStatus(t, "a bad cursor", err, http.StatusBadRequest)
	_, err = b.Instances(viewer, "../x", 50, "")
	wantStatus(t, "a bad runtime id", err, http.StatusBadRequest)
}
