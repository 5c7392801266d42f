package application_test

import (
	"fmt"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/integrationsystem"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestIntegrationSystemMustExist(t *testing.T) {
	reg := directortest.Registry()
	apps := application.NewService(reg, label.NewDefinitions(reg))
	ctx := directortest.Tenant("t1")
	is, err := integrationsystem.NewService(reg).Register(ctx, model.IntegrationSystemInput{Name: "is"})
	if err != nil {
		t.Fatal(err)
	}
	missing := "00000000-0000-0000-0000-000000000000"
	app, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	tests := []struct {
		name string
		call func(id *string) (*model.Application, error)
	}{
		{"register", func(id *string) (*model.Application, error) {
			n++
			return apps.Register(ctx, model.ApplicationRegisterInput{Name: fmt.Sprintf("app-%d", n), IntegrationSystemID: id})
		}},
		{"update", func(id *string) (*model.Application, error) {
			return apps.Update(ctx, app.ID, model.ApplicationUpdateInput{IntegrationSystemID: id})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.call(&missing); apperr.CodeOf(err) != apperr.CodeNotFound {
				t.Fatalf("unknown integration system: want NOT_FOUND, got %v", err)
			}
			got, err := tt.call(&is.ID)
			if err != nil || got.IntegrationSystemID == nil || *got.IntegrationSystemID != is.ID {
				t.Fatalf("existing integration system: %+v, %v", got, err)
			}
		})
	}
}

// Names are free-form, as in Compass, and unique in a tenant on their normalized form (appname.Normalize).
func TestNamesFreeFormUniqueWhenNormalized(t *testing.T) {
	reg := directortest.Registry()
	apps := application.NewService(reg, label.NewDefinitions(reg))
	ctx := directortest.Tenant("t1")
	steps := []struct {
		name    string
		errCode apperr.Code
	}{
		{"app@wordpress", ""},
		{"App Wordpress", apperr.CodeAlreadyExists},    // mp-app-wordpress again
		{"mp-app-wordpress", apperr.CodeAlreadyExists}, // already normalized: the same
		{"app.wordpress!", apperr.CodeAlreadyExists},
		{"wordpress", ""},
		{"Wordpress", apperr.CodeAlreadyExists},
		{"Zählwerk 2000", ""},
		{"", apperr.CodeInvalidInput},
		{"123456789012345678901234567890123456", ""},
		{"1234567890123456789012345678901234567", apperr.CodeInvalidInput},
	}
	for _, st := range steps {
		app, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: st.name})
		if (err == nil) != (st.errCode == "") || (err != nil && apperr.CodeOf(err) != st.errCode) {
			t.Fatalf("register %q: err = %v, want code %q", st.name, err, st.errCode)
		}
		if err == nil && app.Name != st.name {
			t.Fatalf("register %q: stored as %q; the name is kept as given", st.name, app.Name)
		}
	}
	// Another tenant may use the same name.
	if _, err := apps.Register(directortest.Tenant("t2"), model.ApplicationRegisterInput{Name: "App Wordpress"}); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	// Once an application is gone, its normalized name is free again.
	page, err := apps.List(ctx, nil, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Unregister(ctx, page.Data[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: "APP@WORDPRESS"}); err != nil {
		t.Fatalf("after unregistering app@wordpress: %v", err)
	}
}

// An application is found by its name as names compare (normalized), in its own tenant only.
func TestByName(t *testing.T) {
	reg := directortest.Registry()
	apps := application.NewService(reg, label.NewDefinitions(reg))
	ctx := directortest.Tenant("t1")
	shop, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: "App Shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Register(ctx, model.ApplicationRegisterInput{Name: "crm"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"App Shop", "app@shop", " mp-app-shop "} {
		got, err := apps.ByName(ctx, name)
		if err != nil || got.ID != shop.ID {
			t.Errorf("ByName(%q) = %+v, %v; want %s", name, got, err, shop.ID)
		}
	}
	if _, err := apps.ByName(ctx, "shop"); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Errorf("a name no application has: %v", err)
	}
	if _, err := apps.ByName(directortest.Tenant("t2"), "App Shop"); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Errorf("another tenant finds t1's application: %v", err)
	}
	if _, err := apps.ByName(ctx, "  "); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Errorf("an empty name: %v", err)
	}
}
