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
